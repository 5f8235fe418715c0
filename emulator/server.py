"""``outbound dev``: the loaded handlers (emulator.py) plus everything that makes real traffic reach them.

Composes, under one lifespan:

- the capture: per-sandbox network namespaces whose TCP goes to the proxy and whose DNS goes to the
  emulator's resolver (netns.py, dns.py), or, where namespaces cannot be used, an explicit proxy with
  per-sandbox credentials;
- mitmproxy (as a library) with the addons in ``addons/``, a per-sandbox CA for HTTPS (ca.py), and a loopback
  server for handler bodies that stream (addons/streaming.py);
- the control API (control.py) that the CLI and Python clients use, announced in ``<state>/dev.json``;
- the Worker's own entry on ``dev.ip:dev.port`` when asked (entry.py), and the shell its sandbox stubs use
  for exec, readFile, writeFile and gitCheckout (shell.py).

It decides nothing itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mitmproxy import options
from mitmproxy.addons import core, disable_h2c, next_layer, proxyserver
from mitmproxy.addons.tlsconfig import TlsConfig
from mitmproxy.master import Master

from emulator import statefolder
from emulator.addons.audit import Audit
from emulator.addons.deadlines import ConnectionLimits, Deadlines, raise_descriptor_limit
from emulator.addons.dial import Dial
from emulator.addons.identify import Credentials, Identify
from emulator.addons.outbound import Outbound
from emulator.addons.ports import Ports
from emulator.addons.state import Connections
from emulator.addons.streaming import StreamedAnswers
from emulator.addons.tls import Tls
from emulator.ca import CA_PATH, SandboxCA, trust_bundle, trust_environment
from emulator.client import DEV_FILE
from emulator.dns import DnsServer, FakeIPs, Resolver
from emulator.emulator import Emulator
from emulator.entry import WorkerAddress, WorkerEntry
from emulator.errors import SandboxError, UserError
from emulator.netns import DEFAULT_STATE_DIR, NetworkManager, SandboxNetwork, default_owner
from emulator.policy import Policy
from emulator.reach import Unreachable, local_addresses
from emulator.shell import SandboxShell
from emulator.upstream import parse_connect_to

log = logging.getLogger("outbound")

Capture = Literal["auto", "namespace", "explicit"]
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
EXPLICIT_WARNING = (
    "network namespaces are not available here ({why}); sandboxes use an explicit proxy (HTTP_PROXY) instead. "
    "Programs that ignore proxy variables can reach the network directly: this is not isolation."
)


@dataclass
class SandboxHost:
    """What the server keeps for one sandbox it serves."""

    sandbox_id: str
    ca: SandboxCA
    folder: Path  # <state>/sandboxes/<id>: ca.crt, bundle.crt, resolv.conf, nothing (empty), work/
    network: SandboxNetwork | None = None
    token: str = ""
    uid: int = 65534
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def workdir(self) -> Path:
        return self.folder / "work"


class Server:
    def __init__(
        self,
        emulator: Emulator,
        *,
        capture: Capture = "auto",
        explicit_port: int = 0,
        first_uid: int = 2_100_000,
        worker_address: WorkerAddress | None = None,
        connection_limits: ConnectionLimits = ConnectionLimits(),
    ) -> None:
        """``worker_address``: serve the Worker's default fetch there too, as ``wrangler dev`` does.
        ``connection_limits``: how long slow clients are waited for (addons/deadlines.py)."""
        self.emulator = emulator
        self.connection_limits = connection_limits
        self._capture_wanted = capture
        self._explicit_port = explicit_port
        # Each sandbox's commands run as their own unprivileged uid/gid (no passwd entry needed): sandboxes
        # sharing one uid could ptrace each other's processes and read their environment (act as each other).
        self._next_uid = first_uid
        self.capture: Literal["namespace", "explicit"] = "explicit"
        self.state_dir = emulator.persist_to or Path(emulator.config.root) / ".outbound"
        self.credentials = Credentials()
        self.fake_ips = FakeIPs()
        self.hosts: dict[str, SandboxHost] = {}
        self.networks: NetworkManager | None = None
        self.proxy_port = 0
        self.dns_port = 0
        self.explicit_port = 0
        self.control_url = ""
        self.control_token = ""
        self._dns: DnsServer | None = None
        self._master: Master | None = None
        self._master_task: asyncio.Task[None] | None = None
        self._streamed = StreamedAnswers()
        self._control: Any = None
        self._tls: Tls | None = None
        self._lock = asyncio.Lock()
        self._worker_address = worker_address
        self._entry: WorkerEntry | None = None
        self.worker_url = ""
        self.worker_has_fetch = False

    # -- lifespan ----------------------------------------------------------------------------------------
    async def __aenter__(self) -> Server:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        from emulator.control import ControlAPI  # noqa: PLC0415 - control imports this module's types

        self.state_dir.mkdir(parents=True, exist_ok=True)
        soft, _ = raise_descriptor_limit()
        log.debug("open files limit: %d", soft)
        self._choose_capture()
        self.proxy_port = _free_port(socket.SOCK_STREAM)
        if self.capture == "namespace":
            resolver = Resolver(
                policy_for=self._policy_for_ip,
                known=dict(self.emulator.upstream_options.connect_to),
                fake_ips=self.fake_ips,
            )
            self._dns = DnsServer(resolver)
            # Listening first: it picks the one port free for both UDP and TCP that nftables then sends DNS to.
            self.dns_port = await self._dns.start("0.0.0.0", 0)
            self.networks = NetworkManager(
                owner=default_owner(), proxy_port=self.proxy_port, dns_port=self.dns_port, state_dir=DEFAULT_STATE_DIR
            )
            await self.networks.start()
        await self._streamed.start()
        await self._start_proxy()
        self._control = ControlAPI(self)
        self.control_url, self.control_token = await self._control.start()
        self.emulator.serve_sandboxes(SandboxShell(self))
        if self._worker_address is not None:
            self._entry = WorkerEntry(self.emulator, self._worker_address)
            self.worker_url = await self._entry.start()
            self.worker_has_fetch = self._entry.has_fetch
        self._announce()
        statefolder.lock(self.state_dir)  # mitmproxy's CA, the upstream bundle: the emulator's, no sandbox's
        log.info(
            "proxy ready: %s capture, control API %s",
            "namespace" if self.capture == "namespace" else "explicit-proxy",
            self.control_url,
        )

    def _choose_capture(self) -> None:
        if self._capture_wanted == "explicit":
            self.capture = "explicit"
            return
        why = NetworkManager.check()
        if why is None:
            self.capture = "namespace"
            return
        if self._capture_wanted == "namespace":
            raise UserError(f"network namespaces cannot be used here: {why}")
        self.capture = "explicit"
        log.warning(EXPLICIT_WARNING.format(why=why))

    async def _start_proxy(self) -> None:
        emulator = self.emulator
        modes = [f"regular@127.0.0.1:{self._explicit_port or _free_port(socket.SOCK_STREAM)}"]
        if self.capture == "namespace":
            modes.append(f"transparent@0.0.0.0:{self.proxy_port}")
        self.explicit_port = int(modes[0].rsplit(":", 1)[1])
        confdir = self.state_dir / statefolder.MITMPROXY_FOLDER
        opts = options.Options(mode=modes, confdir=str(confdir))
        master = Master(opts)
        identify = Identify(self._sandbox_for_ip, self.credentials)
        connections = Connections(identify, emulator.registry)
        unreachable = Unreachable(
            await asyncio.to_thread(local_addresses),
            (self.networks.subnet,) if self.networks is not None else (),
        )
        dial = Dial(
            connections, parse_connect_to(emulator.upstream_options.connect_to), self.fake_ips.name, unreachable.refusal
        )
        audit = Audit(emulator.audit, self.fake_ips.name)
        self._tls = Tls(connections, self._ca_for, audit)
        outbound = Outbound(connections, dial, self._streamed)
        # After mitmproxy's next_layer, Tls's tls_clienthello and Outbound's requestheaders: it reads the layer,
        # the TLS choice and whether the body streams (then the emulator holds none of it).
        deadlines = Deadlines(self.connection_limits, emulator.audit, identify.sandbox)
        # Audit after Outbound (it reads the decision Outbound leaves on the flow) and before Dial (whose
        # client_disconnected forgets why a connection was refused).
        master.addons.add(
            identify, Ports(connections, audit), self._tls, *mitmproxy_addons(), outbound, deadlines, audit, dial
        )
        tlsconfig = master.addons.get("tlsconfig")
        assert isinstance(tlsconfig, TlsConfig)
        tlsconfig.get_cert = self._tls.get_cert  # type: ignore[method-assign]
        upstream_bundle = self.state_dir / statefolder.UPSTREAM_TRUST
        upstream_bundle.write_bytes(_upstream_trust(emulator.upstream_options.ca_file))
        # No stream_large_bodies: Outbound decides per flow which bodies stream (a denied or handled request's
        # never does).
        opts.update(connection_strategy="lazy", ssl_verify_upstream_trusted_ca=str(upstream_bundle))
        self._master = master
        self._master_task = asyncio.create_task(master.run(), name="outbound-proxy")
        await self._wait_listening(self.explicit_port)

    async def _wait_listening(self, port: int) -> None:
        for _ in range(200):
            if self._master_task is not None and self._master_task.done():
                self._master_task.result()
                raise UserError("the proxy stopped while starting")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.02)
                continue
            writer.close()
            return
        raise UserError(f"the proxy did not start listening on 127.0.0.1:{port}")

    def _announce(self) -> None:
        path = self.state_dir / DEV_FILE
        data = {
            "pid": os.getpid(),
            "control": self.control_url,
            "token": self.control_token,
            "capture": self.capture,
            "explicitProxy": f"http://127.0.0.1:{self.explicit_port}",
            "worker": self.worker_url or None,
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump(data, file)

    async def close(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.state_dir / DEV_FILE).unlink()
        if self._entry is not None:
            await self._entry.close()
            self._entry = None
        if self.emulator.bindings is not None:  # still open: stubs fall back to the egress methods alone
            self.emulator.serve_sandboxes(None)
        if self._control is not None:
            await self._control.close()
            self._control = None
        if self._master is not None:
            self._master.shutdown()
            if self._master_task is not None:
                with contextlib.suppress(Exception):
                    await self._master_task
            self._master = None
        await self._streamed.close()
        if self._dns is not None:
            await self._dns.close()
            self._dns = None
        if self.networks is not None:
            await self.networks.close()
            self.networks = None

    # -- sandboxes ---------------------------------------------------------------------------------------
    async def prepare(self, sandbox_id: str, cls: str | None = None) -> SandboxHost:
        """Make the sandbox servable: its policy loaded, its CA, its network or proxy credentials, its files."""
        async with self._lock:
            await self.emulator.registry.get(sandbox_id, cls)
            host = self.hosts.get(sandbox_id)
            if host is not None:
                return host
            folder = self.state_dir / statefolder.SANDBOXES / _safe(sandbox_id)
            (folder / "work").mkdir(parents=True, exist_ok=True)
            for parent in (folder.parent, folder):  # each sandbox must get through to its own folder only
                parent.chmod(statefolder.TRAVERSABLE)
            if self.capture == "namespace":
                _check_traversable(folder / "work")
            ca = SandboxCA.create(sandbox_id)
            host = SandboxHost(sandbox_id, ca, folder, token=self.credentials.issue(sandbox_id), uid=self._next_uid)
            self._next_uid += 1
            host.files["ca"] = _write(folder / "ca.crt", ca.cert_pem, 0o644)
            host.files["nothing"] = _write(folder / "nothing", b"", 0o444)  # mounted over what it must not read
            bundle = trust_bundle(ca.cert_pem)
            extra = self.emulator.upstream_options.ca_file
            if extra is not None:  # the CA that stands in for the public roots (tests, a corporate CA)
                bundle += b"\n" + extra.read_bytes()
            host.files["bundle"] = _write(folder / "bundle.crt", bundle, 0o644)
            if self.networks is not None:
                host.network = await self.networks.create(sandbox_id)
                host.files["resolv"] = _write(
                    folder / "resolv.conf", f"nameserver {host.network.host_ip}\n".encode(), 0o644
                )
            if host.network is not None:  # its commands run as host.uid; in explicit mode, as the user of outbound
                os.chown(folder / "work", host.uid, host.uid)
            (folder / "work").chmod(0o700)  # another sandbox (another uid) cannot read what this one writes
            self.hosts[sandbox_id] = host
            return host

    async def release(self, sandbox_id: str) -> bool:
        async with self._lock:
            host = self.hosts.pop(sandbox_id, None)
            self.credentials.revoke(sandbox_id)
            if self._tls is not None:
                self._tls.forget(sandbox_id)
            if host is not None and self.networks is not None:
                await self.networks.destroy(sandbox_id)
            if host is not None:
                shutil.rmtree(host.folder, ignore_errors=True)
            return await self.emulator.delete_sandbox(sandbox_id)

    def launch_info(self, host: SandboxHost) -> dict[str, Any]:
        """How `outbound run` and exec() start a command as this sandbox."""
        live = self.emulator.registry.loaded(host.sandbox_id)
        intercept_https = live is not None and live.policy.instance.intercept_https
        info = self._launch_info(host)
        if not intercept_https:
            info["env"].pop("SANDBOX_INTERCEPT_HTTPS", None)  # sandbox.ts sets it only with interceptHttps
        return info

    def _launch_info(self, host: SandboxHost) -> dict[str, Any]:
        if host.network is not None:
            environment = trust_environment(CA_PATH, SYSTEM_BUNDLE)
            mounts = [
                (str(host.files["resolv"]), "/etc/resolv.conf"),
                (str(host.files["bundle"]), SYSTEM_BUNDLE),
                (str(host.files["ca"]), CA_PATH),
            ]
            # The filesystem is not isolated, but the files secrets are read from (.dev.vars, .env) hold what
            # handlers inject and the sandbox must never see: each is covered by an empty file in its mounts.
            hidden = [path.resolve() for path in self.emulator.config.secrets_candidates if path.is_file()]
            mounts += [(str(host.files["nothing"]), str(path)) for path in hidden]
            return {
                "capture": "namespace",
                "netns": host.network.netns,
                "env": environment,
                "mounts": mounts,
                "cwd": str(host.workdir),
                "uid": host.uid,
                "gid": host.uid,
            }
        proxy = f"http://{host.sandbox_id}:{host.token}@127.0.0.1:{self.explicit_port}"
        environment = trust_environment(str(host.files["ca"]), str(host.files["bundle"]))
        environment.update({name: proxy for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")})
        environment.update({"NO_PROXY": "", "no_proxy": ""})
        return {
            "capture": "explicit",
            "env": environment,
            "cwd": str(host.workdir),
            "warning": EXPLICIT_WARNING.format(why="explicit proxy mode"),
        }

    def _sandbox_for_ip(self, ip: str) -> str | None:
        return self.networks.sandbox_for_ip(ip) if self.networks is not None else None

    def _policy_for_ip(self, ip: str) -> Policy | None:
        owner = self._sandbox_for_ip(ip)
        live = self.emulator.registry.loaded(owner) if owner else None
        return live.policy if live is not None else None

    def _ca_for(self, sandbox_id: str) -> tuple[SandboxCA, Path] | None:
        host = self.hosts.get(sandbox_id)
        return (host.ca, host.files["ca"]) if host is not None else None

    def host(self, sandbox_id: str) -> SandboxHost:
        host = self.hosts.get(sandbox_id)
        if host is None:
            raise SandboxError(f"sandbox {sandbox_id!r} is not running here; create it first")
        return host


def mitmproxy_addons() -> list[object]:
    """The part of mitmproxy's default addons the emulator needs.

    Every hook visits every addon, so each unused one costs on every request; and some would answer a
    sandbox themselves (onboarding serves mitm.it, playback and map-local replace responses) where only
    the decision procedure may.
    """
    return [core.Core(), disable_h2c.DisableH2C(), proxyserver.Proxyserver(), next_layer.NextLayer(), TlsConfig()]


def _check_traversable(folder: Path) -> None:
    """A sandbox runs as its own unprivileged uid: every folder above its working folder must let it through."""
    for parent in folder.resolve().parents:
        if not parent.stat().st_mode & 0o001:
            raise UserError(
                f"sandboxes cannot reach their working folder {folder}: {parent} is private (mode "
                f"{parent.stat().st_mode & 0o777:o}); use --persist-to a folder other users can traverse, "
                f"or `chmod o+x {parent}`"
            )


def _free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("0.0.0.0" if kind == socket.SOCK_DGRAM else "127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _safe(sandbox_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in sandbox_id) or "_"


def _write(path: Path, data: bytes, mode: int) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


def _upstream_trust(extra: Path | None) -> bytes:
    """What mitmproxy trusts upstream: the system's roots, plus the configured extra CA."""
    system = Path(SYSTEM_BUNDLE).read_bytes() if Path(SYSTEM_BUNDLE).is_file() else b""
    if not system:
        import certifi  # noqa: PLC0415

        system = Path(certifi.where()).read_bytes()
    return system + (b"\n" + extra.read_bytes() if extra is not None else b"")
