"""Sandbox networks in real namespaces with real nftables: what a sandbox can reach, and what is left behind.

The "proxy" here is a plain asyncio TCP listener on 0.0.0.0:<proxy_port> that records each connection's peer
and its SO_ORIGINAL_DST; the "DNS server" a UDP listener that answers every A query with 192.0.2.99 (and, in the
TCP/53 test, a TCP listener on the same port that answers the same).
Probes run inside a namespace through ``ip netns exec`` (as root there, which a launched command is not).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import pytest
import pytest_asyncio

from emulator.errors import UserError
from emulator.netns import DEFAULT_STATE_DIR, NetworkManager, SandboxNetwork, default_owner

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(NetworkManager.check() is not None, reason=f"no capture here: {NetworkManager.check()}"),
]

# The real state directory: a test run that crashed leaves records there, and the next run's start() cleans up.
STATE_DIR = DEFAULT_STATE_DIR
SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h
DNS_ANSWER = "192.0.2.99"


def owner_for_test(letter: str) -> str:
    """Owners unique among concurrent test runs: a letter and the pid in base 36 (4 digits)."""
    return letter + default_owner(os.getpid() % 36**4).rjust(4, "0")


@dataclass
class Proxy:
    """A TCP listener standing in for mitmproxy: who connected, and where they meant to go."""

    port: int = 0
    seen: list[tuple[str, tuple[str, int]]] = field(default_factory=list)
    server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock: socket.socket = writer.get_extra_info("socket")
        raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
        original = (socket.inet_ntoa(raw[4:8]), int.from_bytes(raw[2:4], "big"))
        self.seen.append((writer.get_extra_info("peername")[0], original))
        try:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nproxy")
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


class Dns(asyncio.DatagramProtocol):
    """Answers every query with one A record; records (peer, name)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # 3.11's selector transport is not a subclass

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(self.answer(data, str(addr[0])), addr)

    def answer(self, data: bytes, peer: str) -> bytes:
        labels, i = [], 12
        while data[i]:
            labels.append(data[i + 1 : i + 1 + data[i]].decode())
            i += 1 + data[i]
        question = data[12 : i + 5]
        self.seen.append((peer, ".".join(labels)))
        header = data[:2] + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00"
        answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + socket.inet_aton(DNS_ANSWER)
        return header + question + answer

    async def serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One length-prefixed query (RFC 1035 §4.2.2), answered as over UDP."""
        try:
            query = await reader.readexactly(int.from_bytes(await reader.readexactly(2), "big"))
            response = self.answer(query, str(writer.get_extra_info("peername")[0]))
            writer.write(len(response).to_bytes(2, "big") + response)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@dataclass
class Listener:
    """A plain TCP listener that must never see a sandbox."""

    host: str
    accepted: list[str] = field(default_factory=list)
    port: int = 0
    server: asyncio.Server | None = None

    async def start(self) -> Listener:
        async def handle(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.accepted.append(writer.get_extra_info("peername")[0])
            writer.close()

        self.server = await asyncio.start_server(handle, self.host, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self


@dataclass
class World:
    manager: NetworkManager
    proxy: Proxy
    dns: Dns
    a: SandboxNetwork
    b: SandboxNetwork


@pytest_asyncio.fixture(scope="module")
async def world() -> AsyncIterator[World]:
    proxy = Proxy()
    proxy.server = await asyncio.start_server(proxy.handle, "0.0.0.0", 0)
    proxy.port = proxy.server.sockets[0].getsockname()[1]
    dns = Dns()
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(lambda: dns, local_addr=("0.0.0.0", 0))
    manager = NetworkManager(
        owner=owner_for_test("m"),
        proxy_port=proxy.port,
        dns_port=transport.get_extra_info("sockname")[1],
        state_dir=STATE_DIR,
    )
    await manager.start()
    try:
        yield World(manager, proxy, dns, await manager.create("sandbox-a"), await manager.create("sandbox-b"))
    finally:
        await manager.close()
        transport.close()
        proxy.server.close()


async def in_netns(netns: str, *argv: str, timeout: float = 15) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", netns, *argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def python_in(netns: str, code: str) -> object:
    """Run Python in the namespace (as root there); its last stdout line is JSON."""
    code_, out, err = await in_netns(netns, sys.executable, "-c", code)
    assert code_ == 0, err
    return json.loads(out.splitlines()[-1])


def host_address() -> str:
    """An address of the host outside the sandbox subnet (eth0's), to check it is not reachable either."""
    out = subprocess.run(["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True, check=True).stdout
    for link in json.loads(out):
        for info in link.get("addr_info", []):
            if link["ifname"] != "lo" and not info["local"].startswith("10.213."):
                return str(info["local"])
    pytest.skip("the host has no address besides loopback and sandboxes")


CONNECT = """
import json, socket, sys
results = {}
for host, port in json.loads(sys.argv[1]):
    s = socket.socket()
    s.settimeout(1.5)
    try:
        s.connect((host, port))
        s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
        results[f"{host}:{port}"] = data.split(b"\\r\\n\\r\\n")[-1].decode()
    except OSError as e:
        results[f"{host}:{port}"] = type(e).__name__
    finally:
        s.close()
print(json.dumps(results))
"""


async def connect_from(netns: str, targets: list[tuple[str, int]]) -> object:
    return await python_in(netns, f"import sys; sys.argv[1:] = [{json.dumps(json.dumps(targets))}]\n{CONNECT}")


# -- capture ----------------------------------------------------------------------------------------------


async def test_tcp_to_any_address_and_port_arrives_at_the_proxy_with_its_original_destination(world: World) -> None:
    a, b = world.a, world.b
    code, out, err = await in_netns(a.netns, "curl", "-s", "--max-time", "5", "http://198.51.100.7/")
    assert (code, out) == (0, "proxy"), err
    code, out, err = await in_netns(a.netns, "curl", "-s", "--max-time", "5", "http://198.51.100.7:8080/x")
    assert (code, out) == (0, "proxy"), err
    assert await connect_from(a.netns, [("203.0.113.5", 22)]) == {"203.0.113.5:22": "proxy"}
    assert await connect_from(b.netns, [("203.0.113.6", 443)]) == {"203.0.113.6:443": "proxy"}

    assert world.proxy.seen[-4:] == [
        (a.sandbox_ip, ("198.51.100.7", 80)),
        (a.sandbox_ip, ("198.51.100.7", 8080)),
        (a.sandbox_ip, ("203.0.113.5", 22)),
        (b.sandbox_ip, ("203.0.113.6", 443)),
    ]
    assert [world.manager.sandbox_for_ip(peer) for peer, _ in world.proxy.seen[-4:]] == ["sandbox-a"] * 3 + [
        "sandbox-b"
    ]


async def test_dns_to_any_server_arrives_at_the_dns_listener(world: World) -> None:
    a = world.a
    for server in ("8.8.8.8", a.host_ip, "203.0.113.53"):
        code, out, err = await in_netns(a.netns, "dig", f"@{server}", "example.test", "+short", "+time=2", "+tries=1")
        assert (code, out.strip()) == (0, DNS_ANSWER), err
    assert world.dns.seen[-3:] == [(a.sandbox_ip, "example.test")] * 3


async def test_dns_over_tcp_to_any_server_arrives_at_the_dns_port_not_the_proxy(world: World) -> None:
    a = world.a
    dns = Dns()
    try:  # TCP on the DNS port: the emulator's resolver listens there on both (dns.py)
        server = await asyncio.start_server(dns.serve_tcp, "0.0.0.0", world.manager.dns_port)
    except OSError as error:
        pytest.skip(f"TCP port {world.manager.dns_port} (the UDP DNS port) is taken here: {error}")
    before = len(world.proxy.seen)
    try:
        for target in ("8.8.8.8", "1.1.1.1", a.host_ip, "203.0.113.53"):
            code, out, err = await in_netns(
                a.netns, "dig", "+tcp", f"@{target}", "example.test", "+short", "+time=2", "+tries=1"
            )
            assert (code, out.strip()) == (0, DNS_ANSWER), err
    finally:
        server.close()
    assert dns.seen == [(a.sandbox_ip, "example.test")] * 4
    assert len(world.proxy.seen) == before  # TCP/53 is DNS, never a connection for the proxy to pass on


async def test_other_udp_and_icmp_go_nowhere(world: World) -> None:
    a, b = world.a, world.b
    udp = Dns()  # any UDP listener on the host: it must receive nothing
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(lambda: udp, local_addr=("0.0.0.0", 0))
    port = transport.get_extra_info("sockname")[1]
    try:
        results = await python_in(
            a.netns,
            f"""
import json, os, select, socket, struct
def udp(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    query = os.urandom(2) + bytes.fromhex("01000001000000000000") + b"\\x07example\\x04test\\x00\\x00\\x01\\x00\\x01"
    s.sendto(query, (host, port))
    return bool(select.select([s], [], [], 0.7)[0])
def icmp(host):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    body = struct.pack("!BBHHH", 8, 0, 0, 7, 1) + b"ping"
    words = sum(struct.unpack("!%dH" % (len(body) // 2), body))
    words = (words >> 16) + (words & 0xFFFF)
    body = body[:2] + struct.pack("!H", ~(words + (words >> 16)) & 0xFFFF) + body[4:]
    s.sendto(body, (host, 0))
    deadline = 0.7
    while select.select([s], [], [], deadline)[0]:
        packet, peer = s.recvfrom(2048)
        if peer[0] == host and packet[20] == 0:
            return True
        deadline = 0.2
    return False
from concurrent.futures import ThreadPoolExecutor
probes = {{
    "control udp": (udp, "{a.host_ip}", 53), "control icmp": (icmp, "127.0.0.1"),
    "udp host": (udp, "{a.host_ip}", {port}), "udp other sandbox": (udp, "{b.sandbox_ip}", {port}),
    "udp other host address": (udp, "{b.host_ip}", {port}), "udp ntp": (udp, "8.8.8.8", 123),
    "icmp host": (icmp, "{a.host_ip}"), "icmp other sandbox": (icmp, "{b.sandbox_ip}"), "icmp internet": (icmp, "8.8.8.8"),
}}
with ThreadPoolExecutor(len(probes)) as pool:
    futures = {{name: pool.submit(*probe) for name, probe in probes.items()}}
print(json.dumps({{name: future.result() for name, future in futures.items()}}))
""",
        )
    finally:
        transport.close()
    assert results == {
        "control udp": True,
        "control icmp": True,
        "udp host": False,
        "udp other sandbox": False,
        "udp other host address": False,
        "udp ntp": False,
        "icmp host": False,
        "icmp other sandbox": False,
        "icmp internet": False,
    }
    assert udp.seen == []


async def test_sandbox_cannot_reach_host_loopback_other_host_ports_or_the_other_sandbox(world: World) -> None:
    a, b = world.a, world.b
    loopback = await Listener("127.0.0.1").start()
    anywhere = await Listener("0.0.0.0").start()
    eth0 = host_address()
    inside_b = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", b.netns, sys.executable, "-c",
        f"import socket; s = socket.create_server(('{b.sandbox_ip}', 9999)); print('ready', flush=True); "
        "c, peer = s.accept(); print('accepted', peer, flush=True)",
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert inside_b.stdout is not None
    assert await asyncio.wait_for(inside_b.stdout.readline(), 10) == b"ready\n"
    before = len(world.proxy.seen)
    try:
        results = await connect_from(
            a.netns,
            [
                ("127.0.0.1", loopback.port),
                (a.host_ip, anywhere.port),
                (b.host_ip, anywhere.port),
                (eth0, anywhere.port),
                (b.sandbox_ip, 9999),
            ],
        )
    finally:
        inside_b.kill()
        _, _ = await inside_b.communicate()
        for listener in (loopback, anywhere):
            assert listener.server is not None
            listener.server.close()
    # 127.0.0.1 is the namespace's own loopback; every other TCP destination is the proxy's to judge.
    assert results == {
        f"127.0.0.1:{loopback.port}": "ConnectionRefusedError",
        f"{a.host_ip}:{anywhere.port}": "proxy",
        f"{b.host_ip}:{anywhere.port}": "proxy",
        f"{eth0}:{anywhere.port}": "proxy",
        f"{b.sandbox_ip}:9999": "proxy",
    }
    assert (loopback.accepted, anywhere.accepted) == ([], [])
    assert world.proxy.seen[before:] == [
        (a.sandbox_ip, (a.host_ip, anywhere.port)),
        (a.sandbox_ip, (b.host_ip, anywhere.port)),
        (a.sandbox_ip, (eth0, anywhere.port)),
        (a.sandbox_ip, (b.sandbox_ip, 9999)),
    ]


async def test_a_spoofed_source_address_is_dropped(world: World) -> None:
    a, b = world.a, world.b
    before = (len(world.proxy.seen), len(world.dns.seen))
    spoofed = [b.sandbox_ip, "10.213.255.250", "192.0.2.77"]
    for address in spoofed:
        assert (await in_netns(a.netns, "ip", "addr", "add", f"{address}/32", "dev", "eth0"))[0] == 0
    try:
        results = await python_in(
            a.netns,
            f"""
import json, select, socket
from concurrent.futures import ThreadPoolExecutor
def tcp(source):
    t = socket.socket(); t.settimeout(1); t.bind((source, 0))
    try:
        t.connect(("198.51.100.7", 80)); return "connected"
    except OSError as e:
        return type(e).__name__
def udp(source):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((source, 0))
    u.sendto(bytes.fromhex("abcd01000001000000000000") + b"\\x01x\\x00\\x00\\x01\\x00\\x01", ("8.8.8.8", 53))
    return "answered" if select.select([u], [], [], 1)[0] else "no answer"
with ThreadPoolExecutor(8) as pool:
    futures = {{f"{{source}} {{kind.__name__}}": pool.submit(kind, source) for source in {spoofed!r} for kind in (tcp, udp)}}
print(json.dumps({{name: future.result() for name, future in futures.items()}}))
""",
        )
    finally:
        for address in spoofed:
            await in_netns(a.netns, "ip", "addr", "del", f"{address}/32", "dev", "eth0")
    expected: dict[str, str] = {}
    for address in spoofed:
        expected |= {f"{address} tcp": "TimeoutError", f"{address} udp": "no answer"}
    assert results == expected
    assert (len(world.proxy.seen), len(world.dns.seen)) == before


async def test_ipv6_is_disabled_in_the_namespace_and_on_the_host_end(world: World) -> None:
    a = world.a
    for name in ("all", "default", "lo", "eth0"):
        assert (await in_netns(a.netns, "cat", f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6"))[1] == "1\n"
    assert (await in_netns(a.netns, "ip", "-6", "addr", "show"))[1] == ""
    assert (await in_netns(a.netns, "ip", "-6", "route", "show"))[1] == ""
    assert await python_in(
        a.netns,
        """
import json, socket
try:
    socket.create_connection(("2001:db8::1", 80), timeout=1); print(json.dumps("connected"))
except OSError as e:
    print(json.dumps(e.strerror))
""",
    ) in ("Network is unreachable", "Cannot assign requested address")
    assert Path(f"/proc/sys/net/ipv6/conf/{a.host_if}/disable_ipv6").read_text() == "1\n"


async def test_namespace_holds_lo_and_eth0_and_a_default_route_only(world: World) -> None:
    a = world.a
    links = json.loads((await in_netns(a.netns, "ip", "-j", "link", "show"))[1])
    assert [(link["ifname"], "UP" in link["flags"]) for link in links] == [("lo", True), ("eth0", True)]
    routes = json.loads((await in_netns(a.netns, "ip", "-j", "-4", "route", "show"))[1])
    network = a.sandbox_ip.rsplit(".", 1)[0] + f".{int(a.sandbox_ip.rsplit('.', 1)[1]) - 2}/30"
    assert [(r["dst"], r.get("gateway"), r["dev"]) for r in routes] == [
        ("default", a.host_ip, "eth0"),
        (network, None, "eth0"),
    ]


async def test_networks_are_per_sandbox_and_create_is_idempotent(world: World) -> None:
    m, a, b = world.manager, world.a, world.b
    assert await m.create("sandbox-a") is a
    assert m.network("sandbox-a") is a and m.network("sandbox-b") is b and m.network("nope") is None
    assert (m.sandbox_for_ip(a.sandbox_ip), m.sandbox_for_ip(b.sandbox_ip)) == ("sandbox-a", "sandbox-b")
    assert m.sandbox_for_ip(a.host_ip) is None and m.sandbox_for_ip("10.9.9.9") is None
    assert len({a.netns, b.netns}) == len({a.host_if, b.host_if}) == 2
    assert all(len(name) <= 15 for name in (a.host_if, b.host_if, a.sandbox_if))
    assert a.host_ip.split(".")[:3] == a.sandbox_ip.split(".")[:3]
    assert int(a.sandbox_ip.split(".")[-1]) == int(a.host_ip.split(".")[-1]) + 1


# -- ownership and cleanup ---------------------------------------------------------------------------------


def leftovers(owner: str) -> dict[str, list[str]]:
    netns = sorted(n for n in os.listdir("/run/netns") if n.startswith(f"obd-{owner}-"))
    links = json.loads(subprocess.run(["ip", "-j", "link", "show"], capture_output=True, check=True).stdout)
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True).stdout.split("\n")
    return {
        "netns": netns,
        "links": sorted(link["ifname"] for link in links if link["ifname"].startswith(f"ob-{owner}-")),
        "tables": [t for t in tables if t == f"table inet outbound_{owner}"],
        "record": [p.name for p in STATE_DIR.glob(f"{owner}.netns-owner")],
    }


NOTHING: dict[str, list[str]] = {"netns": [], "links": [], "tables": [], "record": []}


async def test_close_removes_namespaces_veths_table_and_record(world: World) -> None:
    owner = owner_for_test("c")
    manager = NetworkManager(owner=owner, proxy_port=world.manager.proxy_port, dns_port=1053, state_dir=STATE_DIR)
    await manager.start()
    try:
        first = await manager.create("one")
        second = await manager.create("two")
        assert first.host_ip not in (world.a.host_ip, world.b.host_ip)  # owners share the subnet, not a /30
        assert {k: len(v) for k, v in leftovers(owner).items()} == {"netns": 2, "links": 2, "tables": 1, "record": 1}
        await manager.destroy("one")
        assert (leftovers(owner)["netns"], leftovers(owner)["links"]) == ([second.netns], [second.host_if])
        assert manager.sandbox_for_ip(first.sandbox_ip) is None and manager.network("one") is None
    finally:
        await manager.close()
    assert leftovers(owner) == NOTHING
    await manager.close()  # twice is fine


async def test_a_live_owner_name_cannot_be_taken(world: World) -> None:
    twin = NetworkManager(owner=world.manager.owner, proxy_port=1, dns_port=2, state_dir=STATE_DIR)
    with pytest.raises(
        UserError, match=rf"network owner '{world.manager.owner}' is in use by live process {os.getpid()}"
    ):
        await twin.start()


CRASHING_OWNER = """
import asyncio, json, sys
from pathlib import Path
from emulator.netns import NetworkManager, default_owner
async def main():
    manager = NetworkManager(owner=default_owner(), proxy_port=1, dns_port=2, state_dir=Path(sys.argv[1]))
    await manager.start()
    await manager.create("x")
    await manager.create("y")
    print(json.dumps(manager.owner), flush=True)
    await asyncio.sleep(60)
asyncio.run(main())
"""


async def test_a_killed_owners_leftovers_are_removed_by_the_next_start(world: World) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CRASHING_OWNER, str(STATE_DIR), stdout=subprocess.PIPE, cwd=Path(__file__).parents[2]
    )
    assert child.stdout is not None
    try:
        owner = json.loads(await asyncio.wait_for(child.stdout.readline(), 15))
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    assert {k: len(v) for k, v in leftovers(owner).items()} == {"netns": 2, "links": 2, "tables": 1, "record": 1}

    successor = NetworkManager(owner=owner_for_test("n"), proxy_port=1, dns_port=2, state_dir=STATE_DIR)
    await successor.start()
    try:
        assert leftovers(owner) == NOTHING
        assert leftovers(world.manager.owner)["netns"] == sorted([world.a.netns, world.b.netns])  # live: untouched
    finally:
        await successor.close()


def test_check_passes_here_and_explains_itself_to_an_unprivileged_user() -> None:
    assert NetworkManager.check() is None
    system_python = Path("/usr/bin/python3")  # the venv's interpreter may sit where nobody cannot read
    if not system_python.exists():
        pytest.skip("no /usr/bin/python3 to run as an unprivileged user")
    # A copy of the code nobody can read: the checkout may sit in a folder private to root (mktemp -d).
    code = Path(tempfile.mkdtemp(prefix="outbound-netns-check-"))
    code.chmod(0o755)
    for package in ("emulator", "bindings"):
        shutil.copytree(ROOT / package, code / package, ignore=shutil.ignore_patterns("__pycache__"))
    try:
        probe = _run_as_nobody(system_python, code)
    finally:
        shutil.rmtree(code)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.splitlines() == [
        "creating network namespaces needs root (running as uid 65534)",
        "NetworkUnavailable sandbox network capture is unavailable: creating network namespaces needs root (running as"
        " uid 65534); run outbound as root on Linux with iproute2 and nftables, or use explicit-proxy mode (programs"
        " that ignore proxy variables can bypass it)",
    ]


def _run_as_nobody(python: Path, code: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(python),
            "-c",
            "import asyncio; from pathlib import Path; from emulator.netns import NetworkManager\n"
            "print(NetworkManager.check())\n"
            "try:\n"
            "    asyncio.run(NetworkManager(owner='u', proxy_port=1, dns_port=2, state_dir=Path('/nonexistent')).start())\n"
            "except Exception as e:\n"
            "    print(type(e).__name__, e)\n",
        ],
        capture_output=True,
        text=True,
        user=65534,
        group=65534,
        extra_groups=[],
        cwd="/",
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(code)},
        check=False,
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"owner": "Bad"}, "network owner 'Bad' must be 1 to 5 characters of [a-z0-9]"),
        ({"owner": "sixsix"}, "network owner 'sixsix' must be 1 to 5 characters of [a-z0-9]"),
        ({"proxy_port": 0}, "proxy_port 0 is not a TCP/UDP port"),
        ({"subnet": "10.0.0.0/8"}, "subnet 10.0.0.0/8 must be between a /11 and a /30 (one /30 per sandbox)"),
        ({"subnet": "10.213.0.1/16"}, "10.213.0.1/16 has host bits set"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"owner": "ok", "proxy_port": 1, "dns_port": 2, "state_dir": STATE_DIR} | kwargs
    with pytest.raises(ValueError) as raised:
        NetworkManager(**arguments)  # type: ignore[arg-type]
    assert str(raised.value) == message
