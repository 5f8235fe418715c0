"""IP literals and their encodings, metadata addresses, this machine's own addresses and the emulator's own
listeners, asked for from inside a sandbox (threat model §5.2, §5.6), in both capture modes.

Production egress leaves from Cloudflare's network, which cannot reach the user's machine, its LAN or a cloud
metadata service; here a passthrough would, so every destination is checked where it is dialled (dial.py),
with IPv6 spellings of IPv4 addresses seen through (hosts.address_for_dialling). Each spelling is tried in the
three places a sandbox can name a destination: the URL's host (what the program connects to), the Host header
on a connection to somewhere else (what a passthrough goes to, contract §2.2), and a CONNECT target (the
explicit proxy; in namespace capture a connection's own destination is its target).

A recording listener on this machine (0.0.0.0 and [::], one port) stands where a leak would land, with the
control API and the explicit proxy; nothing may arrive. The sandbox gets a refusal that says why: a 502
``outbound: refused: <address> is …`` for HTTP, or, where there is no HTTP to answer (raw TCP, TLS that is
not decrypted), a closed connection and an audit record with the reason. Loopback spellings in the URL reach
only the sandbox's own loopback in namespace capture (its network namespace has its own), and IPv6 is off there.

A handler that sends the request on with ``fetch(request)`` is the fourth way: the sandbox's Host header names
what the handler fetches, and the fetch is refused where it is dialled too (reach.py).

Classes (fixtures/handlers/security): ``Open`` passes everything through (and has a ``forward`` handler to set
at runtime), ``Offline`` has no internet.
"""

from __future__ import annotations

import asyncio
import base64
import html
import ipaddress
import json
import re
import shlex
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from tests.e2e.conftest import DevServer
from tests.security.conftest import PYTHON, RAW

pytestmark = pytest.mark.e2e

OWN = "is an address of the emulator's own machine"
METADATA = "is a link-local or cloud metadata address, which production egress cannot reach"
REFUSED_HEAD = "HTTP/1.1 502 Bad Gateway\r\n"
DENIED = "HTTP/1.1 520 \r\ncontent-type: text/plain;charset=UTF-8\r\ncontent-length: 20\r\n\r\nOrigin is disallowed"
# Where a connection whose Host names the destination is sent: refused itself if it were ever dialled (CGNAT),
# so a refusal naming the Host's address shows the Host was what was checked.
ELSEWHERE = "100.64.0.1"
TUNNEL_OPEN = "HTTP/1.1 200 Connection established\r\n\r\n"  # curl -p shows the CONNECT's answer first
ANSWER = b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\nconnection: close\r\n\r\nRECORDER"

# Spellings of this machine (WHATWG shorthand, decimal, hex, octal, mixed, the unspecified address, IPv4-mapped,
# IPv4-compatible, NAT64, 6to4, localhost names), each with the address the refusal names (the URL parser's
# form, as the emulator dials it).
LOOPBACK = [
    ("127.1", "127.0.0.1"),
    ("2130706433", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),
    ("017700000001", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"),
    ("0", "0.0.0.0"),
    ("0.0.0.0", "0.0.0.0"),
    ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
    ("[::ffff:7f00:1]", "::ffff:7f00:1"),
    ("[::127.0.0.1]", "::7f00:1"),
    ("[64:ff9b::7f00:1]", "64:ff9b::7f00:1"),
    ("[2002:7f00:1::]", "2002:7f00:1::"),
    ("localhost", "localhost"),
    ("foo.localhost", "foo.localhost"),
]
CLOUD_METADATA = ["169.254.169.254", "[fd00:ec2::254]", "100.100.100.200", "168.63.129.16"]


@dataclass
class Recorder:
    """Listeners on 0.0.0.0:port and [::]:port that answer ``RECORDER`` and remember every connection."""

    port: int = 0
    seen: list[tuple[str, bytes]] = field(default_factory=list)
    servers: list[asyncio.Server] = field(default_factory=list)

    async def start(self) -> None:
        v4 = await asyncio.start_server(self._record, "0.0.0.0", 0)
        self.port = int(v4.sockets[0].getsockname()[1])
        v6 = await asyncio.start_server(self._record, "::", self.port)  # asyncio sets IPV6_V6ONLY
        self.servers = [v4, v6]

    async def _record(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = str(writer.get_extra_info("peername")[0])
        try:
            data = await asyncio.wait_for(reader.read(1024), 1)
        except (TimeoutError, ConnectionError):
            data = b""
        self.seen.append((peer, data))
        writer.write(ANSWER)
        writer.close()

    async def close(self) -> None:
        for server in self.servers:
            server.close()
            await server.wait_closed()


@pytest.fixture(scope="module")
async def listening() -> AsyncIterator[Recorder]:
    started = Recorder()
    await started.start()
    try:
        yield started
    finally:
        await started.close()


@pytest.fixture
def recorder(listening: Recorder) -> Recorder:
    """The module's listeners, with nothing seen yet (an xfail test may have left something)."""
    listening.seen.clear()
    return listening


@dataclass(frozen=True)
class Target:
    """A destination as the sandbox spells it (``host``, bracketed if IPv6), and what a refusal must say."""

    host: str
    port: int
    address: str  # as the emulator dials it (the URL parser's form)
    words: str  # why it is refused

    @property
    def why(self) -> str:
        return f"{self.address} {self.words}"

    @property
    def authority(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def bare(self) -> str:
        return self.host.strip("[]")

    @property
    def captured(self) -> bool:
        """In namespace capture, whether a connection to it reaches the proxy at all (IPv4, not loopback)."""
        try:
            address = ipaddress.ip_address(self.address)
        except ValueError:
            return False  # localhost names: the sandbox's own loopback
        return address.version == 4 and not (address.is_loopback or address.is_unspecified)


def host_addresses() -> list[str]:
    """This machine's addresses other than loopback, link-local and other sandboxes' veth ends (URL spelling)."""
    found: list[str] = []
    out = subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True, check=True).stdout
    for interface in json.loads(out):
        if interface["ifname"] == "lo" or interface["ifname"].startswith("ob-"):
            continue
        for info in interface.get("addr_info", []):
            address = info["local"]
            if info.get("scope") == "link" or address.startswith("fe80"):
                continue
            found.append(f"[{address}]" if ":" in address else address)
    return found


async def targets(dev: DevServer, sandbox: str, cls: str, port: int) -> list[Target]:
    """Every destination to try: loopback spellings and this machine's addresses on ``port``, metadata on 80,
    the control API, the explicit proxy and the Worker's entry on 127.0.0.1, and (namespace capture) the
    sandbox's gateway."""
    found = [Target(spelled, port, address, OWN) for spelled, address in LOOPBACK]
    found += [Target(address, port, address.strip("[]"), OWN) for address in host_addresses()]
    found += [Target(address, 80, address.strip("[]"), METADATA) for address in CLOUD_METADATA]
    control = int(str(dev.info["control"]).rsplit(":", 1)[1])
    proxy = int(str(dev.info["explicitProxy"]).rsplit(":", 1)[1])
    listeners = [control, proxy]
    if dev.info.get("worker"):  # the Worker's own entry (wrangler dev's), when the emulator serves one
        listeners.append(int(str(dev.info["worker"]).rsplit(":", 1)[1]))
    found += [Target("127.0.0.1", listener, "127.0.0.1", OWN) for listener in listeners]
    if dev.capture == "namespace":
        route = await dev.run(sandbox, "ip", "route", cls=cls)
        gateway = re.search(r"default via (\S+)", route.stdout)
        assert gateway is not None, route
        found += [Target(gateway[1], listener, gateway[1], OWN) for listener in (port, control)]
    return found


@dataclass
class Case:
    target: Target
    form: str  # "url", "host" (curl), "raw-host", "tunnel" (curl -p), "raw-tls"
    command: list[str]


@dataclass
class Outcome:
    case: Case
    code: int
    output: str


async def run_cases(dev: DevServer, sandbox: str, cls: str, cases: list[Case]) -> list[Outcome]:
    """Every case in one sandbox process (a shell running them in turn), so a hundred cases cost one launch."""
    async with dev.remote() as remote:
        await remote.create_sandbox(sandbox, cls)
    work = dev.state / "sandboxes" / sandbox / "work"
    (work / "raw.py").write_text(RAW)
    lines = []
    for index, case in enumerate(cases):
        lines.append(f"echo '@@@ {index}'; {shlex.join(case.command)} 2>&1; rc=$?; echo; echo \"@@@ rc=$rc\"")
    (work / "cases.sh").write_text("\n".join(lines) + "\n")
    result = await dev.run(sandbox, "sh", "cases.sh", cls=cls, timeout=120)
    outcomes: list[Outcome] = []
    for index, case in enumerate(cases):
        match = re.search(rf"@@@ {index}\n(.*?)\n@@@ rc=(\d+)\n", result.stdout, re.S)
        assert match is not None, (case, result)
        outcomes.append(Outcome(case, int(match[2]), match[1]))
    return outcomes


def curl(*args: str) -> list[str]:
    return ["curl", "-sS", "-i", "-m", "5", *args]


def raw(target: str, request: str, sni: str = "-") -> list[str]:
    """RAW (tests/security/conftest.py), saved in the sandbox's folder as raw.py."""
    return [PYTHON, "raw.py", target, sni, base64.b64encode(request.encode()).decode()]


def refused_records(dev: DevServer, sandbox: str) -> list[str]:
    """The errors of ``sandbox``'s audit records: a connection refused without HTTP says why there."""
    path = dev.state / "audit.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [str(record["error"]) for record in records if record["sandbox"] == sandbox and record["error"]]


async def assert_refused_in_audit(dev: DevServer, sandbox: str, closed: list[Target]) -> None:
    """Each connection in ``closed`` (closed without HTTP to answer) has an audit record saying why it was refused:
    ``refused: <address as the sandbox spelled it, or as dialled> is …`` (a CONNECT to a name that is an
    address in another spelling: ``<name> resolves to <address>, …``)."""

    def recorded(target: Target, errors: list[str]) -> bool:
        reason = target.words.removeprefix("is ")
        return any(
            error.startswith(("refused: " + target.bare + " ", "refused: " + target.address + " "))
            and error.endswith(reason)
            for error in errors
        )

    errors: list[str] = []
    for _ in range(100):  # a connection's record comes when it closes
        errors = refused_records(dev, sandbox)
        if all(recorded(target, errors) for target in closed):
            return
        await asyncio.sleep(0.05)
    missing = [target for target in closed if not recorded(target, errors)]
    raise AssertionError(f"no audit record says why these were refused: {missing}; records: {errors}")


def assert_nothing_arrived(dev: DevServer, recorder: Recorder, outcomes: list[Outcome]) -> None:
    assert recorder.seen == [], recorder.seen
    for outcome in outcomes:
        assert "RECORDER" not in outcome.output, outcome
        assert "Unauthorized" not in outcome.output, outcome  # the control API's answer
        assert "does not belong to any sandbox" not in outcome.output, outcome  # the proxy answering itself
    log = dev.log.read_text()
    assert "no or wrong proxy credentials" not in log and "belongs to no sandbox" not in log, log


def assert_refused_over_http(outcome: Outcome) -> None:
    """A 502 whose body names the address and why. HTTP to port 80 is decided, and a passthrough's destination
    refused by the emulator (text); HTTP to another port is not intercepted (contract §1.8), so its bytes would
    go to the address as they are, and mitmproxy's error page carries the reason the dial was refused."""
    assert outcome.code == 0, outcome
    answer = outcome.output.removeprefix(TUNNEL_OPEN)
    head, _, body = answer.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 502"), outcome
    target = outcome.case.target
    if "content-type: text/plain" in head:
        assert body == f"outbound: refused: {target.why}; the request was not forwarded.\n", outcome
    else:
        assert target.port != 80, outcome
        page = html.unescape(body)
        assert f"Connection killed: outbound: refused: {target.bare} {target.words}</p>" in page or (
            f"Connection killed: outbound: refused: {target.why}</p>" in page
        ), outcome


async def test_spellings_as_the_url_host(dev: DevServer, recorder: Recorder) -> None:
    """`curl http://<spelling>:<port>/`. Through the explicit proxy every one is a 502 naming the address.
    Captured, loopback and IPv6 spellings never leave the sandbox's own network namespace (curl cannot
    connect: exit 7); the others reach the proxy, which refuses HTTP on 80 with a 502 and a raw connection
    on another port by closing it, with the reason in the audit record."""
    sandbox = "addr-url"
    found = await targets(dev, sandbox, "Open", recorder.port)
    cases = [Case(target, "url", curl(f"http://{target.authority}/")) for target in found]
    outcomes = await run_cases(dev, sandbox, "Open", cases)
    closed: list[Target] = []
    for outcome in outcomes:
        target = outcome.case.target
        if dev.capture == "explicit" or (target.captured and target.port == 80):
            assert_refused_over_http(outcome)
        elif target.captured:
            assert outcome.code == 52 and outcome.output.startswith("curl: (52) Empty reply from server"), outcome
            closed.append(target)
        else:
            assert outcome.code == 7, outcome  # the sandbox's own loopback, or IPv6, which is off there
    await assert_refused_in_audit(dev, sandbox, closed)
    assert_nothing_arrived(dev, recorder, outcomes)


async def test_spellings_as_the_host_header(dev: DevServer, recorder: Recorder) -> None:
    """A request to 100.64.0.1 (in explicit mode: `GET http://100.64.0.1/`) whose Host header is the spelling,
    sent by curl and by raw sockets. The passthrough goes where the Host header says (contract §2.2), and that
    is what is checked: the 502 names the Host's address, not 100.64.0.1."""
    sandbox = "addr-host"
    found = await targets(dev, sandbox, "Open", recorder.port)
    cases: list[Case] = []
    for target in found:
        url = f"http://{ELSEWHERE}/latest/meta-data/"
        cases.append(Case(target, "host", curl("-H", f"Host: {target.authority}", url)))
        line = f"GET http://{ELSEWHERE}/latest/meta-data/" if dev.capture == "explicit" else "GET /latest/meta-data/"
        request = f"{line} HTTP/1.1\r\nHost: {target.authority}\r\n\r\n"
        cases.append(Case(target, "raw-host", raw(f"{ELSEWHERE}:80", request)))
    outcomes = await run_cases(dev, sandbox, "Open", cases)
    for outcome in outcomes:
        assert_refused_over_http(outcome)
    assert_nothing_arrived(dev, recorder, outcomes)


async def test_spellings_as_the_connect_target(dev: DevServer, recorder: Recorder) -> None:
    """Explicit proxy: `CONNECT <spelling>:<port>` with plain HTTP inside (curl -p), answered 502 like any
    request, and with TLS that names no server (an address is no SNI), which is not decrypted: its bytes would
    go to the CONNECT target, so that target is checked and the connection closed, the reason in the audit
    record. Captured, the same TLS to the address itself."""
    sandbox = "addr-connect"
    found = await targets(dev, sandbox, "Open", recorder.port)
    cases: list[Case] = []
    for target in found:
        request = f"GET / HTTP/1.1\r\nHost: {target.authority}\r\n\r\n"
        if dev.capture == "explicit":
            cases.append(Case(target, "tunnel", curl("-p", f"http://{target.authority}/")))
            cases.append(Case(target, "raw-tls", raw(target.authority, request, target.bare)))
        elif target.captured:
            cases.append(Case(target, "raw-tls", raw(f"{target.bare}:{target.port}", request, target.bare)))
    outcomes = await run_cases(dev, sandbox, "Open", cases)
    closed: list[Target] = []
    for outcome in outcomes:
        if outcome.case.form == "tunnel":
            assert_refused_over_http(outcome)
        elif outcome.output.startswith("HTTP/1.1"):
            # Not an address (127.1, 2130706433, …): Python sends it as the SNI, so the TLS is decrypted and
            # the request inside is answered like any other.
            assert_refused_over_http(outcome)
        else:
            assert "HTTP/" not in outcome.output, outcome
            closed.append(outcome.case.target)
    await assert_refused_in_audit(dev, sandbox, closed)
    assert closed, "no TLS connection went undecrypted: the test did not try what it means to"
    assert_nothing_arrived(dev, recorder, outcomes)


async def test_without_internet_nothing_is_dialled_at_all(dev: DevServer, recorder: Recorder) -> None:
    """enableInternet = false: every spelling, as URL host and as Host header, is answered as production does
    (520 `Origin is disallowed` for HTTP; a port other than 80/443 refused), before any address is looked at."""
    sandbox = "addr-offline"
    found = await targets(dev, sandbox, "Offline", recorder.port)
    cases: list[Case] = []
    for target in found:
        cases.append(Case(target, "url", curl(f"http://{target.authority}/")))
        cases.append(Case(target, "host", curl("-H", f"Host: {target.authority}", f"http://{ELSEWHERE}/")))
    outcomes = await run_cases(dev, sandbox, "Offline", cases)
    for outcome in outcomes:
        target = outcome.case.target
        reaches_the_proxy = dev.capture == "explicit" or target.captured
        if outcome.case.form == "host" or (reaches_the_proxy and target.port == 80):
            assert outcome.output == DENIED, outcome
        elif reaches_the_proxy:
            assert outcome.code == 52, outcome  # enableInternet is false and this port is never intercepted
        else:
            assert outcome.code == 7, outcome
    assert_nothing_arrived(dev, recorder, outcomes)


async def test_a_handlers_fetch_never_reaches_this_machine(dev: DevServer, recorder: Recorder) -> None:
    """A catch-all handler that sends the request on with fetch(request), as credential-injecting handlers do:
    the URL it fetches is the sandbox's (built from the Host header), so the Host header chooses where the
    handler's fetch() connects. Production's fetch() runs on Cloudflare's network and cannot reach this machine;
    here the fetch is refused where it is dialled (emulator/reach.py), the handler throws, and the sandbox gets
    the 500 that names the handler."""
    sandbox = "addr-fetch"
    async with dev.remote() as remote:
        await remote.create_sandbox(sandbox, "Open")
        await remote.sandbox(sandbox).set_outbound_handler("forward")
    found = await targets(dev, sandbox, "Open", recorder.port)
    cases = [Case(t, "host", curl("-H", f"Host: {t.authority}", f"http://{ELSEWHERE}/")) for t in found]
    outcomes = await run_cases(dev, sandbox, "Open", cases)
    for outcome in outcomes:
        head, _, body = outcome.output.partition("\r\n\r\n")
        assert head.startswith("HTTP/1.1 500"), outcome
        assert body.startswith("outbound: the outbound handler outboundHandlers.forward of Open threw TypeError"), (
            outcome
        )
    assert_nothing_arrived(dev, recorder, outcomes)
