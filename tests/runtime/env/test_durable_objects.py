"""emulator/runtime/env/durable_objects.py and js/bindings/durable-objects.js: a Worker's sandbox stubs, driven
from its own fetch (fixtures/handlers/worker-entry) with the Python API alone, no `outbound dev`.

`POST /calls` runs stub calls described as JSON ({binding, via, id, method, args}) and answers each one's
result or thrown error ({name, message}) whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from emulator import Emulator
from emulator.entry import WorkerAddress, WorkerEntry
from emulator.runtime.env.durable_objects import NEEDS_DEV, SandboxRef
from emulator.sandbox import container_id

PROJECT = Path(__file__).resolve().parents[3] / "fixtures" / "handlers" / "worker-entry"
PREFIX = "outbound-durable-object:Workbench:"  # 34 characters before the name


class Worker:
    def __init__(self, emulator: Emulator, url: str) -> None:
        self.emulator = emulator
        self.url = url

    async def get(self, path: str, **params: Any) -> Any:
        async with aiohttp.ClientSession() as session, session.get(f"{self.url}{path}", params=params) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def calls(self, *calls: dict[str, Any]) -> list[Any]:
        async with aiohttp.ClientSession() as session, session.post(f"{self.url}/calls", json=list(calls)) as response:
            assert response.status == 200, await response.text()
            result: list[Any] = await response.json()
            return result


@pytest.fixture(scope="module")
async def worker() -> AsyncIterator[Worker]:
    async with (
        Emulator.load(PROJECT, in_memory=True, workers=1) as emulator,
        WorkerEntry(emulator, WorkerAddress("127.0.0.1", 0)) as entry,
    ):
        yield Worker(emulator, entry.url)


@pytest.mark.parametrize(
    "name",
    [
        "user-1",
        "",
        "é",
        "日本語 🙂",
        "a" * (55 - len(PREFIX)),  # SHA-256 padding: the last length that fits one 64-byte block
        "a" * (56 - len(PREFIX)),  # the first that needs a second block
        "a" * (64 - len(PREFIX)),
        "a" * (119 - len(PREFIX)),
        "a" * (120 - len(PREFIX)),
        "x" * 1000,
    ],
)
async def test_ids_from_names_are_pythons_container_ids(worker: Worker, name: str) -> None:
    assert await worker.get("/ids", name=name) == [container_id("Workbench", name)]


async def test_ids_behave_as_durable_object_ids(worker: Worker) -> None:
    assert await worker.get("/id-objects") == {
        "name": "user-1",
        "fromStringName": None,  # workerd names only ids made by idFromName
        "equals": True,
        "short": {"error": {"name": "TypeError", "message": "Invalid Durable Object ID: must be 64 hex digits"}},
        "otherNamespace": {
            "error": {"name": "TypeError", "message": "Durable Object ID is not valid for this namespace."}
        },
        "stubName": "user-1",
        "stubId": container_id("Workbench", "user-1"),
    }


async def test_every_way_to_a_stub_reaches_the_same_sandbox(worker: Worker) -> None:
    hex_id = container_id("Workbench", "ways-1")
    await worker.emulator.sandbox("made-in-python", cls="Workbench").allow_host("x.example")
    results = await worker.calls(
        {"via": "getSandbox", "id": "ways-1", "method": "setAllowedHosts", "args": [["a.example"]]},
        {"via": "getByName", "id": "ways-1", "method": "allowHost", "args": ["b.example"]},
        {"via": "idFromName", "id": "ways-1", "method": "denyHost", "args": ["c.example"]},
        {"via": "idFromString", "id": hex_id, "method": "setOutboundByHost", "args": ["d.example", "noHttp"]},
        {"via": "idFromString", "id": "ab" * 32, "method": "allowHost", "args": ["e.example"]},
        # An id this worker never derived: the emulator finds it among the sandboxes it knows.
        {"via": "idFromString", "id": container_id("Workbench", "made-in-python"), "method": "denyHost", "args": ["y"]},
    )
    assert results[:4] == [{"ok": None}] * 4
    assert results[5] == {"ok": None}
    made = (await worker.emulator.sandbox("made-in-python").policy()).overrides
    assert (made.allowed_hosts, made.denied_hosts) == (("x.example",), ("y",))
    assert results[4] == {
        "error": {"name": "TypeError", "message": "Durable Object ID is not valid for this namespace."}
    }
    overrides = (await worker.emulator.sandbox("ways-1").policy()).overrides.to_json()
    assert {key: overrides[key] for key in ("outboundByHostOverrides", "allowedHosts", "deniedHosts")} == {
        "outboundByHostOverrides": {"d.example": {"method": "noHttp"}},
        "allowedHosts": ["a.example", "b.example"],
        "deniedHosts": ["c.example"],
    }


async def test_cloudflares_errors_arrive_as_the_same_error(worker: Worker) -> None:
    results = await worker.calls(
        {"id": "errors-1", "method": "setOutboundHandler", "args": ["nope"]},
        {"id": "errors-1", "method": "setOutboundByHosts", "args": [{"a.example": "noHttp", "b.example": "missing"}]},
        {"id": "errors-1", "method": "frobnicate"},
    )
    assert results == [
        {
            "error": {
                "name": "Error",
                "message": "Outbound handler method 'nope' not found in outboundHandlers for Workbench",
            }
        },
        {
            "error": {
                "name": "Error",
                "message": "Outbound handler method 'missing' not found in outboundHandlers for Workbench",
            }
        },
        {
            "error": {
                "name": "Error",
                "message": "frobnicate() is not emulated by outbound: a sandbox stub supports setOutboundHandler, "
                "setOutboundByHost, removeOutboundByHost, setOutboundByHosts, setAllowedHosts, setDeniedHosts, "
                "allowHost, denyHost, removeAllowedHost, removeDeniedHost, exec, writeFile, readFile and gitCheckout.",
            }
        },
    ]


@pytest.mark.parametrize(
    ("sandbox", "call", "seen"),
    [
        # Not given: a handler chosen at runtime still gets the key (contract §1.7).
        ("params-none", {"args": ["params"]}, {"hasParams": True, "params": "undefined"}),
        # Given as undefined: the same, as in production (JSON has no undefined, so the stub drops it).
        ("params-undefined", {"args": ["params"], "appendUndefined": True}, {"hasParams": True, "params": "undefined"}),
        ("params-object", {"args": ["params", {"a": 1}]}, {"hasParams": True, "params": {"a": 1}}),
        ("params-null", {"args": ["params", None]}, {"hasParams": True, "params": None}),
    ],
)
async def test_params_reach_the_handler_as_given(
    worker: Worker, sandbox: str, call: dict[str, Any], seen: dict[str, Any]
) -> None:
    assert await worker.calls({"id": sandbox, "method": "setOutboundHandler", **call}) == [{"ok": None}]
    response = await worker.emulator.sandbox(sandbox).fetch("http://any.example/")
    assert response.json() == seen


async def test_sandbox_ids_are_checked_as_the_sdk_checks_them(worker: Worker) -> None:
    results = await worker.calls(
        *[{"id": name, "method": "allowHost", "args": ["a.example"]} for name in ("", "x" * 64, "-edge", "Admin")],
        {"id": "MixedCase", "options": {"normalizeId": True}, "method": "allowHost", "args": ["a.example"]},
    )
    assert results == [
        {"error": {"name": "SandboxSecurityError", "message": "Sandbox ID must be 1-63 characters long."}},
        {"error": {"name": "SandboxSecurityError", "message": "Sandbox ID must be 1-63 characters long."}},
        {
            "error": {
                "name": "SandboxSecurityError",
                "message": "Sandbox ID cannot start or end with hyphens (DNS requirement).",
            }
        },
        {"error": {"name": "SandboxSecurityError", "message": "Reserved sandbox ID 'Admin' is not allowed."}},
        {"ok": None},
    ]
    assert "mixedcase" in await worker.emulator.sandboxes()


async def test_get_container_reaches_a_container_class(worker: Worker) -> None:
    results = await worker.calls(
        {"binding": "Boxes", "via": "getContainer", "id": None, "method": "setOutboundHandler", "args": ["noHttp"]},
        {"binding": "Ghosts", "via": "getByName", "id": "g-1", "method": "allowHost", "args": ["a.example"]},
    )
    assert results[0] == {"ok": None}
    assert worker.emulator.registry.loaded("cf-singleton-container") is not None
    assert (await worker.emulator.sandbox("cf-singleton-container").policy()).cls.class_name == "Crate"
    assert results[1] == {
        "error": {
            "name": "Error",
            "message": "'Ghost' is not a Container or Sandbox class exported by the module; "
            "exported classes: Crate, Workbench",
        }
    }
    assert worker.emulator.warnings == [
        "durable_objects binding 'Ghosts': Ghost is not a Container or Sandbox class exported by index.ts; "
        "outbound emulates Durable Objects only as sandboxes, so calls on env.Ghosts will throw"
    ]


async def test_commands_and_files_need_outbound_dev(worker: Worker) -> None:
    calls = [("exec", ["ls"]), ("writeFile", ["a.txt", "x"]), ("readFile", ["a.txt"]), ("gitCheckout", ["https://x/y"])]
    results = await worker.calls(*[{"id": "plain-1", "method": method, "args": args} for method, args in calls])
    assert results == [{"error": {"name": "Error", "message": NEEDS_DEV.format(method=method)}} for method, _ in calls]


class RecordingShell:
    """A Shell that answers from memory and records what it was asked (the seam outbound dev fills)."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []

    async def exec(self, sandbox: SandboxRef, command: str, options: Mapping[str, Any]) -> dict[str, Any]:
        self.seen.append(("exec", sandbox, command, dict(options)))
        return {"success": True, "exitCode": 0, "stdout": "out", "stderr": "", "command": command}

    async def write_file(self, sandbox: SandboxRef, path: str, content: bytes, encoding: str | None) -> dict[str, Any]:
        self.seen.append(("writeFile", sandbox, path, content, encoding))
        return {"success": True, "path": path}

    async def read_file(self, sandbox: SandboxRef, path: str, encoding: str | None) -> tuple[dict[str, Any], bytes]:
        self.seen.append(("readFile", sandbox, path, encoding))
        if encoding == "none":
            return {"success": True, "path": path}, b"raw bytes"
        return {"success": True, "path": path, "content": "text"}, b""

    async def git_checkout(self, sandbox: SandboxRef, repo_url: str, options: Mapping[str, Any]) -> dict[str, Any]:
        self.seen.append(("gitCheckout", sandbox, repo_url, dict(options)))
        return {"success": True, "repoUrl": repo_url}


async def test_a_shell_gets_the_sdks_arguments(worker: Worker) -> None:
    shell = RecordingShell()
    worker.emulator.serve_sandboxes(shell)
    try:
        results = await worker.calls(
            {"id": "shell-1", "method": "exec", "args": ["ls", {"timeout": 5, "env": {"A": "1"}, "cwd": "/workspace"}]},
            {"id": "shell-1", "method": "writeFile", "args": ["a.txt", "héllo", {"encoding": "utf-8"}]},
            {"id": "shell-1", "method": "readFile", "args": ["a.txt"]},
            {"id": "shell-1", "method": "readFile", "args": ["a.txt", {"encoding": "none"}]},
            {"id": "shell-1", "method": "gitCheckout", "args": ["https://github.com/a/b", {"branch": "dev"}]},
        )
    finally:
        worker.emulator.serve_sandboxes(None)
    sandbox = SandboxRef("shell-1", "Workbench")
    assert shell.seen == [
        ("exec", sandbox, "ls", {"timeout": 5, "env": {"A": "1"}, "cwd": "/workspace"}),
        ("writeFile", sandbox, "a.txt", "héllo".encode(), "utf-8"),
        ("readFile", sandbox, "a.txt", None),
        ("readFile", sandbox, "a.txt", "none"),
        ("gitCheckout", sandbox, "https://github.com/a/b", {"branch": "dev"}),
    ]
    assert results == [
        {"ok": {"success": True, "exitCode": 0, "stdout": "out", "stderr": "", "command": "ls"}},
        {"ok": {"success": True, "path": "a.txt"}},
        {"ok": {"success": True, "path": "a.txt", "content": "text"}},
        {"ok": {"success": True, "path": "a.txt", "content": "raw bytes"}},  # a stream, read by the fixture
        {"ok": {"success": True, "repoUrl": "https://github.com/a/b"}},
    ]
