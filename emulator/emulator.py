"""The Python API: load a handler project and drive its sandboxes.

::

    async with Emulator.load("examples/credential-injection") as emu:
        sandbox = emu.sandbox("agent-1", cls="MySandbox")
        response = await sandbox.fetch("http://my-internal-vcs.dev/repo")
        await sandbox.set_outbound_handler("noHttp")

``Emulator`` composes; it decides nothing itself. Loading reads the Worker config (``config.py``), bundles the
entry (``runtime/bundle.py``), starts the JS workers (``runtime/pool.py``), opens the sandbox state
(``state.py``), and reports what production would silently mishandle (``classes.py``). Requests go through
``sandbox.py`` → ``decide.py`` → ``egress.py``. The Worker's sandbox stubs (``env.<durable_objects binding>``)
reach the same sandboxes (``runtime/env/durable_objects.py``): their egress methods need only the registry,
their exec and files the shell a running server provides (``serve_sandboxes``).

What one build of the project runs on is a ``Version`` (``version.py``). ``reload`` starts the next one beside
it and switches to it once it works (``reload.py`` says what a failed one reports); ``watch.py`` calls it when
a file the build read changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

from bindings import BindingError, Bindings, Clock, SecretsStoreSpec, open_bindings
from bindings import Limits as BindingLimits
from emulator import statefolder
from emulator.audit import AUDIT_FILENAME, AuditLog, Redactor
from emulator.classes import class_warnings, container_proxy_error, parse_description
from emulator.config import WorkerConfig, resolve_config
from emulator.egress import Egress, RequestTag
from emulator.errors import UserError
from emulator.reflection import Reflections
from emulator.reload import Reloaded, ReloadError, Stamps, build_failed, gone, restart_notes, stamps, threw
from emulator.runtime.bridge import BUNDLE_FILENAME
from emulator.runtime.bundle import BuildError, Bundle, build_handler, build_runtime
from emulator.runtime.env import BindingHost, binding_specs, build_env, durable_object_bindings, js_bindings
from emulator.runtime.env.durable_objects import SandboxNamespace, Shell
from emulator.runtime.pool import ConsoleEntry, EnginePool, HandlerError, Limits, ModuleLoadError
from emulator.runtime.sourcemap import StackMapper
from emulator.runtime.standby import Standby
from emulator.sandbox import Sandbox, SandboxRegistry, container_id
from emulator.state import StateStore
from emulator.upstream import Upstream, UpstreamOptions
from emulator.version import Version

log = logging.getLogger("outbound")
console_log = logging.getLogger("outbound.console")

STATE_FOLDER = ".outbound"
_CONSOLE_LEVELS = {
    "debug": logging.DEBUG,
    "log": logging.INFO,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}


class Emulator:
    """A loaded handler project. Create it with ``Emulator.load(...)`` and use it as an async context manager."""

    def __init__(
        self,
        config: WorkerConfig,
        *,
        persist_to: Path | None,
        workers: int,
        limits: Limits,
        upstream: UpstreamOptions,
        extra_vars: Mapping[str, Any] | None,
        on_console: Callable[[ConsoleEntry], None] | None,
        clock: Clock | None = None,
        binding_limits: BindingLimits = BindingLimits(),
    ) -> None:
        self.config = config
        self.persist_to = persist_to
        self._workers = workers
        self._limits = limits
        self.upstream_options = upstream
        self._extra_vars = extra_vars
        self._on_console = on_console
        self.clock = clock
        self._binding_limits = binding_limits
        self.warnings: list[str] = []  # about the version serving
        self._work_dir: Path | None = None
        self._runtime: Path | None = None
        self._version: Version | None = None
        self._retiring: dict[asyncio.Task[None], Version] = {}  # versions a reload replaced, finishing
        self._reloading = asyncio.Lock()
        self._standby: Standby | None = None
        self._shell: Shell | None = None
        self._state: StateStore | None = None
        self._registry: SandboxRegistry | None = None
        self._upstream: Upstream | None = None
        self.redactor = Redactor()
        _learn_secrets(self.redactor, config)
        self.reflections = Reflections(self.redactor)  # what a handler's response must not carry to a sandbox
        self.audit = AuditLog(persist_to / AUDIT_FILENAME if persist_to is not None else None, self.redactor)
        self._log_filter = self.redactor.logging_filter()

    @classmethod
    def load(
        cls,
        target: str | Path | None = None,
        *,
        cwd: Path | None = None,
        env: str | None = None,
        persist_to: str | Path | None = None,
        in_memory: bool = False,
        workers: int = 2,
        limits: Limits = Limits(),
        connect_to: Mapping[str, str] | None = None,
        upstream_ca: str | Path | None = None,
        vars: Mapping[str, Any] | None = None,
        on_console: Callable[[ConsoleEntry], None] | None = None,
        clock: Clock | None = None,
        binding_limits: BindingLimits = BindingLimits(),
    ) -> Emulator:
        """Prepare to load ``target``: a wrangler config, a project folder, or an entry file (None: the config
        in ``cwd``, as wrangler finds it).

        State (sandboxes and their runtime overrides) lives in ``<project>/.outbound`` unless ``persist_to``
        names another folder or ``in_memory`` keeps it in memory. ``connect_to`` sends connections for
        ``host[:port]`` (``*``: every other host) to ``addr:port`` instead (like curl's --connect-to), and
        ``upstream_ca`` adds a CA that upstream TLS certificates may chain to: together they let tests stand in
        for the internet.
        KV, R2 and Secrets Store state lives beside the sandboxes (``kv/``, ``r2/``, ``secrets-store/``);
        ``clock`` (a ``bindings.FakeClock``) moves their time and ``binding_limits`` scales their limits.
        """
        config = resolve_config(target, cwd=cwd or Path.cwd(), env=env)
        folder = None if in_memory else Path(persist_to) if persist_to is not None else config.root / STATE_FOLDER
        upstream = UpstreamOptions(
            connect_to=dict(connect_to or {}), ca_file=Path(upstream_ca) if upstream_ca is not None else None
        )
        return cls(
            config,
            persist_to=folder,
            workers=workers,
            limits=limits,
            upstream=upstream,
            extra_vars=vars,
            on_console=on_console,
            clock=clock,
            binding_limits=binding_limits,
        )

    async def __aenter__(self) -> Emulator:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def start(self) -> None:
        config = self.config
        for logger in (log, console_log):  # handler failures and console output quote what handlers hold
            logger.addFilter(self._log_filter)
        self._work_dir = Path(tempfile.mkdtemp(prefix="outbound-"))
        self._runtime = await build_runtime(self._work_dir)
        self._upstream = Upstream(self.upstream_options)
        bundle = await build_handler(config.main, config.root, self._version_folder(1))
        try:
            version = await self._start_version(config, 1, bundle, None)
        except ModuleLoadError as error:
            raise _module_load_error(config, error, _stacks(bundle, config)) from None
        self._version = version
        self._state = await StateStore.open(self.persist_to)
        if self.persist_to is not None:
            statefolder.lock(self.persist_to)  # the stores hold secrets; sandboxes run as other users
        classes = version.classes
        self._registry = SandboxRegistry(self._state, version.egress, classes, _default_class(config, classes))
        self._serve_namespaces(version)
        for warning in version.warnings:
            self._warn(warning)

    async def _start_version(
        self, config: WorkerConfig, number: int, bundle: Bundle, previous: Version | None
    ) -> Version:
        """Start ``bundle`` with ``config``'s env and bindings; nothing of it is left behind if it fails.

        Raises ModuleLoadError (the module threw while loading) or HandlerError (a class's constructor threw).
        """
        assert self._runtime is not None and self._upstream is not None
        stacks = _stacks(bundle, config)
        specs = binding_specs(config)
        if previous is not None and specs == list(previous.bindings.specs.values()):
            bindings = previous.bindings
        else:
            reuse = previous.bindings if previous is not None else None
            bindings = await open_bindings(
                specs, self.persist_to, clock=self.clock, limits=self._binding_limits, reuse=reuse
            )
            if self.persist_to is not None and previous is not None:  # a reload may have added a store folder
                statefolder.lock(self.persist_to)
        await self._learn_bound_secrets(bindings)
        host = BindingHost(bindings, on_secret=lambda name, value: self.redactor.add(value, name=f"env.{name}"))
        pool = EnginePool(
            runtime_path=self._runtime,
            bundle_path=bundle.path,
            env=build_env(config, self._extra_vars),
            size=self._workers,
            limits=self._limits,
            on_console=lambda entry: self._console(entry, stacks),  # each version maps its own stacks
            on_event=lambda message: log.warning("%s", message),
            on_rpc=host.handle,
            worker_options={
                "upstream": _upstream_init(self.upstream_options),
                "bindings": [*js_bindings(specs), *durable_object_bindings(config)],
            },
            standby=self._standby,
        )
        egress = Egress(pool, self._upstream, stacks, redact=self.redactor.redact, reflections=self.reflections)
        version = Version(number, config, bundle, stacks, bindings, host, pool, egress, bundle.path.parent)
        try:
            if self._registry is not None:  # v1's namespaces are served once its registry exists
                self._serve_namespaces(version)
            await pool.start()
            version.warnings = [
                *(f"esbuild: {message}" for message in bundle.warnings),
                *await _class_warnings(pool, version.classes),
                *_namespace_warnings(config, version.classes),
            ]
        except BaseException:
            await version.close([previous] if previous is not None else [])
            raise
        return version

    async def _learn_bound_secrets(self, bindings: Bindings) -> None:
        """Redact the Secrets Store values bound now; values set later are learnt as handlers read them."""
        for name, spec in bindings.specs.items():
            if isinstance(spec, SecretsStoreSpec):
                # Not set (yet): get() throws in the handler too, so there is nothing to leak.
                with contextlib.suppress(BindingError):
                    self.redactor.add(await bindings[name].get(), name=f"env.{name}")

    # -- reloading -------------------------------------------------------------------------------------
    async def reload(self) -> Reloaded:
        """Load the project's files again beside the version serving, and switch to the new one if it works.

        The new version is started completely first (config, bundle, bindings, JS workers, class checks); then
        new requests go to it while the previous one finishes what it has in flight, streaming bodies
        included, and stops. Sandboxes keep their runtime overrides. If the new version cannot start, raises
        ``ReloadError`` naming the file, line and column, and the previous one keeps serving. If a file it was
        built from changes again before it could serve, it is discarded and ``Reloaded.superseded`` says to
        reload again.
        """
        async with self._reloading:
            started = time.perf_counter()
            current = self._current()
            self.prepare_reloads()
            number = current.number + 1
            missing = gone(current.config, current.number)
            if missing is not None:  # say so, rather than "pass a wrangler config file" (what the CLI says)
                raise missing
            before = stamps(self.watched_files())  # the files as the build is about to read them

            def overtaken() -> Reloaded:  # a file it read changed again: discarded, reload again
                return Reloaded(current.number, _ms(started), tuple(self.warnings), superseded=True)

            try:
                where = current.config.path or current.config.main
                config = resolve_config(where, cwd=current.config.root, env=current.config.env)
                bundle = await build_handler(config.main, config.root, self._version_folder(number))
            except BuildError as error:
                if stamps(before) != before:  # it may have read a save half-written: no error for that
                    return overtaken()
                raise build_failed(error, current.number) from None
            except UserError as error:  # ConfigError (it names the file and key), ToolchainError
                if stamps(before) != before:
                    return overtaken()
                raise ReloadError(str(error), location=None, serving=current.number) from None
            if config == current.config and bundle.path.read_bytes() == current.bundle.path.read_bytes():
                shutil.rmtree(bundle.path.parent, ignore_errors=True)  # a save that changed nothing
                return Reloaded(current.number, _ms(started), tuple(self.warnings), unchanged=True)
            read = stamps({*bundle.inputs, *config.watch_paths()})
            read.update((path, stamp) for path, stamp in before.items() if path in read)
            if stamps(read) != read:  # changed while it built: start nothing that cannot serve
                shutil.rmtree(bundle.path.parent, ignore_errors=True)
                return overtaken()
            try:
                version = await self._switch_to(config, number, bundle, current, read)
            except ReloadError:
                if stamps(read) != read:  # the module threw on a save half-written, or the next one fixes it
                    return overtaken()
                raise
            if version is None:
                return overtaken()
            _learn_secrets(self.redactor, config)
            self.warnings = []
            for warning in version.warnings:
                self._warn(warning)
            notes = restart_notes(current.config, config)
            return Reloaded(version.number, _ms(started), tuple(version.warnings), notes)

    async def _switch_to(
        self, config: WorkerConfig, number: int, bundle: Bundle, current: Version, read: Stamps
    ) -> Version | None:
        """Start the new version and serve it; None if a file it was built from (``read``: as the build read
        them) changed while it started: a save still being written, or the next save of a storm. The next
        reload builds what is there then, so a build that read a file half-written does not serve once the rest
        of the file has landed."""
        entry = _display(config.main, config.root)
        stacks = _stacks(bundle, config)
        try:
            version = await self._start_version(config, number, bundle, current)
            if stamps(read) != read:
                await version.close(self._alive())  # stores it shares with a running version stay open
                return None
            classes = version.classes

            def commit() -> None:  # the instant of the switch: nothing awaits between the registry's and ours
                self._version = version
                self.config = config

            try:
                holders = await self.registry.switch(version.egress, classes, _default_class(config, classes), commit)
            except BaseException:
                if self._version is version:  # switched, then interrupted: the previous version still retires
                    self._retire(current, weakref.WeakSet())
                else:  # it never served: nothing of it may be left running
                    await version.close([current])
                raise
        except ModuleLoadError as error:
            if not error.error:  # the workers did not start at all
                raise ReloadError(str(error), location=None, serving=current.number) from None
            raise threw("while the module loaded", error.error, stacks, entry, current.number) from None
        except HandlerError as error:  # a Container class's constructor threw
            raise threw("in a Container class's constructor", error.error, stacks, entry, current.number) from None
        except UserError as error:
            raise ReloadError(str(error), location=None, serving=current.number) from None
        self._retire(current, holders)
        return version

    def _retire(self, version: Version, holders: weakref.WeakSet[Any]) -> None:
        version.egress.replaced_by = self.current_egress
        task = asyncio.create_task(version.retire(holders, self._alive), name=f"outbound-retire-{version.name}")
        self._retiring[task] = version
        task.add_done_callback(self._retired)

    def _version_folder(self, number: int) -> Path:
        assert self._work_dir is not None
        return self._work_dir / f"v{number}"

    def _alive(self) -> list[Version]:
        """Every version still running: the one serving and those a reload replaced that are finishing."""
        return [*([self._version] if self._version is not None else []), *self._retiring.values()]

    def _retired(self, task: asyncio.Task[None]) -> None:
        version = self._retiring.pop(task, None)
        if version is not None and not task.cancelled() and task.exception() is not None:
            log.error("%s did not stop cleanly: %s", version.name, task.exception())

    def prepare_reloads(self) -> None:
        """Keep spare JS workers ready (``runtime/standby.py``) so that a reload takes milliseconds, not the
        third of a second a worker takes to boot. ``reload`` starts them too; call this to make the first fast."""
        if self._standby is None and self._runtime is not None:
            options = {"runtime": str(self._runtime), "upstream": _upstream_init(self.upstream_options)}
            self._standby = Standby(options, self._workers)
        if self._standby is not None:
            self._standby.fill()

    @property
    def version(self) -> int:
        """The number of the version serving: 1 when started, one more after each reload that worked."""
        return self._current().number

    def watched_files(self) -> set[Path]:
        """The files the serving version was built from (esbuild's inputs), its config and secrets files."""
        current = self._current()
        return {*current.bundle.inputs, *current.config.watch_paths()}

    def _current(self) -> Version:
        if self._version is None:
            raise RuntimeError("the emulator is not started: use `async with Emulator.load(...) as emu:`")
        return self._version

    @property
    def bundle(self) -> Bundle | None:
        return self._version.bundle if self._version is not None else None

    @property
    def bindings(self) -> Bindings | None:
        return self._version.bindings if self._version is not None else None

    def serve_sandboxes(self, shell: Shell | None) -> None:
        """Serve the Worker's sandbox stubs (``env.<durable_objects binding>``): the egress methods always, and
        exec, readFile, writeFile and gitCheckout through ``shell`` (a running server's; None: they throw)."""
        self._shell = shell
        self._serve_namespaces(self._current())

    def _serve_namespaces(self, version: Version) -> None:
        for binding in durable_object_bindings(version.config):
            namespace = SandboxNamespace(binding["className"], self.registry, self._shell)
            version.binding_host.serve(binding["name"], namespace)

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        log.warning("%s", message)

    def _console(self, entry: ConsoleEntry, stacks: StackMapper) -> None:
        entry = replace(entry, message=stacks.rewrite(entry.message))  # console.error(err) stacks
        tag = entry.tag
        if isinstance(tag, RequestTag):
            tag.console.append(entry)
            console_log.log(
                _CONSOLE_LEVELS.get(entry.level, logging.INFO), "[%s %s] %s", tag.sandbox_id, tag.handler, entry.message
            )
        else:
            console_log.log(_CONSOLE_LEVELS.get(entry.level, logging.INFO), "%s", entry.message)
        if self._on_console is not None:
            self._on_console(entry)

    async def reset(self) -> None:
        """Start over without restarting the JS workers: every sandbox forgotten, KV, R2 and Secrets Store
        empty, the audit log cleared. Module-level state of the handler file stays, as it stays between
        requests in a production isolate. For in-memory emulators (the pytest plugin's fresh state per test:
        starting the workers takes ~0.5 s, a reset a few ms)."""
        if self.persist_to is not None:
            raise UserError(
                f"reset() empties an in-memory emulator only; this one keeps its state in {self.persist_to} "
                "(load it with in_memory=True, or delete that folder)"
            )
        async with self._reloading:
            for sandbox_id in await self.registry.list():
                await self.registry.delete(sandbox_id)
            version = self._current()
            stale = version.bindings
            # Fresh stores rather than emptied ones: entries a test's clock made expire would reappear if the
            # clock went back, and an empty in-memory store is exactly what a new load opens.
            version.bindings = await open_bindings(
                binding_specs(version.config), None, clock=self.clock, limits=self._binding_limits
            )
            version.binding_host.bindings = version.bindings
            if all(other.bindings is not stale for other in self._alive()):  # a retiring version may share them
                await stale.close()
            self.audit.clear()

    async def close(self) -> None:
        async with self._reloading:
            versions = self._alive()
            retiring = list(self._retiring)
            for task in retiring:
                task.cancel()
            await asyncio.gather(*retiring, return_exceptions=True)
            self._retiring.clear()
            self._version = None
            while versions:  # each closes the binding stores no version left open still uses
                version = versions.pop()
                await version.close(versions)
        if self._standby is not None:
            await self._standby.close()
            self._standby = None
        if self._upstream is not None:
            await self._upstream.close()
            self._upstream = None
        if self._state is not None:
            await self._state.close()
            self._state = None
        if self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = self._runtime = None
        self.audit.close()
        for logger in (log, console_log):
            logger.removeFilter(self._log_filter)

    # -- sandboxes -------------------------------------------------------------------------------------
    @property
    def registry(self) -> SandboxRegistry:
        if self._registry is None:
            raise RuntimeError("the emulator is not started: use `async with Emulator.load(...) as emu:`")
        return self._registry

    def current_egress(self) -> Egress:
        return self._current().egress

    def sandbox(self, sandbox_id: str, cls: str | None = None) -> Sandbox:
        """The sandbox named ``sandbox_id``; created (of class ``cls``, the export name) on first use."""
        return Sandbox(sandbox_id, self.registry, self.current_egress, cls, audit=self.audit)

    async def sandboxes(self) -> list[str]:
        return await self.registry.list()

    async def delete_sandbox(self, sandbox_id: str) -> bool:
        return await self.registry.delete(sandbox_id)

    @property
    def container_classes(self) -> dict[str, str]:
        return dict(self.registry.container_classes)


def _upstream_init(options: UpstreamOptions) -> dict[str, Any]:
    # The worker's INIT option `upstream`, as UpstreamOptions.from_init reads it.
    return {"connect_to": dict(options.connect_to), "ca_file": str(options.ca_file) if options.ca_file else None}


def _default_class(config: WorkerConfig, classes: Mapping[str, str]) -> str | None:
    configured = [name for name in config.durable_object_classes() if name in classes]
    if len(configured) == 1:
        return configured[0]
    if len(classes) == 1:
        return next(iter(classes))
    return None


async def _class_warnings(pool: EnginePool, classes: Mapping[str, str]) -> list[str]:
    """What production would silently mishandle in each Container class (classes.py). A constructor that
    throws raises HandlerError."""
    warnings: list[str] = []
    report = pool.report.get("classes", {})
    for export_name in classes:
        probe = container_id(export_name, "outbound-load-check")
        data = await pool.call(
            "describe", {"exportName": export_name, "sandbox": "outbound-load-check", "containerId": probe}
        )
        description = parse_description(export_name, data)
        warnings += class_warnings(description, list(report[export_name].get("staticFields", [])))
        if description.config.has_static_config and not description.has_container_proxy:
            warnings.append(
                f"{description.config.class_name}: {container_proxy_error()} "
                "(production throws this when the container starts)"
            )
    return warnings


def _namespace_warnings(config: WorkerConfig, classes: Mapping[str, str]) -> list[str]:
    return [
        f"durable_objects binding {binding['name']!r}: {binding['className']} is not a Container or "
        f"Sandbox class exported by {config.main.name}; outbound emulates Durable Objects only as "
        f"sandboxes, so calls on env.{binding['name']} will throw"
        for binding in durable_object_bindings(config)
        if binding["className"] not in classes
    ]


def _stacks(bundle: Bundle, config: WorkerConfig) -> StackMapper:
    return StackMapper(bundle.sourcemap, BUNDLE_FILENAME, config.root)


def _display(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _module_load_error(config: WorkerConfig, error: ModuleLoadError, stacks: StackMapper) -> ModuleLoadError:
    where = stacks.innermost(error.error.get("stack", "")) if error.error else None
    detail = stacks.describe(error.error) if error.error else str(error)
    location = f" at {where}" if where else ""
    return ModuleLoadError(f"{config.main.name} threw while loading{location}:\n{detail}", error=error.error)


def _learn_secrets(redactor: Redactor, config: WorkerConfig) -> None:
    """The secrets of ``.dev.vars`` / ``.env``, by the name a handler reads them by."""
    for name, value in config.secrets.items():
        redactor.add(value, name=f"env.{name}")
