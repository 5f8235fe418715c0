"""The Worker's own entry under a real `outbound dev` (issue 4 part 6): `curl http://127.0.0.1:<port>/` runs the
config's default fetch, whose sandbox stubs run real commands in the sandbox's captured network.

Two dev servers: examples/lockdown unchanged (the seed's allowHosts → exec → noHttp flow), and
fixtures/handlers/worker-entry, whose `POST /call` runs one stub call and answers its result or error whole.
github.com is a local HTTPS server (a leaf from the test CA) that answers every path and serves a git
repository over git's "dumb" HTTP protocol.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from emulator.netns import default_owner
from tests.e2e.conftest import ROOT, namespaces_available, traversable_folder
from tests.support.upstream import LocalInternet, RunningServer, start_server, unused_port

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not namespaces_available(), reason="needs root, network namespaces and nftables"),
]

LOCKDOWN = ROOT / "examples" / "lockdown"
WORKBENCH = ROOT / "fixtures" / "handlers" / "worker-entry"
GITHUB_PAGE = "hello from the stand-in github.com\n"
CURL = "curl -s -m 10 -o /dev/null -w '%{http_code}'"


@dataclass
class Dev:
    """One `outbound dev` process serving its Worker on ``url``."""

    process: asyncio.subprocess.Process
    state: Path
    url: str
    log: Path

    async def call(self, **call: Any) -> Any:
        return (await self.calls([call]))[0]

    async def calls(self, calls: list[dict[str, Any]]) -> list[Any]:
        async with aiohttp.ClientSession() as session, session.post(f"{self.url}/calls", json=calls) as response:
            assert response.status == 200, await response.text()
            result: list[Any] = await response.json()
            return result

    async def stop(self) -> None:
        """Ctrl-C, then check that the sandboxes' namespaces and nftables table went with the process."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        assert self.process.returncode == 0, self.log.read_text()
        owner = default_owner(self.process.pid)
        netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
        tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True).stdout
        assert not [line for line in netns.splitlines() if line.startswith(f"obd-{owner}-")], netns
        assert f"outbound_{owner}" not in tables.split(), tables
        shutil.rmtree(self.state)


async def start_dev(
    project: Path, name: str, connect_to: dict[str, str], ca_file: Path, capture: str = "namespace"
) -> Dev:
    state = traversable_folder(name)
    port = unused_port()
    log = state / "dev.log"
    routes = [arg for host, target in connect_to.items() for arg in ("--connect-to", f"{host}:{target}")]
    with open(log, "wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "emulator", "dev", str(project), "--persist-to", str(state),
            "--capture", capture, "--port", str(port), "--cacert", str(ca_file), *routes,
            stdout=output, stderr=output, cwd=ROOT,
        )  # fmt: skip
    dev = Dev(process, state, f"http://127.0.0.1:{port}", log)
    for _ in range(400):
        if (state / "dev.json").exists():
            assert json.loads((state / "dev.json").read_text())["worker"] == dev.url
            return dev
        if process.returncode is not None:
            break
        await asyncio.sleep(0.05)
    if process.returncode is None:
        process.kill()
        await process.wait()
    raise AssertionError(f"outbound dev did not start:\n{log.read_text()}")


def git_repository(folder: Path) -> Path:
    """A bare repository (branch main, one README) that a static HTTP server can serve to `git clone`."""
    work = folder / "work"
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.test"]
    subprocess.run([*git, "init", "-q", "-b", "main", str(work)], check=True)
    (work / "README.md").write_text("tools\n")
    subprocess.run([*git, "-C", str(work), "add", "README.md"], check=True)
    subprocess.run([*git, "-C", str(work), "commit", "-q", "-m", "first"], check=True)
    bare = folder / "acme" / "tools.git"
    subprocess.run([*git, "clone", "-q", "--bare", str(work), str(bare)], check=True)
    subprocess.run([*git, "-C", str(bare), "update-server-info"], check=True)
    return folder


@pytest.fixture(scope="module")
async def github(internet: LocalInternet, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningServer]:
    served = git_repository(tmp_path_factory.mktemp("github"))

    async def page(request: web.Request) -> web.StreamResponse:
        path = (served / request.path.lstrip("/")).resolve()
        if path.is_file() and path.is_relative_to(served):
            return web.FileResponse(path)
        return web.Response(text=GITHUB_PAGE)

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    server = await start_server(app, internet.ca.issue_leaf("github.com").server_context())
    try:
        yield server
    finally:
        await server.close()


def routes(internet: LocalInternet, github: RunningServer) -> dict[str, str]:
    return {**internet.connect_to, "github.com:443": f"127.0.0.1:{github.port}"}


@pytest.fixture(scope="module")
async def lockdown(internet: LocalInternet, github: RunningServer) -> AsyncIterator[Dev]:
    dev = await start_dev(LOCKDOWN, "lockdown", routes(internet, github), internet.ca_file)
    try:
        yield dev
    finally:
        await dev.stop()


@pytest.fixture(scope="module")
async def workbench(internet: LocalInternet, github: RunningServer) -> AsyncIterator[Dev]:
    dev = await start_dev(WORKBENCH, "workbench", routes(internet, github), internet.ca_file)
    try:
        yield dev
    finally:
        await dev.stop()


@pytest.fixture(scope="module")
async def explicit(internet: LocalInternet, github: RunningServer) -> AsyncIterator[Dev]:
    dev = await start_dev(WORKBENCH, "explicit", routes(internet, github), internet.ca_file, capture="explicit")
    try:
        yield dev
    finally:
        await dev.stop()


async def test_the_seed_flow_runs_unchanged(lockdown: Dev) -> None:
    curl = await asyncio.create_subprocess_exec(
        "curl", "-sS", "-m", "60", f"{lockdown.url}/", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await curl.communicate()
    assert curl.returncode == 0, err
    assert out.decode() == "ready: github.com answered 200 during setup, 403 after lockdown\n"
    # The Worker's sandbox is the one `outbound run` reaches: it stays locked down.
    run = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "emulator", "run", "--persist-to", str(lockdown.state), "--sandbox", "user-1", "--",
        "sh", "-c", f"{CURL} https://github.com/", stdout=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    locked, _ = await run.communicate()
    assert locked.decode() == "403"


async def test_exec_runs_the_command_as_the_sandbox(workbench: Dev) -> None:
    result = await workbench.call(id="exec-1", method="exec", args=["echo out; echo err >&2; id -u; pwd; exit 3"])
    value = result["ok"]
    assert set(value) == {"success", "exitCode", "stdout", "stderr", "command", "duration", "timestamp"}
    out, uid, cwd = value["stdout"].splitlines()
    assert (value["success"], value["exitCode"], out, value["stderr"]) == (False, 3, "out", "err\n")
    assert value["command"] == "echo out; echo err >&2; id -u; pwd; exit 3"
    assert int(uid) != 0
    assert cwd == str(workbench.state / "sandboxes" / "exec-1" / "work")
    assert isinstance(value["duration"], int)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", value["timestamp"])


async def test_exec_goes_through_the_sandboxs_egress_policy(workbench: Dev) -> None:
    fetch = {"id": "egress-1", "method": "exec"}
    results = await workbench.calls(
        [
            {"id": "egress-1", "method": "setOutboundHandler", "args": ["nope"]},
            {
                "id": "egress-1",
                "method": "setOutboundHandler",
                "args": ["allowHosts", {"allowedHostnames": ["upstream.test", "github.com"]}],
            },
            {**fetch, "args": ["curl -s -m 10 http://upstream.test/echo"]},
            {**fetch, "args": [f"{CURL} http://api.test/echo"]},
            {**fetch, "args": ["curl -s -m 10 https://github.com/"]},
            {"id": "egress-1", "method": "setOutboundHandler", "args": ["noHttp"]},
            {**fetch, "args": [f"{CURL} http://upstream.test/echo"]},
        ]
    )
    assert results[0] == {
        "error": {
            "name": "Error",
            "message": "Outbound handler method 'nope' not found in outboundHandlers for Workbench",
        }
    }
    assert results[1] == {"ok": None}
    assert json.loads(results[2]["ok"]["stdout"])["path"] == "/echo"
    assert results[3]["ok"]["stdout"] == "403"
    assert results[4]["ok"]["stdout"] == GITHUB_PAGE
    assert results[6]["ok"]["stdout"] == "403"


async def test_files_live_in_the_working_folder(workbench: Dev) -> None:
    folder = workbench.state / "sandboxes" / "files-1" / "work"
    box = {"id": "files-1"}
    results = await workbench.calls(
        [
            {**box, "method": "writeFile", "args": ["/workspace/notes/a.txt", "héllo"]},
            {**box, "method": "exec", "args": ["cat notes/a.txt; ln -s /etc/hostname link"]},
            {**box, "method": "readFile", "args": ["notes/a.txt"]},
            {
                **box,
                "method": "writeFile",
                "args": ["bin.dat", base64.b64encode(b"\x00\xff").decode(), {"encoding": "base64"}],
            },
            {**box, "method": "readFile", "args": ["/workspace/bin.dat"]},
            {**box, "method": "readFile", "args": ["/etc/hostname"]},
            {**box, "method": "readFile", "args": ["link"]},
            {**box, "method": "readFile", "args": ["missing.txt"]},
        ]
    )
    written = results[0]["ok"]
    assert (written["success"], written["path"]) == (True, "/workspace/notes/a.txt")
    assert results[1]["ok"]["stdout"] == "héllo"
    text = results[2]["ok"]
    assert (text["content"], text["encoding"], text["isBinary"], text["mimeType"], text["size"]) == (
        "héllo", "utf-8", False, "text/plain", 6,
    )  # fmt: skip
    binary = results[4]["ok"]
    assert (binary["content"], binary["encoding"], binary["isBinary"]) == ("AP8=", "base64", True)
    assert (folder / "bin.dat").read_bytes() == b"\x00\xff"
    assert (folder / "notes" / "a.txt").stat().st_uid == (folder).stat().st_uid != 0  # the sandbox's own files
    assert results[5] == {
        "error": {
            "name": "Error",
            "message": f"/etc/hostname: outbound isolates network egress, not the filesystem, so readFile and "
            f"writeFile act only in the sandbox's working folder {folder} (its /workspace); use a path under "
            "/workspace or a relative one",
        }
    }
    assert results[6]["error"]["message"].startswith("link: a symbolic link")
    assert results[7] == {"error": {"name": "Error", "message": "File not found: missing.txt"}}


async def test_git_checkout_clones_through_the_policy(workbench: Dev) -> None:
    box = {"id": "git-1"}
    repo = "https://github.com/acme/tools.git"
    results = await workbench.calls(
        [
            {**box, "method": "setOutboundHandler", "args": ["allowHosts", {"allowedHostnames": ["github.com"]}]},
            {**box, "method": "gitCheckout", "args": [repo]},
            {**box, "method": "readFile", "args": ["/workspace/tools/README.md"]},
            {**box, "method": "setOutboundHandler", "args": ["noHttp"]},
            {**box, "method": "gitCheckout", "args": [repo, {"targetDir": "/workspace/again"}]},
        ]
    )
    cloned = results[1]["ok"]
    assert {key: cloned[key] for key in ("success", "repoUrl", "branch", "targetDir")} == {
        "success": True,
        "repoUrl": repo,
        "branch": "main",
        "targetDir": "/workspace/tools",
    }
    assert results[2]["ok"]["content"] == "tools\n"
    failed = results[4]["error"]
    assert failed["message"].startswith(f"Failed to clone {repo} (git exited with 128): ")
    assert "403" in failed["message"]
    assert not (workbench.state / "sandboxes" / "git-1" / "work" / "again").exists()


async def test_the_entry_streams_and_reports_errors(workbench: Dev) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{workbench.url}/stream") as response:
            parts = [chunk async for chunk in response.content.iter_any()]
        async with session.get(f"{workbench.url}/throw") as failed:
            failure = await failed.text()
    assert b"".join(parts) == b"part 0\npart 1\npart 2\n"
    assert failed.status == 500
    assert failure.startswith("Error: the Worker broke\n    at fetch (src/index.ts:")
    assert "error: the Worker's fetch (src/index.ts) failed: Error: the Worker broke" in workbench.log.read_text()


async def test_exec_in_explicit_proxy_mode_goes_through_the_proxy(explicit: Dev) -> None:
    box = {"id": "explicit-1"}
    results = await explicit.calls(
        [
            {**box, "method": "setOutboundHandler", "args": ["allowHosts", {"allowedHostnames": ["upstream.test"]}]},
            {**box, "method": "exec", "args": ["id -u; curl -s -m 10 http://upstream.test/echo"]},
            {**box, "method": "setOutboundHandler", "args": ["noHttp"]},
            {**box, "method": "exec", "args": [f"{CURL} http://upstream.test/echo"]},
        ]
    )
    uid, echoed = results[1]["ok"]["stdout"].split("\n", 1)
    assert int(uid) != 0  # never as root, even without a namespace
    assert json.loads(echoed)["path"] == "/echo"
    assert results[3]["ok"]["stdout"] == "403"
