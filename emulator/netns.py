"""Per-sandbox network isolation: where a sandbox's packets go before the proxy sees them.

Each sandbox gets a network namespace ``obd-<owner>-<n>`` holding only ``lo`` and ``eth0``, one end of a
veth pair whose host end is ``ob-<owner>-<n>``; the pair shares a /30 taken from ``subnet`` (block ``n``),
``.1`` on the host, ``.2`` in the sandbox, which routes everything via the host. IPv6 is disabled in the
namespace (threat model §5.7). On the host one nftables table per owner, ``inet outbound_<owner>``, decides:

    prerouting (nat)  TCP or UDP dport 53 from a sandbox interface → REDIRECT to :dns_port (DNS to any server,
                      over either, is answered by the emulator's resolver: dns.py)
                      any other TCP packet from a sandbox interface → REDIRECT to :proxy_port (all ports: the
                      proxy decides)
    input             (interface, source address) of a sandbox, tcp dport proxy_port or tcp/udp dport dns_port
                      → accept;
                      anything else from a sandbox interface → drop (spoofed sources, ICMP, other UDP, other
                      host ports: the control API and 127.0.0.1 stay unreachable)
    forward           anything from or to a sandbox interface → drop (ip_forward is not touched)

REDIRECT sends a connection to the host address of the interface it came in on, so the proxy must listen on
0.0.0.0:proxy_port (or on every ``host_ip``); it reads the original destination with SO_ORIGINAL_DST and the
sandbox from the peer address (``sandbox_for_ip``: the input chain drops any other source address, so the peer
address is the identity). The proxy must itself refuse original destinations that are the host's own
addresses (``host_ip`` of any sandbox, the host's other interfaces): REDIRECT captures them too, and
dialling them from the host would reach its local services.

Crash cleanup: ``start()`` writes ``<state_dir>/<owner>.netns-owner`` (pid, process start time, boot id)
before creating anything; the ``start()`` of any owner sharing that state_dir removes the namespaces, veths and
tables of owners whose process is gone (and any left under its own owner name). Resources of owners
recorded in another state_dir are left alone.

No mitmproxy here: this module only runs ``ip``, ``nft`` and ``sysctl`` (inside a new namespace).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from emulator.errors import OutboundError, UserError

DEFAULT_SUBNET = "10.213.0.0/16"
DEFAULT_STATE_DIR = Path("/run/outbound/netns")
NETNS_DIR = Path("/run/netns")
# One lock for every owner on the machine: allocating a /30 reads the host's addresses, then adds one.
ALLOCATION_LOCK = Path("/run/lock/outbound-netns.lock")
SANDBOX_IF = "eth0"
OWNER_MAX_CHARS = 5  # "ob-" + owner + "-" + 6 digits = 15, the kernel's IFNAMSIZ - 1
MIN_PREFIXLEN = 11  # at most 2**19 blocks: block numbers keep to 6 digits
COMMAND_TIMEOUT_SECONDS = 30.0

_OWNER_RE = re.compile(rf"[a-z0-9]{{1,{OWNER_MAX_CHARS}}}\Z")
_NETNS_RE = re.compile(r"obd-([a-z0-9]+)-(\d+)\Z")
_HOST_IF_RE = re.compile(r"ob-([a-z0-9]+)-(\d+)\Z")
_TABLE_RE = re.compile(r"outbound_([a-z0-9]+)\Z")
_RECORD_SUFFIX = ".netns-owner"
_CAP_NET_ADMIN = 12
_CAP_SYS_ADMIN = 21


class NetworkUnavailable(UserError):
    """Network capture cannot work here (not root, no namespaces, no nftables): explicit-proxy mode is the fallback."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"sandbox network capture is unavailable: {reason}; run outbound as root on Linux with iproute2 and "
            "nftables, or use explicit-proxy mode (programs that ignore proxy variables can bypass it)"
        )
        self.reason = reason


class NetworkCommandError(OutboundError):
    """An ``ip`` or ``nft`` command failed; the message names the command and its stderr."""

    def __init__(self, argv: list[str], returncode: int, stderr: str, stdin: str | None = None) -> None:
        shown = " ".join(argv)
        fed = f" (fed {stdin.strip()!r})" if stdin else ""
        super().__init__(f"`{shown}`{fed} failed with exit code {returncode}: {stderr.strip() or '(no stderr)'}")
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr


@dataclass(frozen=True)
class SandboxNetwork:
    """One sandbox's namespace, veth pair and /30."""

    sandbox_id: str
    netns: str
    host_if: str
    sandbox_if: str
    host_ip: str
    sandbox_ip: str


@dataclass(frozen=True)
class _OwnerRecord:
    pid: int
    start_time: int
    boot_id: str

    def alive(self) -> bool:
        if self.boot_id != _boot_id():
            return False
        found = _process_start(self.pid)
        return found is not None and found == self.start_time


def default_owner(pid: int | None = None) -> str:
    """An owner name unique among live processes: the pid in base 36 (at most 5 characters)."""
    n = os.getpid() if pid is None else pid
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


class NetworkManager:
    """Creates and removes sandbox networks for one owner (one emulator process)."""

    def __init__(
        self,
        *,
        owner: str,
        proxy_port: int,
        dns_port: int,
        subnet: str = DEFAULT_SUBNET,
        state_dir: Path,
    ) -> None:
        if not _OWNER_RE.match(owner):
            raise ValueError(f"network owner {owner!r} must be 1 to {OWNER_MAX_CHARS} characters of [a-z0-9]")
        for name, port in (("proxy_port", proxy_port), ("dns_port", dns_port)):
            if not 0 < port < 65536:
                raise ValueError(f"{name} {port} is not a TCP/UDP port")
        network = ipaddress.IPv4Network(subnet)  # ValueError names the bad subnet
        if not MIN_PREFIXLEN <= network.prefixlen <= 30:
            raise ValueError(f"subnet {subnet} must be between a /{MIN_PREFIXLEN} and a /30 (one /30 per sandbox)")
        self.owner = owner
        self.proxy_port = proxy_port
        self.dns_port = dns_port
        self.subnet = network
        self.state_dir = state_dir
        self.table = f"outbound_{owner}"
        self._networks: dict[str, SandboxNetwork] = {}
        self._by_ip: dict[str, str] = {}
        self._lock = asyncio.Lock()
        self._started = False

    # -- checks -------------------------------------------------------------------------------------------

    @staticmethod
    def check() -> str | None:
        """None if namespaces and nftables can be used here, else the reason they cannot."""
        if sys.platform != "linux":
            return f"network namespaces need Linux, not {sys.platform}"
        if os.geteuid() != 0:
            return f"creating network namespaces needs root (running as uid {os.geteuid()})"
        caps = _effective_capabilities()
        for bit, name in ((_CAP_NET_ADMIN, "CAP_NET_ADMIN"), (_CAP_SYS_ADMIN, "CAP_SYS_ADMIN")):
            if not caps >> bit & 1:
                return f"this root has no {name} (a container without --privileged?)"
        for tool, package in (("ip", "iproute2"), ("nft", "nftables"), ("sysctl", "procps")):
            if _tool(tool) is None:
                return f"`{tool}` is not installed (apt-get install -y {package})"
        if not Path("/proc/self/ns/net").exists() or not Path("/proc/self/ns/mnt").exists():
            return "this kernel has no network or mount namespaces"
        try:
            probe = subprocess.run(
                [_tool_path("nft"), "list", "tables"], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"`nft list tables` did not run: {e}"
        if probe.returncode != 0:
            return f"`nft list tables` failed: {probe.stderr.strip()}"
        return None

    # -- lifecycle ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Remove what dead owners left, record this owner, create its nftables table."""
        if self._started:
            return
        if (reason := self.check()) is not None:
            raise NetworkUnavailable(reason)
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        async with self._allocation_lock():
            mine = _read_record(self._record_path())
            if mine is not None and mine.alive():
                raise UserError(
                    f"network owner {self.owner!r} is in use by live process {mine.pid} "
                    f"(record {self._record_path()}); give this emulator another owner name"
                )
            await self._remove_dead_owners()
            start_time = _process_start(os.getpid())
            assert start_time is not None
            record = {"pid": os.getpid(), "start_time": start_time, "boot_id": _boot_id()}
            temporary = self._record_path().with_suffix(".tmp")
            temporary.write_text(json.dumps(record))
            temporary.replace(self._record_path())
            await _nft_script(self._table_script())
        self._started = True

    async def close(self) -> None:
        """Destroy every network of this owner, then its table and its ownership record."""
        if not self._started:
            return
        for sandbox_id in list(self._networks):
            await self.destroy(sandbox_id)
        await _delete_table(self.table)
        self._record_path().unlink(missing_ok=True)
        self._started = False

    # -- sandboxes ----------------------------------------------------------------------------------------

    async def create(self, sandbox_id: str) -> SandboxNetwork:
        """The sandbox's network, made on first call; later calls return the same one."""
        if not self._started:
            raise RuntimeError("NetworkManager.start() must run before create()")
        async with self._lock:
            existing = self._networks.get(sandbox_id)
            if existing is not None:
                return existing
            async with self._allocation_lock():
                block = await self._free_block()
                net = self._network_for(sandbox_id, block)
                try:
                    await self._build_host_side(net)
                except BaseException:
                    await self._teardown(net)
                    raise
            try:
                await self._build_sandbox_side(net)
            except BaseException:
                await self._teardown(net)
                raise
            self._networks[sandbox_id] = net
            self._by_ip[net.sandbox_ip] = sandbox_id
            return net

    async def destroy(self, sandbox_id: str) -> None:
        """Remove the sandbox's veth pair, namespace and source-address entry; unknown ids are ignored.

        Processes still running inside keep an empty namespace (only ``lo``): cut off, not moved.
        """
        async with self._lock:
            net = self._networks.pop(sandbox_id, None)
            if net is None:
                return
            self._by_ip.pop(net.sandbox_ip, None)
            await self._teardown(net)

    def sandbox_for_ip(self, ip: str) -> str | None:
        """The sandbox whose namespace has address ``ip`` (the peer address the proxy and DNS server see)."""
        return self._by_ip.get(ip)

    def network(self, sandbox_id: str) -> SandboxNetwork | None:
        return self._networks.get(sandbox_id)

    # -- building -----------------------------------------------------------------------------------------

    def _network_for(self, sandbox_id: str, block: int) -> SandboxNetwork:
        base = self.subnet.network_address + 4 * block
        return SandboxNetwork(
            sandbox_id=sandbox_id,
            netns=f"obd-{self.owner}-{block}",
            host_if=f"ob-{self.owner}-{block}",
            sandbox_if=SANDBOX_IF,
            host_ip=str(base + 1),
            sandbox_ip=str(base + 2),
        )

    async def _build_host_side(self, net: SandboxNetwork) -> None:
        # The owner-wide wildcard rules guard an ob-<owner>-* interface from birth; this entry is what then lets
        # its one source address reach the proxy and DNS ports.
        await _nft_script(f'add element inet {self.table} sandbox_sources {{ "{net.host_if}" . {net.sandbox_ip} }}\n')
        await _run("ip", "netns", "add", net.netns)
        if Path("/proc/sys/net/ipv6").is_dir():  # absent when the kernel runs without IPv6 (ipv6.disable=1)
            await _run(
                "ip", "netns", "exec", net.netns, "sysctl", "-q", "-w",
                "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1",
            )  # fmt: skip
        await _run("ip", "link", "add", net.host_if, "type", "veth", "peer", "name", SANDBOX_IF, "netns", net.netns)
        # Our own interface's setting, not a global one: no link-local address on the host end either.
        host_v6 = Path(f"/proc/sys/net/ipv6/conf/{net.host_if}/disable_ipv6")
        if host_v6.exists():
            host_v6.write_text("1\n")
        await _run(
            "ip", "-batch", "-", stdin=f"addr add {net.host_ip}/30 dev {net.host_if}\nlink set {net.host_if} up\n"
        )

    async def _build_sandbox_side(self, net: SandboxNetwork) -> None:
        await _run(
            "ip", "-n", net.netns, "-batch", "-",
            stdin=(
                f"addr add {net.sandbox_ip}/30 dev {SANDBOX_IF}\n"
                f"link set {SANDBOX_IF} up\n"
                "link set lo up\n"
                f"route add default via {net.host_ip} dev {SANDBOX_IF}\n"
            ),
        )  # fmt: skip

    async def _teardown(self, net: SandboxNetwork) -> None:
        # Deleting the host end deletes both ends, also while processes keep the namespace alive.
        await _delete_link(net.host_if)
        await _delete_netns(net.netns)
        await _run(
            "nft", "delete", "element", "inet", self.table, "sandbox_sources",
            f'{{ "{net.host_if}" . {net.sandbox_ip} }}',
            ok_if="No such file or directory",
        )  # fmt: skip

    async def _free_block(self) -> int:
        """The lowest /30 of the subnet that no address on the host overlaps (other owners' included)."""
        _, out, _ = await _run("ip", "-j", "-4", "addr", "show")
        first = int(self.subnet.network_address)
        last = int(self.subnet.broadcast_address)
        taken: list[tuple[int, int]] = []
        for link in json.loads(out or "[]"):
            for info in link.get("addr_info", []):
                used = ipaddress.IPv4Network(f"{info['local']}/{info['prefixlen']}", strict=False)
                lo, hi = max(first, int(used.network_address)), min(last, int(used.broadcast_address))
                if lo <= hi:
                    taken.append(((lo - first) // 4, (hi - first) // 4))
        candidate = 0
        for lo, hi in sorted(taken):
            if candidate < lo:
                break
            candidate = max(candidate, hi + 1)
        if candidate >= self.subnet.num_addresses // 4:
            raise UserError(
                f"no free /30 left in {self.subnet} for another sandbox network; "
                "destroy unused sandboxes or give a larger subnet"
            )
        return candidate

    def _table_script(self) -> str:
        t, o, proxy, dns = self.table, self.owner, self.proxy_port, self.dns_port
        ifs = f'"ob-{o}-*"'
        # dstnat - 10: our REDIRECT binds before other nat tables' DNAT (Docker's published ports, say); should
        # one win anyway, its packets leave through forward or hit input on another port, and are dropped there.
        # The drops match every interface of this owner by wildcard, so a new one is guarded before it is up.
        return f"""
table inet {t}
delete table inet {t}
table inet {t} {{
    comment "outbound sandbox capture, owner {o} (pid {os.getpid()}); removed by close() or after a crash"
    set sandbox_sources {{
        type ifname . ipv4_addr
        comment "each sandbox interface with the one source address it may use"
    }}
    chain prerouting {{
        type nat hook prerouting priority dstnat - 10; policy accept;
        iifname {ifs} meta l4proto {{ tcp, udp }} th dport 53 redirect to :{dns}
        iifname {ifs} meta l4proto tcp redirect to :{proxy}
    }}
    chain input {{
        type filter hook input priority filter; policy accept;
        iifname . ip saddr @sandbox_sources tcp dport {proxy} accept
        iifname . ip saddr @sandbox_sources meta l4proto {{ tcp, udp }} th dport {dns} accept
        iifname {ifs} counter drop
    }}
    chain forward {{
        type filter hook forward priority filter; policy accept;
        iifname {ifs} counter drop
        oifname {ifs} counter drop
    }}
}}
"""

    # -- ownership ----------------------------------------------------------------------------------------

    def _record_path(self) -> Path:
        return self.state_dir / f"{self.owner}{_RECORD_SUFFIX}"

    async def _remove_dead_owners(self) -> None:
        dead: set[str] = set()
        for path in self.state_dir.glob(f"*{_RECORD_SUFFIX}"):
            record = _read_record(path)
            if record is None or not record.alive():
                dead.add(path.name.removesuffix(_RECORD_SUFFIX))
        dead.add(self.owner)  # no live record claims it (checked by start()): anything named after it is left over
        _, links, _ = await _run("ip", "-j", "link", "show")
        for link in json.loads(links or "[]"):
            if (m := _HOST_IF_RE.match(link.get("ifname", ""))) and m.group(1) in dead:
                await _delete_link(m.group(0))
        for name in sorted(os.listdir(NETNS_DIR)) if NETNS_DIR.is_dir() else []:
            if (m := _NETNS_RE.match(name)) and m.group(1) in dead:
                await _delete_netns(name)
        _, tables, _ = await _run("nft", "-j", "list", "tables")
        for entry in json.loads(tables or "{}").get("nftables", []):
            table = entry.get("table")
            if not table or table.get("family") != "inet":
                continue
            if (m := _TABLE_RE.match(table.get("name", ""))) and m.group(1) in dead:
                await _delete_table(m.group(0))
        for owner in dead:
            (self.state_dir / f"{owner}{_RECORD_SUFFIX}").unlink(missing_ok=True)

    @contextlib.asynccontextmanager
    async def _allocation_lock(self) -> AsyncIterator[None]:
        ALLOCATION_LOCK.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(ALLOCATION_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(0.005)
            yield
        finally:
            os.close(fd)  # releases the lock


# -- commands ---------------------------------------------------------------------------------------------


def _tool(name: str) -> str | None:
    found = shutil.which(name)
    if found is None:
        for directory in ("/usr/sbin", "/sbin", "/usr/bin", "/bin"):
            candidate = Path(directory) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return found


def _tool_path(name: str) -> str:
    found = _tool(name)
    if found is None:
        raise NetworkUnavailable(f"`{name}` is not installed")
    return found


async def _run(*argv: str, stdin: str | None = None, ok_if: str | None = None) -> tuple[int, str, str]:
    """Run ``ip``/``nft`` (never a shell); raise NetworkCommandError unless it succeeds or stderr has ``ok_if``."""
    full = [_tool_path(argv[0]), *argv[1:]]
    process = await asyncio.create_subprocess_exec(
        *full,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(
            process.communicate(stdin.encode() if stdin is not None else None), COMMAND_TIMEOUT_SECONDS
        )
    except TimeoutError:
        process.kill()
        await process.wait()
        raise NetworkCommandError(list(argv), -9, f"timed out after {COMMAND_TIMEOUT_SECONDS} s", stdin) from None
    code = process.returncode
    assert code is not None
    stderr = err.decode(errors="replace")
    if code != 0 and not (ok_if and ok_if in stderr):
        raise NetworkCommandError(list(argv), code, stderr, stdin)
    return code, out.decode(errors="replace"), stderr


async def _nft_script(script: str) -> None:
    await _run("nft", "-f", "-", stdin=script)


async def _delete_link(name: str) -> None:
    await _run("ip", "link", "del", "dev", name, ok_if="Cannot find device")


async def _delete_netns(name: str) -> None:
    await _run("ip", "netns", "del", name, ok_if="No such file or directory")


async def _delete_table(name: str) -> None:
    await _run("nft", "delete", "table", "inet", name, ok_if="No such file or directory")


# -- processes --------------------------------------------------------------------------------------------


def _read_record(path: Path) -> _OwnerRecord | None:
    try:
        data = json.loads(path.read_text())
        return _OwnerRecord(pid=int(data["pid"]), start_time=int(data["start_time"]), boot_id=str(data["boot_id"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _process_start(pid: int) -> int | None:
    """The process's start time in clock ticks after boot, or None if it is gone or a zombie (pid reuse safe)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces and parentheses
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])  # field 22 of proc_pid_stat(5); fields[0] is field 3


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _effective_capabilities() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    except OSError:
        pass
    return 0
