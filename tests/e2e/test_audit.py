"""The audit log of a real `outbound dev` (issue 5): one record per request a sandbox makes through the proxy, in
<state>/audit.jsonl and on the terminal; `outbound tail` following it; secrets redacted from all of it.

Explicit-proxy capture works anywhere; the records of connections that never become HTTP (other ports, TLS
that is not decrypted) need the namespace capture, and root."""

from __future__ import annotations

import asyncio
import base64
import json
import shlex
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bindings import SecretsStoreSpec, open_bindings
from bindings.secrets import put_secret
from emulator.audit import AuditRecord, ConsoleLine
from tests.e2e.conftest import ROOT, DevServer, namespaces_available, start_dev, traversable_folder
from tests.support.upstream import LocalInternet

pytestmark = pytest.mark.e2e

AUDIT = ROOT / "fixtures" / "handlers" / "audit"
DOTENV_SECRET = "sk-audit-dotenv-6d2f0b19"  # fixtures/handlers/audit/.dev.vars
VAULT = "vault-e2e-3c9d12f4a8"
CURL = ("curl", "-sS", "-m", "20")
STATUS_AND_SIZE = ("-o", "/dev/null", "-w", "%{http_code} %{size_download}\\n")
MIB = 1024 * 1024


async def seed_vault(state: Path) -> None:
    bindings = await open_bindings([SecretsStoreSpec("VAULT", "audit-store", "vault-key")], state)
    await put_secret(bindings["VAULT"].store, "vault-key", VAULT)
    await bindings.close()


async def start_audited(internet: LocalInternet, name: str, capture: str) -> DevServer:
    state = traversable_folder(name)
    await seed_vault(state)
    return await start_dev(AUDIT, state, internet, capture)


@pytest.fixture(scope="module")
async def dev(internet: LocalInternet) -> AsyncIterator[DevServer]:
    server = await start_audited(internet, "audit", "explicit")
    try:
        yield server
    finally:
        await server.stop()


def read_records(dev: DevServer, sandbox: str) -> list[AuditRecord]:
    path = dev.state / "audit.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [record for line in lines if (record := AuditRecord.from_json(json.loads(line))).sandbox == sandbox]


async def records_of(dev: DevServer, sandbox: str, count: int, timeout: float = 10) -> list[AuditRecord]:
    """``sandbox``'s records once there are ``count`` (a connection's record comes when it closes)."""
    deadline = time.monotonic() + timeout
    while len(found := read_records(dev, sandbox)) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert len(found) == count, found
    return found


def summary(record: AuditRecord) -> tuple[Any, ...]:
    return (record.method, record.url, record.step, record.handler, record.status, record.error)


async def create(dev: DevServer, sandbox: str, cls: str, handler: str | None = None) -> None:
    async with dev.remote() as remote:
        await remote.create_sandbox(sandbox, cls)
        if handler is not None:
            await remote.sandbox(sandbox).set_outbound_handler(handler)


async def test_every_request_through_the_proxy_is_one_record(dev: DevServer) -> None:
    await create(dev, "rec-1", "Audited")
    script = " && ".join(
        shlex.join(command)
        for command in (
            (*CURL, *STATUS_AND_SIZE, "-d", "12345", "http://virtual.test/v"),
            (*CURL, *STATUS_AND_SIZE, "http://denied.test/"),
            (*CURL, *STATUS_AND_SIZE, "http://upstream.test/echo"),
            (*CURL, *STATUS_AND_SIZE, "https://github.com/echo"),
        )
    )
    result = await dev.run("rec-1", "sh", "-c", script)
    assert result.code == 0, result
    sizes = [int(line.split()[1]) for line in result.stdout.splitlines()]
    virtual, denied, passed, https = await records_of(dev, "rec-1", 4)
    assert summary(virtual) == (
        "POST",
        "http://virtual.test/v",
        "static per-host",
        'outboundByHost["virtual.test"]',
        201,
        None,
    )
    assert (virtual.request_bytes, virtual.response_bytes) == (5, sizes[0])
    assert virtual.console == (ConsoleLine("log", "virtual got POST /v"),)
    assert summary(denied) == ("GET", "http://denied.test/", "denied host", None, 520, None)
    assert (denied.request_bytes, denied.response_bytes) == (0, len("Origin is disallowed"))
    assert summary(passed) == ("GET", "http://upstream.test/echo", "internet passthrough", None, 200, None)
    assert summary(https) == ("GET", "https://github.com/echo", "internet passthrough", None, 200, None)
    assert [passed.response_bytes, https.response_bytes] == sizes[2:]
    assert all(0 < record.duration_ms < 20_000 for record in (virtual, denied, passed, https))
    # …and the terminal of `outbound dev` shows each as a line (console output went there as it happened)
    deadline = time.monotonic() + 10
    while "rec-1 GET https://github.com/echo → 200" not in dev.log.read_text() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    terminal = dev.log.read_text()
    assert (
        f'rec-1 POST http://virtual.test/v → 201 by outboundByHost["virtual.test"] (static per-host) '
        f"{virtual.duration_ms:.1f} ms ↑5 B ↓{sizes[0]} B"
    ) in terminal
    assert "rec-1 GET http://denied.test/ → 520 by denied host" in terminal
    assert '[rec-1 outboundByHost["virtual.test"]] virtual got POST /v' in terminal


async def test_handler_answers_and_failures_are_recorded(dev: DevServer) -> None:
    await create(dev, "rec-2", "Audited", "forward")
    streamed = await dev.run("rec-2", *CURL, *STATUS_AND_SIZE, "http://upstream.test/chunked?parts=a,bb,ccc")
    assert streamed.stdout.split() == ["200", "6"], streamed
    await create(dev, "rec-2", "Audited", "leak")
    failed = await dev.run("rec-2", *CURL, "-i", "http://anywhere.test/?mode=throw")
    assert failed.stdout.startswith("HTTP/1.1 500"), failed
    forwarded, thrown = await records_of(dev, "rec-2", 2)
    assert summary(forwarded) == (
        "GET",
        "http://upstream.test/chunked?parts=a,bb,ccc",
        "runtime catch-all",
        "outboundHandlers.forward",
        200,
        None,
    )
    assert forwarded.response_bytes == 6
    assert (thrown.step, thrown.handler, thrown.status) == ("runtime catch-all", "outboundHandlers.leak", 500)
    assert thrown.error is not None and thrown.error.startswith(
        "VaultError([redacted]): upstream refused [redacted] and [redacted] at src/index.ts:"
    )


async def test_a_refused_request_is_recorded_with_the_reason(dev: DevServer) -> None:
    # Offline intercepts only virtual.test (per-host mode) and has no internet: anything else is closed.
    refused = await dev.run("rec-3", *CURL, "http://upstream.test:8080/x", cls="Offline")
    assert refused.code == 52, refused  # curl: empty reply
    [record] = await records_of(dev, "rec-3", 1)
    assert summary(record) == (
        "GET",
        "http://upstream.test:8080/x",
        "not intercepted",
        None,
        None,
        "closed: the sandbox's class does not intercept this traffic and enableInternet is false",
    )


async def test_streamed_bodies_are_counted_without_buffering(dev: DevServer) -> None:
    await create(dev, "big-1", "Audited")
    work = dev.state / "sandboxes" / "big-1" / "work"
    (work / "3m.bin").write_bytes(b"u" * (3 * MIB))
    (work / "2m.bin").write_bytes(b"h" * (2 * MIB))
    size = 50 * MIB
    pid = int(str(dev.info["pid"]))
    before = peak = rss(pid)
    download = asyncio.create_task(dev.run("big-1", *CURL, *STATUS_AND_SIZE, f"http://upstream.test/bytes/{size}"))
    while not download.done():
        peak = max(peak, rss(pid))
        await asyncio.sleep(0.01)
    assert download.result().stdout.split() == ["200", str(size)], download.result()
    assert peak - before < 40 * MIB, f"the emulator grew by {(peak - before) >> 20} MiB for a 50 MiB body"
    uploads = " && ".join(
        shlex.join(command)
        for command in (
            (*CURL, *STATUS_AND_SIZE, "--data-binary", "@3m.bin", "http://upstream.test/sink"),
            (*CURL, *STATUS_AND_SIZE, "-H", "Transfer-Encoding: chunked", "--data-binary", "@2m.bin")
            + ("http://upstream.test/sink",),
            # past 1 MiB a body must not stream on to the host it names: a denied host gets none of it, and a
            # handler gets all of it
            (*CURL, *STATUS_AND_SIZE, "--data-binary", "@2m.bin", "http://denied.test/"),
            (*CURL, "--data-binary", "@2m.bin", "http://virtual.test/upload"),
        )
    )
    sent = await dev.run("big-1", "sh", "-c", uploads)
    assert sent.stdout.splitlines() == ["200 21", "200 21", "520 20", "virtual read 2097152 bytes"], sent
    downloaded, known, chunked, denied, handled = await records_of(dev, "big-1", 5)
    assert (downloaded.status, downloaded.request_bytes, downloaded.response_bytes) == (200, 0, size)
    assert (known.request_bytes, known.response_bytes) == (3 * MIB, 21)  # {"received": 3145728}
    assert (chunked.request_bytes, chunked.response_bytes) == (2 * MIB, 21)
    assert (denied.step, denied.status, denied.request_bytes) == ("denied host", 520, 2 * MIB)
    assert (handled.step, handled.status, handled.request_bytes) == ("static per-host", 201, 2 * MIB)


async def test_a_handlers_streamed_download_is_counted(dev: DevServer) -> None:
    await create(dev, "big-2", "Audited", "forward")
    size = 50 * MIB
    result = await dev.run("big-2", *CURL, *STATUS_AND_SIZE, f"http://upstream.test/bytes/{size}")
    assert result.stdout.split() == ["200", str(size)], result
    [record] = await records_of(dev, "big-2", 1)
    assert (record.handler, record.status, record.response_bytes) == ("outboundHandlers.forward", 200, size)


def rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) * 1024


class Tail:
    """`outbound tail` as a subprocess, started and connected on entry."""

    def __init__(self, dev: DevServer, *args: str) -> None:
        self.command = [sys.executable, "-m", "emulator", "tail", "--persist-to", str(dev.state), *args]
        self.process: asyncio.subprocess.Process | None = None
        self.stderr = ""

    async def __aenter__(self) -> Tail:
        self.process = await asyncio.create_subprocess_exec(
            *self.command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT
        )
        assert self.process.stderr is not None
        while "Ctrl-C stops" not in self.stderr:
            line = await asyncio.wait_for(self.process.stderr.readline(), 20)
            assert line, f"outbound tail ended before it followed: {self.stderr}"
            self.stderr += line.decode()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

    async def lines(self, count: int, timeout: float = 10) -> list[str]:
        """The next ``count`` records' first lines (the lines indented under them are skipped)."""
        assert self.process is not None and self.process.stdout is not None
        found: list[str] = []
        while len(found) < count:
            line = (await asyncio.wait_for(self.process.stdout.readline(), timeout)).decode()
            assert line, f"outbound tail ended early: {found}"
            if not line.startswith(" "):
                found.append(line)
        return found

    async def end(self, *, interrupt: bool = True, timeout: float = 20) -> tuple[int, str, str]:
        """Ctrl-C (or wait for it to end by itself); its exit code, the rest of stdout, and all of stderr."""
        assert self.process is not None
        if interrupt:
            self.process.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(self.process.communicate(), timeout)
        assert self.process.returncode is not None
        return self.process.returncode, out.decode(), self.stderr + err.decode()


async def test_tail_json_receives_the_records_of_requests_made_while_it_runs(dev: DevServer) -> None:
    await create(dev, "tail-a", "Audited")
    await create(dev, "tail-b", "Audited")
    await dev.run("tail-a", *CURL, "http://virtual.test/before")  # before the tail: not shown
    async with Tail(dev, "--json") as every, Tail(dev, "--json", "--sandbox", "tail-b") as only_b:
        await dev.run("tail-a", *CURL, "http://virtual.test/a")
        await dev.run("tail-b", *CURL, "http://denied.test/b")
        seen = [json.loads(line) for line in await every.lines(2)]
        seen_b = [json.loads(line) for line in await only_b.lines(1)]
        code, rest, stderr = await every.end()
        code_b, rest_b, _ = await only_b.end()
    assert [(r["sandbox"], r["url"], r["status"]) for r in seen] == [
        ("tail-a", "http://virtual.test/a", 201),
        ("tail-b", "http://denied.test/b", 520),
    ]
    assert seen_b == [seen[1]]
    assert seen[1] == next(r.to_json() for r in read_records(dev, "tail-b"))  # as the file has it
    assert (code, rest, code_b, rest_b) == (0, "", 0, "")  # Ctrl-C: quietly
    assert "Traceback" not in stderr


async def test_tail_ends_with_a_message_when_the_emulator_stops(internet: LocalInternet) -> None:
    server = await start_audited(internet, "audit-stop", "explicit")
    try:
        await create(server, "stop-1", "Audited")
        async with Tail(server) as tail:
            await server.run("stop-1", *CURL, "http://virtual.test/x")
            [line] = await tail.lines(1)
            assert " stop-1 GET http://virtual.test/x → 201 by outboundByHost" in line
            started = time.monotonic()
            await server.stop()
            assert time.monotonic() - started < 10  # an open tail does not hold the emulator's shutdown
            code, rest, stderr = await tail.end(interrupt=False)
    finally:
        await server.stop()
    assert (code, rest) == (0, "    console.log: virtual got GET /x\n")  # the handler's output, under its line
    assert stderr.rstrip().endswith("outbound: the emulator stopped; tail ends")


async def test_requests_no_sandbox_owns_are_logged_not_recorded(dev: DevServer) -> None:
    await create(dev, "anon", "Audited")
    proxy = str(dev.info["explicitProxy"])
    result = await dev.run(
        "anon", *CURL, "-i", "--proxy", proxy.replace("http://", "http://anon:wrong@"), "http://x.test/"
    )
    assert result.stdout.startswith("HTTP/1.1 407"), result
    deadline = time.monotonic() + 10
    while "answered 407 to GET http://x.test/" not in dev.log.read_text() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert "answered 407 to GET http://x.test/ from 127.0.0.1:" in dev.log.read_text()
    assert read_records(dev, "anon") == []


async def test_no_secret_reaches_the_terminal_the_file_the_tail_or_the_sandbox(dev: DevServer) -> None:
    await create(dev, "leak-1", "Audited", "leak")
    async with Tail(dev) as readable, Tail(dev, "--json") as as_json:
        answers = [
            await dev.run("leak-1", *CURL, "-i", f"http://anywhere.test/?mode={mode}&token={DOTENV_SECRET}")
            for mode in ("ok", "throw", "unreachable")
        ]
        tail_text = "".join(await readable.lines(3))
        tail_json = "".join(await as_json.lines(3))
        _, rest, _ = await readable.end()
        tail_text += rest
    records = await records_of(dev, "leak-1", 3)
    assert [record.status for record in records] == [200, 500, 500]
    assert all("[redacted]" in record.url for record in records)
    assert records[0].console[0].message.startswith("fetching http://upstream.test/echo?key=[redacted]&token=")
    logged = "\n".join(
        [
            dev.log.read_text(),
            (dev.state / "audit.jsonl").read_text(),
            tail_text,
            tail_json,
            *(answer.stdout + answer.stderr for answer in answers),
        ]
    )
    assert "with headers" in logged and "Basic [redacted]" in logged  # the lines are there, the secrets are not
    for secret in (VAULT, DOTENV_SECRET):
        assert secret not in logged
        assert base64.b64encode(f"agent:{secret}".encode()).decode() not in logged


# -- connections that never become HTTP (namespace capture) ------------------------------------------------


@pytest.fixture(scope="module")
async def captured(internet: LocalInternet) -> AsyncIterator[DevServer]:
    if not namespaces_available():
        pytest.skip("needs root, network namespaces and nftables")
    server = await start_audited(internet, "audit-ns", "namespace")
    try:
        yield server
    finally:
        await server.stop()


async def test_other_ports_and_undecrypted_tls_are_one_record_per_connection(captured: DevServer) -> None:
    dev = captured
    tcp = await dev.run("conn-1", *CURL, "http://upstream.test:8080/echo", cls="Audited")
    assert json.loads(tcp.stdout)["path"] == "/echo", tcp
    refused = await dev.run("conn-2", *CURL, "http://1.2.3.4:8080/", cls="Offline")
    assert refused.code in (7, 52, 56), refused
    tls = await dev.run("conn-3", *CURL, *STATUS_AND_SIZE, "https://github.com/echo", cls="PlainTls")
    assert tls.stdout.split()[0] == "200", tls
    no_tls = await dev.run("conn-2", *CURL, "--resolve", "github.com:443:1.2.3.4", "https://github.com/")
    assert no_tls.code != 0, no_tls
    handled = await dev.run("conn-2", *CURL, "http://virtual.test/ns")
    assert handled.stdout == "offline virtual", handled
    invalid = await dev.run("conn-1", *CURL, *STATUS_AND_SIZE, "-H", "Host: not a host", "http://virtual.test/")
    assert invalid.stdout.split()[0] == "400", invalid

    passed, bad = await records_of(dev, "conn-1", 2)
    assert summary(bad) == ("GET", "http://not a host/", "invalid URL", None, 400, None)
    assert summary(passed) == ("TCP", "tcp://upstream.test:8080", "not intercepted", None, None, None)
    assert passed.request_bytes is not None and passed.request_bytes > len("GET /echo HTTP/1.1\r\n")
    assert passed.response_bytes is not None and passed.response_bytes > len(tcp.stdout)  # head and body
    [undecrypted] = await records_of(dev, "conn-3", 1)
    assert summary(undecrypted) == ("CONNECT", "https://github.com:443", "not intercepted", None, None, None)
    assert (undecrypted.request_bytes, undecrypted.response_bytes) == (None, None)  # not counted
    closed, closed_tls, virtual = await records_of(dev, "conn-2", 3)
    assert summary(closed) == (
        "TCP",
        "tcp://1.2.3.4:8080",
        "not intercepted",
        None,
        None,
        "refused: enableInternet is false and this port is never intercepted",
    )
    assert (closed.request_bytes, closed.response_bytes) == (0, 0)
    assert summary(closed_tls) == (
        "CONNECT",
        "https://github.com:443",
        "not intercepted",
        None,
        None,
        "refused: HTTPS here is not intercepted and enableInternet is false",
    )
    assert summary(virtual) == (
        "GET",
        "http://virtual.test/ns",
        "static per-host",
        'outboundByHost["virtual.test"]',
        200,
        None,
    )
