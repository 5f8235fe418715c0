"""End-to-end fixtures: a real `outbound dev` process, real sandboxes (`outbound run`), a local internet.

The emulator runs as its own process, started as a user starts it; commands run as sandboxes through
`outbound run`, in their own network namespace (or with proxy variables, for the explicit-proxy tests). The
upstream servers (tests/support/upstream.py) listen on 127.0.0.1; the emulator reaches them through
`--connect-to`, which stands in for DNS. Nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulator.client import RemoteEmulator
from emulator.netns import NetworkManager
from tests.support.upstream import LocalInternet

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = ROOT / "fixtures" / "handlers" / "capture"
# Names the e2e handlers and commands use for the plain HTTP upstream.
HTTP_NAMES = ("upstream.test", "api.test", "denied.test", "virtual.test", "elsewhere.test")

pytestmark = pytest.mark.e2e


def namespaces_available() -> bool:
    return NetworkManager.check() is None


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


class DevServer:
    """`outbound dev` as a subprocess, and `outbound run` against it."""

    # The module `python -m` runs; tests/faults/limited_dev.py is `outbound dev` with small containment limits.
    module = "emulator"

    def __init__(self, project: Path, state: Path, internet: LocalInternet, capture: str) -> None:
        self.project = project
        self.state = state
        self.internet = internet
        self.capture = capture
        self.process: asyncio.subprocess.Process | None = None
        self.info: dict[str, object] = {}
        self.log = state / "dev.log"

    def _connect_to(self) -> list[str]:
        args: list[str] = []
        for name, target in self.internet.connect_to.items():
            args += ["--connect-to", f"{name}:{target}"]
        return args

    async def start(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as log:  # the child keeps its own copy of the descriptor
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                self.module,
                "dev",
                str(self.project),
                "--persist-to",
                str(self.state),
                "--capture",
                self.capture,
                "--cacert",
                str(self.internet.ca_file),
                *self._connect_to(),
                stdout=log,
                stderr=log,
                cwd=ROOT,
            )
        dev_file = self.state / "dev.json"
        for _ in range(300):
            if dev_file.exists():
                self.info = json.loads(dev_file.read_text())
                return
            if self.process.returncode is not None:
                break
            await asyncio.sleep(0.05)
        if self.process.returncode is None:  # gave up waiting: do not leave it running for the rest of the session
            self.process.kill()
            await self.process.wait()
        raise AssertionError(f"outbound dev did not start:\n{self.log.read_text()}")

    def remote(self) -> RemoteEmulator:
        return RemoteEmulator(str(self.info["control"]), str(self.info["token"]), dict(self.info))

    async def run(self, sandbox: str, *argv: str, cls: str | None = None, timeout: float = 30) -> Result:
        command = [sys.executable, "-m", "emulator", "run", "--persist-to", str(self.state), "--sandbox", sandbox]
        if cls:
            command += ["--class", cls]
        process = await asyncio.create_subprocess_exec(
            *command, "--", *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout)
        assert process.returncode is not None
        return Result(process.returncode, out.decode(errors="replace"), err.decode(errors="replace"))

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


def traversable_folder(name: str) -> Path:
    """A state folder sandboxes' uids can traverse (pytest's own temporary folders are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix=f"outbound-e2e-{name}-"))
    folder.chmod(0o755)
    return folder


async def start_dev(project: Path, state: Path, internet: LocalInternet, capture: str) -> DevServer:
    server = DevServer(project, state, internet, capture)
    await server.start()
    return server


@pytest.fixture(scope="module")
async def internet(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalInternet]:
    async with LocalInternet(tmp_path_factory.mktemp("internet")) as local:
        http = local.connect_to["upstream.test"]
        local.connect_to.update({name: http for name in HTTP_NAMES})
        yield local


def seen_header(seen: dict[str, object], name: str) -> str | None:
    headers = seen["headers"]
    assert isinstance(headers, list)
    return next((value for key, value in headers if key.lower() == name), None)
