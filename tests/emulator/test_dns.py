"""The sandbox's resolver, by policy (contract §2.4; §9 "DNS"), and its UDP and TCP server."""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator

import pytest
from mitmproxy import dns

from emulator.dns import (
    FAKE_IP_NETWORK,
    MAX_PENDING_QUERIES,
    NOT_A_HOST_NAME,
    NOT_REGISTERED,
    PLACEHOLDER,
    PLACEHOLDER_V4,
    PLACEHOLDER_V6,
    TTL,
    Addresses,
    DnsServer,
    FakeIPs,
    Resolver,
)
from emulator.policy import ClassConfig, InstanceConfig, Policy

A, NS, MX, TXT, AAAA, OPT, HTTPS, ANY = 1, 2, 15, 16, 28, 41, 65, 255
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5


def policy_of(cls: ClassConfig, instance: InstanceConfig = InstanceConfig()) -> Policy:
    return Policy.start(cls, instance, None)[0]


OFFLINE = InstanceConfig(enable_internet=False)
ONLINE = InstanceConfig(enable_internet=True)
# Only static outboundByHost keys: per-host mode, the registrations are exactly these globs (contract §1.8).
VIRTUAL_HOSTS = ClassConfig("Virtual", handler_names=("kv",), by_host_patterns=("my.kv", "*.internal.test"))
# A glob with a port still allows its name: dns.go takes every hostname glob, whatever its port.
PORTED = ClassConfig("Ported", handler_names=("h",), by_host_patterns=("api.ported.test:8080",))
# An IP registration: every name is allowed (dns.go getDnsAllowHostnames).
BY_IP = ClassConfig("ByIp", handler_names=("h",), by_host_patterns=("10.9.8.7",))
# A catch-all handler: intercept-all registers 0.0.0.0/0, so every name is allowed.
CATCH_ALL = ClassConfig("CatchAll", handler_names=("__outbound__",), default_handler="__outbound__")
PLAIN = ClassConfig("Plain")  # no interception at all

POLICIES = {
    "virtual-offline": policy_of(VIRTUAL_HOSTS, OFFLINE),
    "virtual-online": policy_of(VIRTUAL_HOSTS, ONLINE),
    "ported-offline": policy_of(PORTED, OFFLINE),
    "by-ip-offline": policy_of(BY_IP, OFFLINE),
    "catch-all-offline": policy_of(CATCH_ALL, OFFLINE),
    "allowlist-offline": policy_of(PLAIN, InstanceConfig(enable_internet=False, allowed_hosts=("a.test",))),
    "plain-offline": policy_of(PLAIN, OFFLINE),
    "plain-online": policy_of(PLAIN, ONLINE),
    "catch-all-online": policy_of(CATCH_ALL, ONLINE),
}
PEERS = {f"10.200.0.{index}": policy for index, policy in enumerate(POLICIES.values(), start=1)}
PEER_OF = {name: f"10.200.0.{index}" for index, name in enumerate(POLICIES, start=1)}

KNOWN = {
    "github.com": "127.0.0.1:8443",
    "API.Example.test:443": "127.0.0.1:9443",
    "[::1]:80": "127.0.0.1:8080",  # IP literals need no name
    "10.1.2.3": "127.0.0.1:8081",
}


class Upstream:
    """The internet's DNS, as a fixed table: the real one cannot exist in a test. Records every name asked."""

    TABLE: dict[str, Addresses | OSError] = {
        "real.test": Addresses(v4=("192.0.2.10",), v6=("2001:db8::10",)),
        "v4only.test": Addresses(v4=("192.0.2.11",)),
        "noaddr.test": Addresses(),
        "broken.test": TimeoutError("upstream timed out"),
        "many.test": Addresses(v4=tuple(f"192.0.2.{index}" for index in range(1, 41))),
    }

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def __call__(self, name: str) -> Addresses | None:
        self.asked.append(name)
        answer = self.TABLE.get(name)
        if isinstance(answer, OSError):
            raise answer
        return answer


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


@pytest.fixture
def fake_ips() -> FakeIPs:
    return FakeIPs()


@pytest.fixture
def resolver(upstream: Upstream, fake_ips: FakeIPs) -> Resolver:
    return Resolver(policy_for=PEERS.get, known=KNOWN, fake_ips=fake_ips, lookup=upstream)


def query(
    name: str,
    qtype: int = A,
    *,
    ident: int = 0x1234,
    qclass: int = 1,
    op_code: int = 0,
    questions: int = 1,
    edns_payload: int | None = None,
) -> bytes:
    additionals = [] if edns_payload is None else [dns.ResourceRecord("", OPT, edns_payload, 0, b"")]
    return dns.Message(
        timestamp=0.0,
        id=ident,
        query=True,
        op_code=op_code,
        authoritative_answer=False,
        truncation=False,
        recursion_desired=True,
        recursion_available=False,
        reserved=0,
        response_code=0,
        questions=[dns.Question(name, qtype, qclass)] * questions,
        answers=[],
        authorities=[],
        additionals=additionals,
    ).packed


async def ask(resolver: Resolver, policy: str, name: str, qtype: int = A, **options: int) -> dns.Message:
    response = await resolver.answer(query(name, qtype, **options), PEER_OF[policy])
    assert response is not None
    return dns.Message.unpack(response)


def answers(message: dns.Message) -> list[str]:
    return [str(record) for record in message.answers]


# -- the policy table ---------------------------------------------------------------------------------------

PLACEHOLDERS = {A: [PLACEHOLDER_V4], AAAA: [PLACEHOLDER_V6], ANY: [PLACEHOLDER_V4, PLACEHOLDER_V6], MX: []}


@pytest.mark.parametrize(
    ("policy", "name", "qtype", "rcode", "expected"),
    [
        # internet off: registered globs get the placeholder, every other name NXDOMAIN (§9 DNS).
        ("virtual-offline", "my.kv", A, NOERROR, [PLACEHOLDER_V4]),
        ("virtual-offline", "my.kv", AAAA, NOERROR, [PLACEHOLDER_V6]),
        ("virtual-offline", "my.kv", ANY, NOERROR, [PLACEHOLDER_V4, PLACEHOLDER_V6]),
        ("virtual-offline", "my.kv", MX, NOERROR, []),  # the name exists, with no MX: empty NOERROR
        ("virtual-offline", "my.kv", HTTPS, NOERROR, []),
        ("virtual-offline", "a.b.internal.test", A, NOERROR, [PLACEHOLDER_V4]),  # * spans dots
        ("virtual-offline", "internal.test", A, NXDOMAIN, []),
        ("virtual-offline", "other.test", A, NXDOMAIN, []),
        ("virtual-offline", "other.test", MX, NXDOMAIN, []),
        ("virtual-offline", "real.test", A, NXDOMAIN, []),  # exists upstream, but the internet is off
        ("virtual-offline", "github.com", A, NXDOMAIN, []),  # connect_to is not a way around the policy
        ("ported-offline", "api.ported.test", A, NOERROR, [PLACEHOLDER_V4]),
        ("ported-offline", "ported.test", A, NXDOMAIN, []),
        ("by-ip-offline", "anything.test", AAAA, NOERROR, [PLACEHOLDER_V6]),
        ("catch-all-offline", "anything.test", A, NOERROR, [PLACEHOLDER_V4]),
        ("allowlist-offline", "b.test", A, NOERROR, [PLACEHOLDER_V4]),  # allowedHosts → intercept-all
        ("plain-offline", "my.kv", A, NXDOMAIN, []),  # nothing registered
        ("plain-offline", "real.test", A, NXDOMAIN, []),
        # internet on: upstream answers; its NXDOMAIN for an allowed name becomes the placeholder.
        ("virtual-online", "real.test", A, NOERROR, ["192.0.2.10"]),
        ("virtual-online", "real.test", AAAA, NOERROR, ["2001:db8::10"]),
        ("virtual-online", "real.test", ANY, NOERROR, ["192.0.2.10", "2001:db8::10"]),
        ("virtual-online", "real.test", TXT, NOERROR, []),
        ("virtual-online", "v4only.test", AAAA, NOERROR, []),
        ("virtual-online", "noaddr.test", A, NOERROR, []),
        ("virtual-online", "my.kv", A, NOERROR, [PLACEHOLDER_V4]),
        ("virtual-online", "my.kv", AAAA, NOERROR, [PLACEHOLDER_V6]),
        ("virtual-online", "x.internal.test", A, NOERROR, [PLACEHOLDER_V4]),
        ("virtual-online", "missing.test", A, NXDOMAIN, []),
        ("virtual-online", "missing.test", MX, NXDOMAIN, []),
        ("virtual-online", "broken.test", A, SERVFAIL, []),
        ("catch-all-online", "missing.test", A, NOERROR, [PLACEHOLDER_V4]),  # every name is allowed
        ("catch-all-online", "real.test", A, NOERROR, ["192.0.2.10"]),
        # no interception and internet on: resolves normally.
        ("plain-online", "real.test", A, NOERROR, ["192.0.2.10"]),
        ("plain-online", "my.kv", A, NXDOMAIN, []),
        ("plain-online", "missing.test", AAAA, NXDOMAIN, []),
    ],
)
async def test_answers_follow_the_policy(
    resolver: Resolver, policy: str, name: str, qtype: int, rcode: int, expected: list[str]
) -> None:
    response = await ask(resolver, policy, name, qtype)
    assert response.response_code == rcode
    assert answers(response) == expected
    assert all(record.ttl == TTL and record.name == name for record in response.answers)
    assert response.id == 0x1234 and not response.query and response.recursion_available
    assert [(q.name, q.type) for q in response.questions] == [(name, qtype)]


@pytest.mark.parametrize("policy", ["virtual-online", "plain-online", "catch-all-online"])
async def test_known_names_get_their_fake_ip_not_the_real_address(
    resolver: Resolver, fake_ips: FakeIPs, upstream: Upstream, policy: str
) -> None:
    for name in ("github.com", "api.example.test"):
        response = await ask(resolver, policy, name)
        assert answers(response) == [fake_ips.address(name)]
        assert fake_ips.name(answers(response)[0]) == name
        assert (await ask(resolver, policy, name, AAAA)).response_code == NOERROR
        assert answers(await ask(resolver, policy, name, AAAA)) == []
    assert upstream.asked == []  # connect_to is answered here, never looked up


async def test_names_compare_lower_cased_without_the_trailing_dot(resolver: Resolver) -> None:
    assert await resolver.resolve(POLICIES["virtual-offline"], "My.KV.") == PLACEHOLDER
    assert await resolver.resolve(POLICIES["virtual-offline"], "x.Internal.Test..") == PLACEHOLDER
    assert await resolver.resolve(POLICIES["virtual-offline"], "other.test") is None


async def test_the_answer_echoes_the_question_as_asked(resolver: Resolver) -> None:
    response = await ask(resolver, "virtual-offline", "WwW.Deep.INTERNAL.test")
    assert answers(response) == [PLACEHOLDER_V4]
    assert response.questions[0].name == "WwW.Deep.INTERNAL.test"  # as asked (0x20 case randomisation)
    assert response.answers[0].name == "WwW.Deep.INTERNAL.test"


async def test_no_system_resolution_means_upstream_knows_no_names(upstream: Upstream) -> None:
    resolver = Resolver(policy_for=PEERS.get, fake_ips=FakeIPs(), system=False, lookup=upstream)
    assert (await ask(resolver, "plain-online", "real.test")).response_code == NXDOMAIN
    assert answers(await ask(resolver, "virtual-online", "my.kv")) == [PLACEHOLDER_V4]
    assert upstream.asked == []


# -- nothing leaves for a denied name -----------------------------------------------------------------------


@pytest.mark.parametrize("policy", [name for name in POLICIES if name.endswith("-offline")])
async def test_internet_off_never_reaches_the_upstream_resolver(
    resolver: Resolver, upstream: Upstream, policy: str
) -> None:
    for name in ("real.test", "my.kv", "secret-data.exfil.test", "github.com"):
        for qtype in (A, AAAA, TXT, ANY):
            await ask(resolver, policy, name, qtype)
    assert upstream.asked == []


@pytest.mark.parametrize("policy", ["virtual-offline", "plain-online"])
async def test_names_with_huge_labels_are_nxdomain_and_never_looked_up(
    resolver: Resolver, upstream: Upstream, policy: str
) -> None:
    huge = ".".join(["a" * 63] * 4)  # 255 characters: longer than a host name may be
    assert (await ask(resolver, policy, huge)).response_code == NXDOMAIN
    assert (await ask(resolver, policy, "has space.test")).response_code == NXDOMAIN
    assert upstream.asked == []


async def test_the_upstream_is_asked_for_the_canonical_name_only(resolver: Resolver, upstream: Upstream) -> None:
    await ask(resolver, "plain-online", "Real.TEST")
    await ask(resolver, "plain-online", "real.test", AAAA)
    assert upstream.asked == ["real.test", "real.test"]


# -- what is not a plain query ------------------------------------------------------------------------------


async def test_unknown_peers_are_dropped_and_nothing_is_looked_up(resolver: Resolver, upstream: Upstream) -> None:
    assert await resolver.answer(query("real.test"), "10.99.0.1") is None
    assert upstream.asked == []


@pytest.mark.parametrize(
    "packet",
    [
        b"",
        b"\x12\x34",  # a header cut short
        query("x.test")[:-3],  # a question cut short
        query("x.test") + b"junk",  # trailing bytes
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01",  # 64-byte label
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x02\xff\xfe\x00\x00\x01\x00\x01",  # not ASCII
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01",  # a pointer loop
    ],
)
async def test_malformed_packets_are_dropped(resolver: Resolver, packet: bytes) -> None:
    assert await resolver.answer(packet, PEER_OF["virtual-online"]) is None


async def test_responses_are_never_answered(resolver: Resolver) -> None:
    response = await resolver.answer(query("my.kv"), PEER_OF["virtual-offline"])
    assert response is not None
    assert await resolver.answer(response, PEER_OF["virtual-offline"]) is None


@pytest.mark.parametrize(
    ("options", "rcode"),
    [
        ({"op_code": 2}, NOTIMP),  # STATUS
        ({"questions": 0}, FORMERR),
        ({"questions": 2}, FORMERR),
        ({"qclass": 3}, REFUSED),  # CHAOS: version.bind and friends
    ],
)
async def test_other_queries_get_an_error_code(resolver: Resolver, options: dict[str, int], rcode: int) -> None:
    response = await ask(resolver, "virtual-offline", "my.kv", **options)
    assert response.response_code == rcode
    assert response.answers == []


async def test_edns_is_acknowledged_and_large_answers_truncate(resolver: Resolver) -> None:
    plain = await ask(resolver, "plain-online", "many.test")  # 40 A records: 1 kB, over 512 bytes
    assert plain.truncation and plain.answers == [] and plain.response_code == NOERROR
    assert plain.additionals == []
    edns = await ask(resolver, "plain-online", "many.test", edns_payload=4096)
    assert not edns.truncation and len(edns.answers) == 40
    assert [(record.type, record.class_) for record in edns.additionals] == [(OPT, 1232)]
    small = await ask(resolver, "plain-online", "many.test", edns_payload=600)
    assert small.truncation and small.answers == []


def extended_errors(message: dns.Message) -> list[tuple[int, str]]:
    """The Extended DNS Errors (RFC 8914) in a response's OPT record: (INFO-CODE, EXTRA-TEXT) each."""
    found = []
    for record in message.additionals:
        data = record.data if record.type == OPT else b""
        while data:
            code, length = int.from_bytes(data[:2], "big"), int.from_bytes(data[2:4], "big")
            if code == 15:
                found.append((int.from_bytes(data[4:6], "big"), data[6 : 4 + length].decode()))
            data = data[4 + length :]
    return found


async def test_a_name_the_policy_refuses_says_why_to_clients_that_sent_edns(resolver: Resolver) -> None:
    refused = await ask(resolver, "virtual-offline", "other.test", edns_payload=1232)
    assert refused.response_code == NXDOMAIN  # production's answer, unchanged
    assert extended_errors(refused) == [(NOT_REGISTERED.info_code, NOT_REGISTERED.text)]
    assert NOT_REGISTERED.info_code == 15 and "enableInternet" in NOT_REGISTERED.text  # "Blocked", and the fix
    assert (await ask(resolver, "virtual-offline", "other.test")).additionals == []  # no EDNS, no OPT record
    for policy, name in (("virtual-offline", "my.kv"), ("virtual-online", "missing.test")):
        answer = await ask(resolver, policy, name, edns_payload=1232)
        assert extended_errors(answer) == []  # allowed, or NXDOMAIN from upstream: no reason of ours to give
    invalid = await ask(resolver, "virtual-online", "has space.test", edns_payload=1232)
    assert extended_errors(invalid) == [(0, NOT_A_HOST_NAME.text)]


# -- FakeIPs ------------------------------------------------------------------------------------------------


def test_fake_ips_are_stable_reversible_and_in_their_network() -> None:
    fake_ips = FakeIPs()
    first = fake_ips.address("github.com")
    assert ipaddress.ip_address(first) in FAKE_IP_NETWORK
    assert ipaddress.ip_address(first) not in (FAKE_IP_NETWORK.network_address, FAKE_IP_NETWORK.broadcast_address)
    assert fake_ips.address("GitHub.com.") == first
    assert FakeIPs().address("github.com") == first  # the same in every run
    assert fake_ips.address("gitlab.com") != first
    assert fake_ips.name(first) == "github.com"
    assert fake_ips.name(f"::ffff:{first}") == "github.com"  # as a dual-stack socket reports it
    assert fake_ips.name(PLACEHOLDER_V4) is None
    assert fake_ips.name("not an ip") is None


def test_fake_ips_resolve_collisions_and_run_out_loudly() -> None:
    fake_ips = FakeIPs(ipaddress.IPv4Network("10.0.0.0/30"))  # two usable addresses
    one, two = fake_ips.address("one.test"), fake_ips.address("two.test")
    assert {one, two} == {"10.0.0.1", "10.0.0.2"}
    assert (fake_ips.name(one), fake_ips.name(two)) == ("one.test", "two.test")
    with pytest.raises(ValueError) as caught:
        fake_ips.address("three.test")
    assert str(caught.value) == "no synthetic address left in 10.0.0.0/30 for 'three.test'"


def test_known_host_names_get_addresses_up_front() -> None:
    fake_ips = FakeIPs()
    Resolver(policy_for=PEERS.get, known=KNOWN, fake_ips=fake_ips, system=False)
    assert fake_ips.name(FakeIPs().address("api.example.test")) == "api.example.test"
    assert fake_ips.name(FakeIPs().address("github.com")) == "github.com"
    assert fake_ips.name(FakeIPs().address("10.1.2.3")) is None  # IP literals are not names


# -- the system resolver and the socket ---------------------------------------------------------------------


async def test_the_system_resolver_answers_from_the_hosts_file() -> None:
    resolver = Resolver(policy_for=PEERS.get, fake_ips=FakeIPs())
    response = await ask(resolver, "plain-online", "localhost")
    assert response.response_code == NOERROR
    assert "127.0.0.1" in answers(response)


class _Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.replies.put_nowait(data)


async def test_a_udp_round_trip(upstream: Upstream) -> None:
    served = {"127.0.0.1": POLICIES["virtual-offline"]}
    server = DnsServer(Resolver(policy_for=served.get, fake_ips=FakeIPs(), lookup=upstream))
    port = await server.start("127.0.0.1", 0)
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(_Client, remote_addr=("127.0.0.1", port))
    try:
        transport.sendto(query("my.kv", ident=7))
        reply = dns.Message.unpack(await asyncio.wait_for(client.replies.get(), 5))
        assert (reply.id, answers(reply)) == (7, [PLACEHOLDER_V4])
        transport.sendto(b"garbage")
        transport.sendto(query("denied.test", ident=8))
        reply = dns.Message.unpack(await asyncio.wait_for(client.replies.get(), 5))
        assert (reply.id, reply.response_code) == (8, NXDOMAIN)  # the garbage got no answer
        if shutil.which("dig"):
            await _dig(port)
    finally:
        transport.close()
        await server.close()
    assert upstream.asked == []


async def _dig(port: int) -> None:
    async def dig(*args: str) -> str:
        command = ["dig", "@127.0.0.1", "-p", str(port), "+tries=1", "+time=3", *args]
        process = await asyncio.create_subprocess_exec(*command, stdout=PIPE, stderr=PIPE)
        stdout, stderr = await process.communicate()
        assert process.returncode == 0, stderr.decode()
        return stdout.decode()

    assert (await dig("+short", "My.KV", "A")).split() == [PLACEHOLDER_V4]
    assert (await dig("+short", "api.internal.test", "AAAA")).split() == [PLACEHOLDER_V6]
    full = await dig("other.test", "A")
    assert "status: NXDOMAIN" in full
    assert f"; EDE: 15 (Blocked): ({NOT_REGISTERED.text})" in full  # dig shows the reason as it is
    assert "status: NOERROR" in await dig("my.kv", "MX")


async def test_queries_from_unknown_peers_get_no_reply() -> None:
    nobody: dict[str, Policy] = {}
    server = DnsServer(Resolver(policy_for=nobody.get, fake_ips=FakeIPs(), system=False))
    port = await server.start("127.0.0.1", 0)
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(_Client, remote_addr=("127.0.0.1", port))
    try:
        transport.sendto(query("my.kv"))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.replies.get(), 0.3)
    finally:
        transport.close()
        await server.close()


# -- DNS over TCP (RFC 1035 §4.2.2) -------------------------------------------------------------------------

TCP_PEERS = {"127.0.0.1": POLICIES["virtual-offline"], "127.0.0.2": POLICIES["plain-online"]}


def framed(message: bytes) -> bytes:
    return len(message).to_bytes(2, "big") + message


async def read_answer(reader: asyncio.StreamReader) -> dns.Message:
    length = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), 5), "big")
    return dns.Message.unpack(await asyncio.wait_for(reader.readexactly(length), 5))


async def closed_without_answer(reader: asyncio.StreamReader, within_s: float = 5) -> bool:
    """Whether the server closes the connection, sending nothing more, within ``within_s``."""
    try:
        return await asyncio.wait_for(reader.read(), within_s) == b""
    except ConnectionResetError:
        return True  # closed with bytes of ours unread: the kernel says so with a reset


@pytest.fixture
async def tcp_server(upstream: Upstream) -> AsyncIterator[tuple[DnsServer, int]]:
    server = DnsServer(
        Resolver(policy_for=TCP_PEERS.get, fake_ips=FakeIPs(), lookup=upstream),
        tcp_idle_timeout_s=0.5,
        max_tcp_connections=3,
        max_tcp_connections_per_sandbox=2,
    )
    port = await server.start("127.0.0.1", 0)
    try:
        yield server, port
    finally:
        await server.close()


async def test_udp_and_tcp_listen_on_one_port(tcp_server: tuple[DnsServer, int]) -> None:
    _, port = tcp_server
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(framed(query("my.kv", ident=1)))
    assert answers(await read_answer(reader)) == [PLACEHOLDER_V4]
    writer.close()
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(_Client, remote_addr=("127.0.0.1", port))
    transport.sendto(query("my.kv", ident=2))
    assert dns.Message.unpack(await asyncio.wait_for(client.replies.get(), 5)).id == 2
    transport.close()


async def test_several_queries_on_one_connection_are_answered_in_order(
    tcp_server: tuple[DnsServer, int], upstream: Upstream
) -> None:
    _, port = tcp_server
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    # Pipelined in one write, then one query split byte by byte (the server must reassemble partial reads).
    writer.write(framed(query("my.kv", ident=1)) + framed(query("other.test", ident=2)))
    split = framed(query("x.internal.test", AAAA, ident=3))
    for index in range(len(split)):
        writer.write(split[index : index + 1])
        await writer.drain()
        await asyncio.sleep(0.001)
    first, second, third = [await read_answer(reader) for _ in range(3)]
    assert (first.id, answers(first)) == (1, [PLACEHOLDER_V4])
    assert (second.id, second.response_code) == (2, NXDOMAIN)
    assert (third.id, answers(third)) == (3, [PLACEHOLDER_V6])
    writer.close()
    assert upstream.asked == []  # internet off: no name went anywhere


async def test_tcp_answers_are_never_truncated(tcp_server: tuple[DnsServer, int], upstream: Upstream) -> None:
    # 40 A records (1 kB) get TC over UDP without EDNS; the client's retry over TCP must get them all.
    resolver = Resolver(policy_for=TCP_PEERS.get, fake_ips=FakeIPs(), lookup=upstream)
    udp = await resolver.answer(query("many.test"), "127.0.0.2")
    assert udp is not None and dns.Message.unpack(udp).truncation
    reader, writer = await asyncio.open_connection("127.0.0.1", tcp_server[1], local_addr=("127.0.0.2", 0))
    writer.write(framed(query("many.test")))
    answer = await read_answer(reader)
    assert not answer.truncation and len(answer.answers) == 40
    writer.close()


@pytest.mark.parametrize(
    "sent",
    [
        (4097).to_bytes(2, "big") + b"x" * 100,  # longer than any query: closed before the body is awaited
        (0xFFFF).to_bytes(2, "big"),
        (0).to_bytes(2, "big"),
        (11).to_bytes(2, "big") + b"x" * 11,  # shorter than a header
        framed(b"\x12\x34" + b"garbage!" * 4),  # a plausible length, no DNS message
        framed(query("x.test") + b"junk"),
        framed(dns.Message.unpack(query("my.kv")).fail(3).packed),  # a response: never answered
    ],
)
async def test_what_is_no_query_closes_the_connection_unanswered(
    tcp_server: tuple[DnsServer, int], sent: bytes
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", tcp_server[1])
    writer.write(framed(query("my.kv", ident=9)) + sent)
    assert (await read_answer(reader)).id == 9  # what came before is answered
    assert await closed_without_answer(reader, within_s=0.4)  # at once: well before the 0.5 s idle timeout
    writer.close()


async def test_idle_and_trickling_connections_are_closed(tcp_server: tuple[DnsServer, int]) -> None:
    loop = asyncio.get_running_loop()
    idle_reader, idle = await asyncio.open_connection("127.0.0.1", tcp_server[1])
    started = loop.time()
    assert await closed_without_answer(idle_reader)
    assert 0.4 < loop.time() - started < 2
    # A query that arrives a byte every 0.1 s never completes within the idle timeout, however busy it looks.
    trickle_reader, trickle = await asyncio.open_connection("127.0.0.1", tcp_server[1])
    message = framed(query("my.kv"))
    started = loop.time()
    with pytest.raises(ConnectionError):
        for byte in message:
            trickle.write(bytes([byte]))
            await trickle.drain()
            await asyncio.sleep(0.1)
            if trickle_reader.at_eof():
                raise ConnectionResetError("closed by the server")
    assert await closed_without_answer(trickle_reader)
    assert loop.time() - started < 2
    idle.close()
    trickle.close()


async def test_tcp_from_an_unknown_peer_is_closed_at_once(
    tcp_server: tuple[DnsServer, int], upstream: Upstream
) -> None:
    # From 127.0.0.3: loopback, but no sandbox's address.
    reader, writer = await asyncio.open_connection("127.0.0.1", tcp_server[1], local_addr=("127.0.0.3", 0))
    assert await closed_without_answer(reader, within_s=0.4)  # before any query, well within the idle timeout
    writer.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", tcp_server[1], local_addr=("127.0.0.3", 0))
    writer.write(framed(query("real.test")))
    assert await closed_without_answer(reader, within_s=0.4)
    writer.close()
    assert upstream.asked == []


async def test_connections_past_the_limits_are_closed(tcp_server: tuple[DnsServer, int]) -> None:
    """Two connections per sandbox, three in all (the fixture's limits): past either, closed as they arrive."""
    port = tcp_server[1]

    async def connect(source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))

    async def served(connection: tuple[asyncio.StreamReader, asyncio.StreamWriter], ident: int) -> bool:
        connection[1].write(framed(query("my.kv", ident=ident)))
        try:
            return (await read_answer(connection[0])).id == ident
        except (asyncio.IncompleteReadError, ConnectionResetError):
            return False

    first = [await connect("127.0.0.1") for _ in range(3)]
    assert [await served(connection, 1) for connection in first] == [True, True, False]  # a sandbox's third
    other = [await connect("127.0.0.2") for _ in range(2)]
    assert [await served(connection, 2) for connection in other] == [True, False]  # the fourth in all
    first[0][1].close()
    await asyncio.sleep(0.05)
    again = await connect("127.0.0.2")
    assert await served(again, 3)  # room again
    for _, writer in (*first, *other, again):
        writer.close()


class BlockedUpstream(Upstream):
    """An upstream that answers nothing until released: queries pile up as pending."""

    def __init__(self) -> None:
        super().__init__()
        self.released = asyncio.Event()

    async def __call__(self, name: str) -> Addresses | None:
        self.asked.append(name)
        await self.released.wait()
        return self.TABLE.get(name)


async def test_past_the_pending_limit_udp_queries_are_dropped_and_tcp_connections_closed() -> None:
    upstream = BlockedUpstream()
    server = DnsServer(Resolver(policy_for=TCP_PEERS.get, fake_ips=FakeIPs(), lookup=upstream))
    port = await server.start("127.0.0.1", 0)
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(
        _Client, local_addr=("127.0.0.2", 0), remote_addr=("127.0.0.1", port)
    )
    try:
        for ident in range(MAX_PENDING_QUERIES + 1):  # one more than may be pending
            transport.sendto(query("real.test", ident=ident))
        for _ in range(100):
            if len(upstream.asked) >= MAX_PENDING_QUERIES:
                break
            await asyncio.sleep(0.02)
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.2", 0))
        writer.write(framed(query("real.test")))
        assert await closed_without_answer(reader, within_s=2)
        writer.close()
        assert len(upstream.asked) == MAX_PENDING_QUERIES  # neither the extra UDP query nor the TCP one
        upstream.released.set()
        replies = {dns.Message.unpack(await asyncio.wait_for(client.replies.get(), 5)).id for _ in upstream.asked}
        assert len(replies) == MAX_PENDING_QUERIES
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.replies.get(), 0.2)  # the dropped one stays unanswered
    finally:
        transport.close()
        await server.close()


async def test_close_ends_open_tcp_connections(upstream: Upstream) -> None:
    server = DnsServer(Resolver(policy_for=TCP_PEERS.get, fake_ips=FakeIPs(), lookup=upstream))
    port = await server.start("127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(framed(query("my.kv")))
    await read_answer(reader)
    await server.close()
    assert await closed_without_answer(reader, within_s=1)
    writer.close()


@pytest.mark.skipif(shutil.which("dig") is None, reason="dig is not installed")
async def test_dig_over_tcp(tcp_server: tuple[DnsServer, int]) -> None:
    command = ["dig", "@127.0.0.1", "-p", str(tcp_server[1]), "+tcp", "+tries=1", "+time=3"]
    process = await asyncio.create_subprocess_exec(*command, "+short", "my.kv", stdout=PIPE, stderr=PIPE)
    stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    assert stdout.decode().split() == [PLACEHOLDER_V4]
    # +keepopen: several queries on one connection, as resolvers that speak TCP do.
    process = await asyncio.create_subprocess_exec(
        *command, "+keepopen", "my.kv", "A", "my.kv", "AAAA", "+short", stdout=PIPE, stderr=PIPE
    )
    stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    assert stdout.decode().split() == [PLACEHOLDER_V4, PLACEHOLDER_V6]
