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
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

from bindings import BindingError, Bindings, Clock, SecretsStoreSpec, open_bindings
from bindings import Limits as BindingLimits
from emulator.audit import AUDIT_FILENAME, AuditLog, Redactor
from emulator.classes import class_warnings, container_proxy_error, parse_description
from emulator.config import WorkerConfig, resolve_config
from emulator.egress import Egress, RequestTag
from emulator.runtime.bridge import BUNDLE_FILENAME
from emulator.runtime.bundle import Bundle, build_handler, build_runtime
from emulator.runtime.env import BindingHost, binding_specs, build_env, durable_object_bindings, js_bindings
from emulator.runtime.env.durable_objects import SandboxNamespace, Shell
from emulator.runtime.pool import ConsoleEntry, EnginePool, Limits, ModuleLoadError
from emulator.runtime.sourcemap import StackMapper
from emulator.sandbox import Sandbox, SandboxRegistry, container_id
from emulator.state import StateStore
from emulator.upstream import Upstream, UpstreamOptions

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
        self.bindings: Bindings | None = None
        self._binding_host: BindingHost | None = None
        self.warnings: list[str] = []
        self.bundle: Bundle | None = None
        self._work_dir: Path | None = None
        self._pool: EnginePool | None = None
        self._state: StateStore | None = None
        self._egress: Egress | None = None
        self._registry: SandboxRegistry | None = None
        self._upstream: Upstream | None = None
        self._stacks: StackMapper | None = None
        self.redactor = Redactor(config.secrets.values())
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
        ``host[:port]`` to ``addr:port`` instead (like curl's --connect-to), and ``upstream_ca`` adds a CA that
        upstream TLS certificates may chain to: together they let tests stand in for the internet.
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
        runtime = await build_runtime(self._work_dir)
        bundle = await build_handler(config.main, config.root, self._work_dir)
        self.bundle = bundle
        stacks = StackMapper(bundle.sourcemap, BUNDLE_FILENAME, config.root)
        self._stacks = stacks
        specs = binding_specs(config)
        self.bindings = await open_bindings(specs, self.persist_to, clock=self.clock, limits=self._binding_limits)
        await self._learn_bound_secrets()
        self._binding_host = BindingHost(self.bindings, on_secret=self.redactor.add)
        pool = EnginePool(
            runtime_path=runtime,
            bundle_path=bundle.path,
            env=build_env(config, self._extra_vars),
            size=self._workers,
            limits=self._limits,
            on_console=self._console,
            on_event=lambda message: log.warning("%s", message),
            on_rpc=self._binding_host.handle,
            worker_options={
                "upstream": _upstream_init(self.upstream_options),
                "bindings": [*js_bindings(specs), *durable_object_bindings(config)],
            },
        )
        try:
            await pool.start()
        except ModuleLoadError as error:
            raise _module_load_error(config, error, stacks) from None
        self._pool = pool
        self._state = await StateStore.open(self.persist_to)
        self._upstream = Upstream(self.upstream_options)
        self._egress = Egress(pool, self._upstream, stacks, redact=self.redactor.redact)
        classes = {name: info["className"] for name, info in pool.report.get("classes", {}).items()}
        self._registry = SandboxRegistry(self._state, pool, classes, _default_class(config, classes))
        self.serve_sandboxes(None)
        for message in bundle.warnings:
            self._warn(f"esbuild: {message}")
        await self._check_classes(pool, classes)
        self._check_namespaces(classes)

    async def _learn_bound_secrets(self) -> None:
        """Redact the Secrets Store values bound now; values set later are learnt as handlers read them."""
        assert self.bindings is not None
        for name, spec in self.bindings.specs.items():
            if isinstance(spec, SecretsStoreSpec):
                # Not set (yet): get() throws in the handler too, so there is nothing to leak.
                with contextlib.suppress(BindingError):
                    self.redactor.add(await self.bindings[name].get())

    async def _check_classes(self, pool: EnginePool, classes: Mapping[str, str]) -> None:
        report = pool.report.get("classes", {})
        for export_name in classes:
            probe = container_id(export_name, "outbound-load-check")
            data = await pool.call(
                "describe", {"exportName": export_name, "sandbox": "outbound-load-check", "containerId": probe}
            )
            description = parse_description(export_name, data)
            for warning in class_warnings(description, list(report[export_name].get("staticFields", []))):
                self._warn(warning)
            if description.config.has_static_config and not description.has_container_proxy:
                self._warn(
                    f"{description.config.class_name}: {container_proxy_error()} "
                    "(production throws this when the container starts)"
                )

    def _check_namespaces(self, classes: Mapping[str, str]) -> None:
        for binding in durable_object_bindings(self.config):
            if binding["className"] not in classes:
                self._warn(
                    f"durable_objects binding {binding['name']!r}: {binding['className']} is not a Container or "
                    f"Sandbox class exported by {self.config.main.name}; outbound emulates Durable Objects only as "
                    f"sandboxes, so calls on env.{binding['name']} will throw"
                )

    def serve_sandboxes(self, shell: Shell | None) -> None:
        """Serve the Worker's sandbox stubs (``env.<durable_objects binding>``): the egress methods always, and
        exec, readFile, writeFile and gitCheckout through ``shell`` (a running server's; None: they throw)."""
        assert self._binding_host is not None
        for binding in durable_object_bindings(self.config):
            self._binding_host.serve(binding["name"], SandboxNamespace(binding["className"], self.registry, shell))

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        log.warning("%s", message)

    def _console(self, entry: ConsoleEntry) -> None:
        if self._stacks is not None:
            entry = replace(entry, message=self._stacks.rewrite(entry.message))  # console.error(err) stacks
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

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        if self._upstream is not None:
            await self._upstream.close()
            self._upstream = None
        if self._binding_host is not None:
            await self._binding_host.close()
            self._binding_host = None
        if self.bindings is not None:
            await self.bindings.close()
            self.bindings = None
        if self._state is not None:
            await self._state.close()
            self._state = None
        if self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None
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
        assert self._egress is not None
        return self._egress

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


def _module_load_error(config: WorkerConfig, error: ModuleLoadError, stacks: StackMapper) -> ModuleLoadError:
    where = stacks.innermost(error.error.get("stack", "")) if error.error else None
    detail = stacks.describe(error.error) if error.error else str(error)
    location = f" at {where}" if where else ""
    return ModuleLoadError(f"{config.main.name} threw while loading{location}:\n{detail}", error=error.error)
