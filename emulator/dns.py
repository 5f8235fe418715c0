"""The sandbox's DNS resolver: which names resolve, and to what, follows the querying sandbox's policy.

Contract §2.4, after wrangler dev's proxy-everything sidecar (``dns.go``), which production matches ("your
outbound configuration decides which DNS lookups resolve"):

- The allow-list is every hostname glob the sandbox's interception registered (``interception_table``,
  HTTP and HTTPS alike), or every name once any IP/CIDR registration exists (intercept-all registers
  ``0.0.0.0/0``). Globs match the lower-cased name without its trailing dot.
- ``enableInternet`` off: an allowed name gets the placeholder (A ``11.0.0.1``, AAAA ``fd00::1``, TTL 60), so
  the client connects and the proxy routes by Host/SNI; any other name is NXDOMAIN and nothing is looked up
  anywhere, so a denied name cannot carry data out through DNS. A client that sent EDNS also gets the reason
  as an Extended DNS Error (RFC 8914, "Blocked"), production's rcode unchanged: ours, where it is silent.
- ``enableInternet`` on: the name is resolved upstream (here: the system resolver, ``getaddrinfo`` off the
  event loop); NXDOMAIN for an allowed name becomes the placeholder, which is how virtual hosts such as
  ``my.kv`` resolve. Names in ``connect_to`` (the emulator's stand-in for DNS in tests and local
  development) resolve to a stable synthetic address from ``FakeIPs`` instead, never to the real target:
  the proxy maps the address back to the name, and the sandbox never learns where ``connect_to`` points.

Record types, as a resolver that knows only addresses answers: A and AAAA get the addresses of that family
(none is an empty NOERROR, "no data"); ANY gets both, as dns.go's placeholder does; every other type (MX,
TXT, HTTPS, …) gets an empty NOERROR when the name exists and NXDOMAIN when it does not. An empty NOERROR
rather than NXDOMAIN matters: NXDOMAIN says the name has no records of any type (RFC 8020), and a stub that
caches it would then also fail the name's A lookup.

Where it sits: the sandbox's resolv.conf points at a ``DnsServer`` (plain asyncio UDP and TCP endpoints on
one port, not mitmproxy's DNS mode, which crashes at interpreter exit here). nftables sends DNS to any
server there, UDP and TCP alike (netns.py): TCP/53 is DNS too (a truncated UDP answer is retried over TCP,
and ``dig +tcp @8.8.8.8`` asks that way on purpose), and were it treated as any other port it would be
refused with the internet off and, with it on, dialled to the resolver it names, where the policy's view of
DNS does not reach. (Wrangler's sidecar captures UDP/53 only, so there TCP/53 is such a port; answering it
here is stricter with the internet on and, with it off, tells a sandbox nothing UDP would not.) Messages
are parsed and built with ``mitmproxy.dns`` (pure Python), the only mitmproxy import in this module. A query
from an address that belongs to no sandbox is dropped unanswered (over TCP: the connection is closed at
once), as are malformed packets.

DNS over TCP (RFC 1035 §4.2.2, RFC 7766): each message is preceded by its length in two bytes. Queries on one
connection are answered one after another, in order (RFC 7766 lets a server answer pipelined queries
concurrently; one at a time bounds what one connection costs). The connection is closed, without an answer,
on a length that is no query's (under a header's 12 bytes, over ``MAX_TCP_QUERY_BYTES``), on a malformed
query, when ``MAX_PENDING_QUERIES`` are being answered already, when a message takes longer than
``TCP_IDLE_TIMEOUT_S`` to arrive (idle and trickling alike), and past ``MAX_TCP_CONNECTIONS`` open connections
(``MAX_TCP_CONNECTIONS_PER_SANDBOX`` from one sandbox).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import re
import socket
import struct
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from mitmproxy import dns

from emulator.decide import interception_table
from emulator.hosts import wildcard_match
from emulator.policy import Policy

logger = logging.getLogger(__name__)

PLACEHOLDER_V4 = "11.0.0.1"  # contract §2.4, dns.go dnsAllowedIPv4
PLACEHOLDER_V6 = "fd00::1"  # contract §2.4, dns.go dnsAllowedIPv6
TTL = 60  # contract §2.4: every synthetic answer
FAKE_IP_NETWORK = ipaddress.IPv4Network("11.128.0.0/9")  # ours; 11.0.0.1 (the placeholder) lies outside it
SYSTEM_TIMEOUT_S = 5.0  # dns.go dnsUpstreamTimeout
MAX_PENDING_QUERIES = 256  # queries being answered at once; more are dropped (a flood must not pile up lookups)
MAX_NAME_CHARS = 253  # RFC 1035: 255 octets on the wire
PLAIN_UDP_PAYLOAD_BYTES = 512  # RFC 1035 §4.2.1, without EDNS
EDNS_PAYLOAD_BYTES = 1232  # what we advertise (DNS Flag Day 2020)
TCP_MESSAGE_BYTES = 65535  # RFC 1035 §4.2.2: the two-byte length prefix's limit; no truncation below it
HEADER_BYTES = 12  # RFC 1035 §4.1.1: a shorter message is no query
# A query holds one name (255 octets) and an OPT record; padding (RFC 7830) and cookies stay far below this.
MAX_TCP_QUERY_BYTES = 4096
MAX_TCP_CONNECTIONS = 128  # open at once, all sandboxes together; more are closed as they arrive
MAX_TCP_CONNECTIONS_PER_SANDBOX = 16  # so that one sandbox holding connections open cannot starve the others
TCP_IDLE_TIMEOUT_S = 10.0  # RFC 7766 §6.2.3: seconds, not minutes; also the time one message may take to arrive

# RFC 1035 / RFC 6891 numbers, so that only mitmproxy.dns is imported.
TYPE_A, TYPE_AAAA, TYPE_OPT, TYPE_ANY = 1, 28, 41, 255
CLASS_IN, CLASS_ANY = 1, 255
OPCODE_QUERY = 0
RCODE_FORMERR, RCODE_SERVFAIL, RCODE_NXDOMAIN, RCODE_NOTIMP, RCODE_REFUSED = 1, 2, 3, 4, 5

# Letters, digits, hyphens and underscores (SRV/DMARC-style labels), dot-separated, after IDNA encoding.
_HOSTNAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")


@dataclass(frozen=True)
class Addresses:
    """What a name resolves to. Both empty: the name exists but has no address ("no data")."""

    v4: tuple[str, ...] = ()
    v6: tuple[str, ...] = ()


PLACEHOLDER = Addresses(v4=(PLACEHOLDER_V4,), v6=(PLACEHOLDER_V6,))

Lookup = Callable[[str], Awaitable[Addresses | None]]
"""Resolves a name upstream: its addresses, or None for NXDOMAIN; raises OSError when it cannot tell."""

Transport = Literal["udp", "tcp"]


@dataclass(frozen=True)
class ExtendedError:
    """An Extended DNS Error (RFC 8914): why a name did not resolve, in words, for clients that sent EDNS.

    The rcode stays what production answers (NXDOMAIN); the option only adds the reason, which `dig` prints
    (``; EDE: 15 (Blocked): (…)``) and a stub resolver ignores."""

    info_code: int
    text: str


OPTION_EDE = 15  # RFC 8914 §2
NOT_REGISTERED = ExtendedError(
    15,  # Blocked: "blocked due to a security policy implemented on the server being directly talked to"
    "outbound: not resolved for this sandbox: its class has enableInternet = false and no outboundByHost, "
    "outbound or allowedHosts entry for this name (contract 2.4); add one, or set enableInternet = true",
)
NOT_A_HOST_NAME = ExtendedError(
    0,  # Other
    "outbound: not a host name (over 253 characters, or characters no host name has); not looked up",
)


class FakeIPs:
    """Stable synthetic IPv4 addresses from 11.128.0.0/9 for the names the emulator knows, both ways.

    An address comes from a hash of the name, so the same name gets the same address in every run unless
    two names collide (then the later one takes the next free address).
    """

    def __init__(self, network: ipaddress.IPv4Network = FAKE_IP_NETWORK) -> None:
        self._network = network
        self._by_name: dict[str, str] = {}
        self._by_ip: dict[str, str] = {}

    def address(self, name: str) -> str:
        name = _canonical(name)
        known = self._by_name.get(name)
        if known is not None:
            return known
        usable = self._network.num_addresses - 2  # neither the network nor the broadcast address
        if len(self._by_ip) >= usable:
            raise ValueError(f"no synthetic address left in {self._network} for {name!r}")
        index = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % usable
        while (ip := str(self._network[1 + index])) in self._by_ip:
            index = (index + 1) % usable
        self._by_name[name], self._by_ip[ip] = ip, name
        return ip

    def name(self, ip: str) -> str | None:
        """The name ``ip`` was given to, or None when it is not one of ours (IPv4-mapped IPv6 included)."""
        try:
            address = ipaddress.ip_address(ip.strip("[]"))
        except ValueError:
            return None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # what a dual-stack socket reports for an IPv4 peer
        return self._by_ip.get(str(address))


# "Name exists, no address of this kind": glibc's EAI_NODATA / EAI_ADDRFAMILY (absent on some platforms).
_EAI_NO_DATA = {getattr(socket, name) for name in ("EAI_NODATA", "EAI_ADDRFAMILY") if hasattr(socket, name)}


async def system_lookup(name: str) -> Addresses | None:
    """The host's resolver (``getaddrinfo``: /etc/hosts, then DNS), in a worker thread, with a timeout."""
    loop = asyncio.get_running_loop()
    try:
        # AF_UNSPEC asks for both families at once: a name with only an A record still exists for AAAA.
        infos = await asyncio.wait_for(loop.getaddrinfo(name, None, type=socket.SOCK_STREAM), SYSTEM_TIMEOUT_S)
    except socket.gaierror as error:
        if error.errno == socket.EAI_NONAME:
            return None
        if error.errno in _EAI_NO_DATA:
            return Addresses()
        raise  # EAI_AGAIN, EAI_FAIL, …: the answer is unknown, not "no such name"
    v4 = [str(info[4][0]) for info in infos if info[0] == socket.AF_INET]
    v6 = [str(info[4][0]) for info in infos if info[0] == socket.AF_INET6]
    return Addresses(v4=tuple(dict.fromkeys(v4)), v6=tuple(dict.fromkeys(v6)))


class Resolver:
    """Answers one sandbox query by that sandbox's policy (module docstring; contract §2.4)."""

    def __init__(
        self,
        *,
        policy_for: Callable[[str], Policy | None],
        known: Mapping[str, str] | None = None,
        fake_ips: FakeIPs,
        system: bool = True,
        lookup: Lookup = system_lookup,
    ) -> None:
        """``policy_for`` maps the querying sandbox's IP to its policy (None: not a sandbox). ``known`` is
        ``connect_to`` ("host[:port]" → "address:port"); its host names resolve to ``fake_ips``. With
        ``system`` off, nothing is resolved upstream (every other name is NXDOMAIN there). ``lookup`` is the
        upstream resolver; tests give a fixed table.
        """
        self._policy_for = policy_for
        self._fake_ips = fake_ips
        self._system = system
        self._lookup = lookup
        self._known = frozenset(_known_names(known or {}))
        for name in sorted(self._known):  # sorted: collisions resolve the same way on every start
            fake_ips.address(name)

    def serves(self, peer_ip: str) -> bool:
        """Whether ``peer_ip`` is a sandbox's (anyone else is told nothing, not even that we listen)."""
        return self._policy_for(peer_ip) is not None

    async def answer(self, query: bytes, peer_ip: str, transport: Transport = "udp") -> bytes | None:
        """The response to one DNS query from ``peer_ip``; None when it is dropped unanswered.

        Over UDP an answer longer than the client's payload size is cut to its header and question with TC set
        (RFC 1035 §4.2.1), so the client asks again over TCP, where the whole answer fits."""
        policy = self._policy_for(peer_ip)
        if policy is None:
            return None  # not a sandbox: stay silent rather than tell a stranger anything
        try:
            request = dns.Message.unpack(query)
        except (struct.error, ValueError):  # ValueError includes UnicodeError from IDNA labels
            return None
        if not request.query:
            return None  # a response sent to us: never answer it (no reflection loops)
        response = await self._respond(request, policy)
        return _pack(response, _payload_limit(request) if transport == "udp" else TCP_MESSAGE_BYTES)

    async def resolve(self, policy: Policy, name: str) -> Addresses | None:
        """What ``name`` resolves to for a sandbox with ``policy``: addresses, or None for NXDOMAIN.

        Raises OSError when the upstream resolver cannot answer (the sandbox gets SERVFAIL).
        """
        name = _canonical(name)
        allowed = self._allowed(policy, name)
        if not policy.instance.enable_internet:
            return PLACEHOLDER if allowed else None
        if name in self._known:
            return Addresses(v4=(self._fake_ips.address(name),))
        upstream = await self._lookup(name) if self._system else None
        if upstream is None and allowed:
            return PLACEHOLDER  # dns.go: NXDOMAIN for an allowed name becomes the synthetic answer
        return upstream

    @staticmethod
    def _allowed(policy: Policy, name: str) -> bool:
        http, https = interception_table(policy)
        for address in (*http, *https):
            if address.network is not None:
                return True  # dns.go getDnsAllowHostnames: any IP/CIDR mapping allows every name
            pattern = (address.glob or "").rstrip(".")  # dns.go normalizeDNSAllowPatterns
            if pattern and wildcard_match(pattern, name):
                return True
        return False

    async def _respond(self, request: dns.Message, policy: Policy) -> dns.Message:
        if request.op_code != OPCODE_QUERY:
            return _fail(request, RCODE_NOTIMP)
        if len(request.questions) != 1:
            return _fail(request, RCODE_FORMERR)  # every resolver in use sends exactly one question
        question = request.questions[0]
        if question.class_ not in (CLASS_IN, CLASS_ANY):
            return _fail(request, RCODE_REFUSED)  # CHAOS (version.bind, …) and friends: nothing to say
        name = _query_name(question.name)
        if name is None:
            return _fail(request, RCODE_NXDOMAIN, NOT_A_HOST_NAME)  # nothing to look up, nothing forwarded
        try:
            addresses = await self.resolve(policy, name)
        except OSError as error:  # TimeoutError included
            logger.warning("DNS: resolving %s failed: %s; answering SERVFAIL", name, error)
            return _fail(request, RCODE_SERVFAIL)
        if addresses is None:
            # With the internet off, the policy said no (nothing was asked); with it on, the upstream did.
            return _fail(request, RCODE_NXDOMAIN, None if policy.instance.enable_internet else NOT_REGISTERED)
        return _succeed(request, _records(question, addresses))


def _records(question: dns.Question, addresses: Addresses) -> list[dns.ResourceRecord]:
    records = []
    if question.type in (TYPE_A, TYPE_ANY):
        records += [dns.ResourceRecord.A(question.name, ipaddress.IPv4Address(ip), ttl=TTL) for ip in addresses.v4]
    if question.type in (TYPE_AAAA, TYPE_ANY):
        records += [dns.ResourceRecord.AAAA(question.name, ipaddress.IPv6Address(ip), ttl=TTL) for ip in addresses.v6]
    return records  # other types: the name exists, with no records of that type (empty NOERROR)


def _succeed(request: dns.Message, records: list[dns.ResourceRecord]) -> dns.Message:
    response = request.succeed(records)
    _add_edns(request, response)
    return response


def _fail(request: dns.Message, rcode: int, why: ExtendedError | None = None) -> dns.Message:
    response = request.fail(rcode)
    response.recursion_available = True  # we are the sandbox's recursive resolver, whatever the answer
    _add_edns(request, response, why)
    return response


def _add_edns(request: dns.Message, response: dns.Message, why: ExtendedError | None = None) -> None:
    # RFC 6891 §6.1.1: a responder that understood the requester's OPT record includes one of its own.
    if any(record.type == TYPE_OPT for record in request.additionals):
        options = b""
        if why is not None:  # RFC 8914 §2: option code, length, INFO-CODE, EXTRA-TEXT
            data = why.info_code.to_bytes(2, "big") + why.text.encode()
            options = OPTION_EDE.to_bytes(2, "big") + len(data).to_bytes(2, "big") + data
        response.additionals = [dns.ResourceRecord("", TYPE_OPT, EDNS_PAYLOAD_BYTES, 0, options)]


def _payload_limit(request: dns.Message) -> int:
    for record in request.additionals:
        if record.type == TYPE_OPT:
            return max(PLAIN_UDP_PAYLOAD_BYTES, min(record.class_, EDNS_PAYLOAD_BYTES))
    return PLAIN_UDP_PAYLOAD_BYTES


def _pack(response: dns.Message, limit: int) -> bytes | None:
    try:
        packed = response.packed
        if len(packed) > limit:  # RFC 1035 §4.2.1: send what fits and set TC
            response.answers = []
            response.truncation = True
            packed = response.packed
    except (ValueError, struct.error):  # the question cannot be packed back (IDNA): drop, as malformed
        return None
    return packed


def _query_name(raw: str) -> str | None:
    """The question's name as policies compare it (lower-case A-labels, no trailing dot), or None."""
    try:
        name = raw.encode("idna").decode("ascii")  # mitmproxy decodes punycode labels; compare A-labels
    except UnicodeError:
        return None
    name = _canonical(name)
    if len(name) > MAX_NAME_CHARS or not _HOSTNAME.fullmatch(name):
        return None
    return name


def _canonical(name: str) -> str:
    return name.lower().rstrip(".")


def _known_names(known: Mapping[str, str]) -> set[str]:
    """Host names among ``connect_to``'s "host[:port]" keys (IP literals need no DNS)."""
    names = set()
    for key in known:
        if key.startswith("["):
            continue  # a bracketed IPv6 literal
        host = key.partition(":")[0] if key.count(":") == 1 else key
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if host:
                names.add(_canonical(host))
    return names


class DnsServer:
    """UDP and TCP endpoints on one port in front of a ``Resolver``: the address a sandbox's resolv.conf names."""

    def __init__(
        self,
        resolver: Resolver,
        *,
        tcp_idle_timeout_s: float = TCP_IDLE_TIMEOUT_S,
        max_tcp_connections: int = MAX_TCP_CONNECTIONS,
        max_tcp_connections_per_sandbox: int = MAX_TCP_CONNECTIONS_PER_SANDBOX,
    ) -> None:
        self._resolver = resolver
        self._idle_timeout_s = tcp_idle_timeout_s
        self._max_tcp_connections = max_tcp_connections
        self._max_tcp_connections_per_sandbox = max_tcp_connections_per_sandbox
        self._connections_of: dict[str, int] = {}  # open TCP connections per peer address (sandbox)
        self._transport: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # UDP queries being answered
        self._connections: set[asyncio.Task[None]] = set()  # TCP connections being served
        self._tcp_answering = 0  # TCP queries being answered

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` over UDP and TCP (port 0 picks one free for both); returns the bound port."""
        for _ in range(20 if port == 0 else 1):
            bound = await self._start_udp(host, port)
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, host, bound)
            except OSError:
                self._transport_close()
                if port != 0:
                    raise
                continue  # the UDP port was free, its TCP twin not: another try
            return bound
        raise OSError(f"no port on {host} was free for both UDP and TCP DNS after 20 tries")

    async def _start_udp(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), local_addr=(host, port))
        self._transport = transport
        bound: int = transport.get_extra_info("sockname")[1]
        return bound

    def _transport_close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def close(self) -> None:
        """Stop listening, close TCP connections and abandon queries still being answered."""
        self._transport_close()
        if self._tcp is not None:
            self._tcp.close()
            self._tcp = None
        tasks = [*self._tasks, *self._connections]
        self._tasks, self._connections = set(), set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def _pending(self) -> int:
        return len(self._tasks) + self._tcp_answering

    # -- UDP -------------------------------------------------------------------------------------------------
    def _received(self, data: bytes, peer: tuple[str, int]) -> None:
        if self._pending >= MAX_PENDING_QUERIES:
            return  # overloaded: a dropped query is retried by the client, a queue would only grow
        task = asyncio.get_running_loop().create_task(self._reply(data, peer), name=f"dns query from {peer[0]}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reply(self, data: bytes, peer: tuple[str, int]) -> None:
        response = await self._answer(data, peer[0], "udp")
        if response is not None and self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(response, peer)

    async def _answer(self, data: bytes, peer_ip: str, transport: Transport) -> bytes | None:
        try:
            return await self._resolver.answer(data, peer_ip, transport)
        except Exception:  # the boundary: one bad query must not take the server down
            logger.exception("DNS: answering a query from %s over %s failed", peer_ip, transport.upper())
            return None

    # -- TCP (RFC 1035 §4.2.2; limits in the module docstring) ------------------------------------------------
    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer_ip = str(writer.get_extra_info("peername")[0])
        counted = False
        try:
            if not self._resolver.serves(peer_ip) or not self._room_for(peer_ip):
                return
            self._connections.add(task)
            self._connections_of[peer_ip] = self._connections_of.get(peer_ip, 0) + 1
            counted = True
            while (query := await self._read_query(reader)) is not None:
                if self._pending >= MAX_PENDING_QUERIES:
                    return  # overloaded, as over UDP: the client asks again
                self._tcp_answering += 1
                try:
                    response = await self._answer(query, peer_ip, "tcp")
                finally:
                    self._tcp_answering -= 1
                if response is None:
                    return  # malformed: nothing sensible follows on this connection
                writer.write(len(response).to_bytes(2, "big") + response)
                await asyncio.wait_for(writer.drain(), self._idle_timeout_s)
        except (OSError, TimeoutError):
            pass  # the client went away or stopped reading: nothing to tell it
        except asyncio.CancelledError:
            # Only close() cancels a connection: end as if it closed, or asyncio reports the cancellation as an
            # "unhandled exception in client_connected_cb".
            pass
        finally:
            self._connections.discard(task)
            if counted:
                self._connections_of[peer_ip] -= 1
                if not self._connections_of[peer_ip]:
                    del self._connections_of[peer_ip]
            writer.close()

    def _room_for(self, peer_ip: str) -> bool:
        return (
            len(self._connections) < self._max_tcp_connections
            and self._connections_of.get(peer_ip, 0) < self._max_tcp_connections_per_sandbox
        )

    async def _read_query(self, reader: asyncio.StreamReader) -> bytes | None:
        """The next length-prefixed message, or None: the connection ended, sent no query's length, or did not
        complete a message within the idle timeout (one deadline for the whole message: trickling is idling)."""
        try:
            return await asyncio.wait_for(_read_message(reader), self._idle_timeout_s)
        except (asyncio.IncompleteReadError, TimeoutError, OSError):
            return None


async def _read_message(reader: asyncio.StreamReader) -> bytes | None:
    length = int.from_bytes(await reader.readexactly(2), "big")
    if not HEADER_BYTES <= length <= MAX_TCP_QUERY_BYTES:
        return None  # not a query: never wait for (or buffer) the 64 KiB a client may promise
    return await reader.readexactly(length)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self._server = server

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self._server._received(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        # ICMP errors for earlier replies (a client that went away); nothing to do but note it.
        logger.debug("DNS: socket error: %s", exc)
