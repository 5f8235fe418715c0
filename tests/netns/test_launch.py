"""Commands launched into a real sandbox network: who they run as, what they see, what they leave behind."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import cast

import pytest
import pytest_asyncio

from emulator.launch import Launch, launch_command, run_captured
from emulator.netns import DEFAULT_STATE_DIR, NetworkManager, SandboxNetwork, default_owner

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(NetworkManager.check() is not None, reason=f"no capture here: {NetworkManager.check()}"),
]

RESOLV = "/etc/resolv.conf"
BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
CA = "/etc/cloudflare/certs/cloudflare-containers-ca.crt"
CA_TEXT = "-----BEGIN CERTIFICATE-----\nsandbox test CA\n-----END CERTIFICATE-----\n"
DNS_ANSWER = "192.0.2.99"
PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass
class Captured:
    """The proxy and DNS stand-ins: peers and original destinations seen on the host."""

    tcp: list[tuple[str, tuple[str, int]]] = field(default_factory=list)
    dns: list[tuple[str, bytes]] = field(default_factory=list)


class _Dns(asyncio.DatagramProtocol):
    def __init__(self, captured: Captured) -> None:
        self.captured = captured
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        end = data.index(b"\x00", 12) + 5
        self.captured.dns.append((str(addr[0]), data[12:end]))
        qtype = data[end - 4 : end - 2]
        answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + socket.inet_aton(DNS_ANSWER)
        count, body = (b"\x00\x01", answer) if qtype == b"\x00\x01" else (b"\x00\x00", b"")
        assert self.transport is not None
        self.transport.sendto(data[:2] + b"\x81\x80\x00\x01" + count + b"\x00\x00\x00\x00" + data[12:end] + body, addr)


@dataclass
class Sandbox:
    network: SandboxNetwork
    files: dict[str, Path]
    cwd: Path
    captured: Captured

    def launch(self, *argv: str, env: dict[str, str] | None = None) -> Launch:
        return Launch(
            netns=self.network.netns,
            argv=list(argv),
            env={"PATH": PATH} if env is None else env,
            cwd=self.cwd,
            mounts=[(self.files[target], target) for target in (RESOLV, BUNDLE, CA)],
        )


@pytest.fixture(scope="module")
def folders() -> Iterator[tuple[Path, Path]]:
    """Mount sources (world-readable files in a root-owned folder) and a working folder owned by nobody."""
    files = Path(tempfile.mkdtemp(prefix="outbound-launch-files-"))
    work = Path(tempfile.mkdtemp(prefix="outbound-launch-work-"))
    os.chown(work, 65534, 65534)
    try:
        yield files, work
    finally:
        shutil.rmtree(files)
        shutil.rmtree(work)


@pytest_asyncio.fixture(scope="module")
async def sandbox(folders: tuple[Path, Path]) -> AsyncIterator[Sandbox]:
    captured = Captured()

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raw = writer.get_extra_info("socket").getsockopt(socket.SOL_IP, 80, 16)  # SO_ORIGINAL_DST
        captured.tcp.append(
            (writer.get_extra_info("peername")[0], (socket.inet_ntoa(raw[4:8]), int.from_bytes(raw[2:4])))
        )
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nproxy")
        writer.close()

    server = await asyncio.start_server(proxy, "0.0.0.0", 0)
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: _Dns(captured), local_addr=("0.0.0.0", 0)
    )
    manager = NetworkManager(
        owner="l" + default_owner(os.getpid() % 36**4).rjust(4, "0"),
        proxy_port=server.sockets[0].getsockname()[1],
        dns_port=transport.get_extra_info("sockname")[1],
        state_dir=DEFAULT_STATE_DIR,
    )
    await manager.start()
    try:
        network = await manager.create("launched")
        source, work = folders
        contents = {
            RESOLV: f"nameserver {network.host_ip}\n",
            BUNDLE: Path(BUNDLE).read_text() + CA_TEXT,
            CA: CA_TEXT,
        }
        files: dict[str, Path] = {}
        for target, text in contents.items():
            files[target] = source / Path(target).name
            files[target].write_text(text)
            files[target].chmod(0o644)
        yield Sandbox(network, files, work, captured)
    finally:
        await manager.close()
        transport.close()
        server.close()


async def run(launch: Launch) -> tuple[int, str, str]:
    code, out, err = await run_captured(launch, timeout=20)
    return code, out.decode(), err.decode()


def host_view() -> dict[str, object]:
    """What the host would notice: the files the sandbox sees replaced, /etc/cloudflare, the mount table."""
    return {
        "resolv": hashlib.sha256(Path(RESOLV).read_bytes()).hexdigest(),
        "bundle": hashlib.sha256(Path(BUNDLE).read_bytes()).hexdigest(),
        "cloudflare": os.path.lexists("/etc/cloudflare"),
        "etc": sorted(os.listdir("/etc")),
        "mounts": Path("/proc/self/mountinfo").read_text(),
    }


async def test_command_runs_as_nobody_without_groups_or_capabilities(sandbox: Sandbox) -> None:
    code, out, err = await run(sandbox.launch("sh", "-c", "id -u; id -g; id -G; grep ^Cap /proc/self/status; pwd"))
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "65534",
        "65534",
        "65534",
        "CapInh:\t0000000000000000",
        "CapPrm:\t0000000000000000",
        "CapEff:\t0000000000000000",
        "CapBnd:\t0000000000000000",
        "CapAmb:\t0000000000000000",
        str(sandbox.cwd),
    ]


async def test_command_cannot_write_etc_or_the_mounted_files(sandbox: Sandbox) -> None:
    script = f"for f in /etc/new {RESOLV} {CA} /etc/cloudflare/certs/new; do (echo x >> $f) 2>/dev/null && echo wrote || echo refused; done"
    assert await run(sandbox.launch("sh", "-c", script)) == (0, "refused\n" * 4, "")


async def test_command_sees_the_mounted_files_and_the_host_is_unchanged(sandbox: Sandbox) -> None:
    before = host_view()
    for target, source in sandbox.files.items():
        assert await run(sandbox.launch("cat", target)) == (0, source.read_text(), "")
    code, out, _ = await run(sandbox.launch("ls", "-A", "/etc"))
    assert (code, sorted(out.split())) == (0, sorted([*os.listdir("/etc"), "cloudflare"]))
    assert host_view() == before
    assert not before["cloudflare"]


async def test_dns_and_tcp_from_the_command_reach_the_host_listeners(sandbox: Sandbox) -> None:
    net = sandbox.network
    assert await run(sandbox.launch("getent", "ahostsv4", "example.test")) == (
        0,
        f"{DNS_ANSWER}      STREAM example.test\n{DNS_ANSWER}      DGRAM  \n{DNS_ANSWER}      RAW    \n",
        "",
    )
    assert await run(sandbox.launch("curl", "-s", "--max-time", "5", "http://example.test:8080/")) == (0, "proxy", "")
    assert sandbox.captured.tcp[-1] == (net.sandbox_ip, (DNS_ANSWER, 8080))
    assert {peer for peer, _ in sandbox.captured.dns} == {net.sandbox_ip}


async def test_a_target_under_missing_folders_appears_only_inside_the_sandbox(sandbox: Sandbox) -> None:
    base = Path(tempfile.mkdtemp(prefix="outbound-shadow-"))
    try:
        base.chmod(0o755)
        (base / "kept.txt").write_text("kept\n")
        (base / "kept.txt").chmod(0o644)
        (base / "link").symlink_to("kept.txt")
        (base / "dangling").symlink_to("nowhere")
        (base / "sub").mkdir(mode=0o755)
        before = sorted(os.listdir(base))
        ca, resolv = sandbox.files[CA], sandbox.files[RESOLV]
        launch = replace(
            sandbox.launch(
                "sh", "-c", f"cd {base} && cat missing/deeper/ca.crt dangling link && ls -A && stat -c %a ."
            ),
            mounts=[(ca, f"{base}/missing/deeper/ca.crt"), (resolv, f"{base}/dangling")],
        )
        code, out, err = await run(launch)
        assert (code, err) == (0, "")
        assert (
            out == ca.read_text() + resolv.read_text() + "kept\n" + "\n".join(sorted([*before, "missing"])) + "\n755\n"
        )
        assert sorted(os.listdir(base)) == before and os.readlink(base / "dangling") == "nowhere"
    finally:
        shutil.rmtree(base)


@pytest.mark.parametrize(("script", "code"), [("exit 0", 0), ("exit 7", 7), ("kill -TERM $$", 128 + signal.SIGTERM)])
async def test_exit_codes_pass_through(sandbox: Sandbox, script: str, code: int) -> None:
    assert (await run(sandbox.launch("sh", "-c", script)))[0] == code


async def test_environment_is_exactly_what_was_given(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTBOUND_PARENT_ONLY", "leak")
    env = {"PATH": PATH, "SSL_CERT_FILE": BUNDLE, "SPACED": "two words", "EMPTY": ""}
    code, out, err = await run(sandbox.launch("env", "-0", env=env))
    assert (code, err) == (0, "")
    assert dict(line.split("=", 1) for line in out.split("\0") if line) == env


async def test_the_launcher_becomes_the_command_and_signals_reach_it(sandbox: Sandbox) -> None:
    argv = launch_command(sandbox.launch("sleep", "30"))
    spec = Path(argv[-1])
    assert (spec.stat().st_mode & 0o777, spec.stat().st_uid) == (0o600, 0)
    process = await asyncio.create_subprocess_exec(*argv)
    try:
        for _ in range(200):
            if Path(f"/proc/{process.pid}/comm").read_text() == "sleep\n":
                break
            await asyncio.sleep(0.01)
        status = Path(f"/proc/{process.pid}/status").read_text()
        assert "Uid:\t65534\t65534\t65534\t65534" in status and "NoNewPrivs:\t1" in status
        assert os.readlink(f"/proc/{process.pid}/ns/net") != os.readlink("/proc/self/ns/net")
        assert not spec.exists()
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 5) == -signal.SIGTERM
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_launcher_failures_say_which_step_failed(sandbox: Sandbox, tmp_path: Path) -> None:
    missing = replace(sandbox.launch("true"), netns="obd-none-0")
    assert await run(missing) == (
        125,
        "",
        "outbound launch: entering network namespace obd-none-0 (/run/netns/obd-none-0): No such file or directory\n",
    )
    assert await run(sandbox.launch("no-such-command")) == (
        127,
        "",
        "outbound launch: running 'no-such-command': command not found\n",
    )
    private = replace(sandbox.launch("true"), cwd=tmp_path)  # pytest's folders are root-only
    code, _, err = await run(private)
    assert (code, err) == (
        125,
        f"outbound launch: changing to the working folder {tmp_path} as uid 65534: Permission denied\n",
    )


async def test_a_command_past_its_timeout_is_killed(sandbox: Sandbox) -> None:
    started = asyncio.get_running_loop().time()
    with pytest.raises(TimeoutError, match=r"\['sh', '-c', 'sleep 30 & sleep 30'\] in obd-.* ran longer than 0.3 s"):
        await run_captured(sandbox.launch("sh", "-c", "sleep 30 & sleep 30"), timeout=0.3)
    assert asyncio.get_running_loop().time() - started < 5
    for _ in range(100):  # SIGKILL is sent to the whole process group; dying takes a moment
        pids = subprocess.run(
            ["ip", "netns", "pids", sandbox.network.netns], capture_output=True, text=True, check=False
        ).stdout
        if not pids:
            break
        await asyncio.sleep(0.02)
    assert pids == ""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"argv": []}, "Launch.argv is empty: give the command to run"),
        ({"netns": "../x"}, "Launch.netns '../x' is not a namespace name under /run/netns"),
        ({"cwd": Path("relative")}, "Launch.cwd 'relative' must be an absolute path"),
        ({"uid": 0}, "a sandbox command must not run as root (uid/gid 0)"),
        ({"mounts": [(Path("/nonexistent"), "/etc/x")]}, "mount source '/nonexistent' is not a file on the host"),
        (
            {"mounts": [(Path("/etc/hostname"), "etc/x")]},
            "mount target 'etc/x' must be an absolute path inside the sandbox",
        ),
    ],
)
def test_bad_launches_are_refused(change: dict[str, object], message: str) -> None:
    launch = replace(Launch(netns="n", argv=["true"], env={}, cwd=Path("/")), **change)  # type: ignore[arg-type]
    with pytest.raises(ValueError) as raised:
        launch_command(launch)
    assert str(raised.value) == message
