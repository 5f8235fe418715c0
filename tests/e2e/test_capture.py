"""Real programs in real network namespaces, captured by a real `outbound dev` (contract §9 cases 14, 15, 17,
18, 19; credential injection; isolation between sandboxes and from the emulator; policy changes on open
connections)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulator.netns import default_owner
from tests.e2e.conftest import CAPTURE, DevServer, namespaces_available, seen_header, start_dev, traversable_folder
from tests.support.upstream import LocalInternet

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not namespaces_available(), reason="needs root, network namespaces and nftables"),
]

SECRET = "sk-e2e-4f1d9c0a-never-in-the-sandbox"
CURL = ("curl", "-sS", "-m", "10")
PYTHON = "/usr/bin/python3"


@pytest.fixture(scope="module")
async def dev(internet: LocalInternet) -> AsyncIterator[DevServer]:
    server = await start_dev(CAPTURE, traversable_folder("capture"), internet, "namespace")
    try:
        yield server
    finally:
        await server.stop()
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=False).stdout
    assert server.process is not None
    owner = default_owner(server.process.pid)
    assert not [line for line in netns.splitlines() if line.startswith(f"obd-{owner}-")], netns
    assert f"outbound_{owner}" not in tables.split(), tables


def workdir(dev: DevServer, sandbox: str) -> Path:
    return dev.state / "sandboxes" / sandbox / "work"


async def test_http_reaches_handlers_and_passes_through(dev: DevServer) -> None:
    virtual = await dev.run("http-1", *CURL, "http://virtual.test/x?y=1", cls="Agent")
    assert virtual.code == 0, virtual.stderr
    assert json.loads(virtual.stdout) | {"containerId": None} == {
        "handler": "virtual.test",
        "url": "http://virtual.test/x?y=1",
        "method": "GET",
        "host": "virtual.test",
        "containerId": None,
        "params": None,
    }
    passed = await dev.run("http-1", *CURL, "http://upstream.test/echo")
    assert json.loads(passed.stdout)["path"] == "/echo"
    denied = await dev.run("http-1", *CURL, "-i", "http://denied.test/")
    assert denied.stdout.startswith("HTTP/1.1 520")
    assert denied.stdout.endswith("Origin is disallowed")


async def test_https_is_decrypted_with_the_sandboxs_own_ca(dev: DevServer) -> None:
    remote = dev.remote()
    async with remote:
        await remote.create_sandbox("tls-1", "Agent")
        await remote.sandbox("tls-1").set_outbound_handler("report", {"via": "https"})
        ca = (await remote.sandbox("tls-1").ca_certificate()).decode()
    response = await dev.run("tls-1", *CURL, "https://github.com/repo")
    assert response.code == 0, response.stderr
    answer = json.loads(response.stdout)
    assert (answer["handler"], answer["url"], answer["params"]) == (
        "report",
        "https://github.com/repo",
        {"via": "https"},
    )
    placed = await dev.run("tls-1", "cat", "/etc/cloudflare/certs/cloudflare-containers-ca.crt")
    assert placed.stdout.strip() == ca.strip()
    chain = await dev.run(
        "tls-1",
        "sh",
        "-c",
        "openssl s_client -connect github.com:443 -servername github.com "
        "-showcerts </dev/null 2>/dev/null | grep -E '^ *[0-9] s:|^ *i:'",
    )
    assert "0 s:CN = github.com" in chain.stdout
    assert "Cloudflare TLS proxy-everything Intercept CA" in chain.stdout
    assert "1 s:CN = Cloudflare TLS proxy-everything Intercept CA" in chain.stdout  # chain [leaf, CA]


async def test_https_without_intercept_passes_through_untouched(dev: DevServer) -> None:
    # §9 case 14: PlainTls denies github.com, but does not intercept HTTPS
    http = await dev.run(
        "plain-1", *CURL, "-o", "/dev/null", "-w", "%{http_code}", "http://github.com/", cls="PlainTls"
    )
    assert http.stdout == "520"
    https = await dev.run("plain-1", *CURL, "https://github.com/echo")
    assert https.code == 0, https.stderr
    assert json.loads(https.stdout)["path"] == "/echo"
    issuer = await dev.run(
        "plain-1",
        "sh",
        "-c",
        "openssl s_client -connect github.com:443 -servername github.com </dev/null 2>/dev/null | grep '^issuer'",
    )
    assert "outbound test CA" in issuer.stdout  # the upstream's own certificate, not an interception leaf
    env = await dev.run("plain-1", "env")
    assert "SANDBOX_INTERCEPT_HTTPS" not in env.stdout


async def test_other_ports_pass_through_or_are_refused(dev: DevServer) -> None:
    # §9 case 15: a catch-all is set, yet port 8080 never reaches it
    async with dev.remote() as remote:
        await remote.create_sandbox("ports-1", "Agent")
        await remote.sandbox("ports-1").set_outbound_handler("report")
    handled = await dev.run("ports-1", *CURL, "http://upstream.test/echo")
    assert json.loads(handled.stdout)["handler"] == "report"
    other = await dev.run("ports-1", *CURL, "http://upstream.test:8080/echo")
    assert json.loads(other.stdout)["path"] == "/echo"  # the upstream itself answered
    refused = await dev.run("ports-offline", *CURL, "http://1.2.3.4:8080/", cls="Offline")
    assert refused.code in (7, 52, 56), refused  # closed without a reply


async def test_the_url_a_handler_sees(dev: DevServer) -> None:
    # §9 / §2.2: ip literals and Host header first
    by_ip = await dev.run("url-1", *CURL, "http://1.2.3.4/", cls="Offline")
    assert json.loads(by_ip.stdout)["url"] == "http://1.2.3.4/"
    async with dev.remote() as remote:
        await remote.create_sandbox("url-2", "Agent")
        await remote.sandbox("url-2").set_outbound_handler("report")
    with_port = await dev.run("url-2", *CURL, "http://1.2.3.4:80/a/b")
    assert json.loads(with_port.stdout)["url"] == "http://1.2.3.4/a/b"
    host_first = await dev.run("url-2", *CURL, "-H", "Host: api.test", "http://1.2.3.4/x")
    assert json.loads(host_first.stdout)["url"] == "http://api.test/x"


async def test_dns_answers_as_production_does(dev: DevServer) -> None:
    # §2.4: internet off: registered names resolve to the placeholder, others do not resolve
    virtual = await dev.run("dns-off", "getent", "ahostsv4", "virtual.test", cls="Dark")
    assert virtual.stdout.split()[0] == "11.0.0.1"
    virtual6 = await dev.run("dns-off", "dig", "+short", "AAAA", "virtual.test")
    assert virtual6.stdout.split() == ["fd00::1"]
    resolver = await dev.run("dns-off", "dig", "+short", "@8.8.8.8", "virtual.test")  # any resolver: still ours
    assert resolver.stdout.split() == ["11.0.0.1"]
    unknown = await dev.run("dns-off", "getent", "hosts", "upstream.test")
    assert unknown.code == 2 and unknown.stdout == ""
    # …unless an IP registration exists (Offline registers "1.2.3.4"): then every name resolves
    every = await dev.run("dns-ip", "getent", "ahostsv4", "upstream.test", cls="Offline")
    assert every.stdout.split()[0] == "11.0.0.1"
    online = await dev.run("dns-on", "getent", "ahostsv4", "upstream.test", cls="Agent")
    assert online.stdout.split()[0].startswith("11.")


async def test_credentials_are_injected_and_never_seen_by_the_sandbox(dev: DevServer, internet: LocalInternet) -> None:
    async with dev.remote() as remote:
        await remote.create_sandbox("cred-1", "Agent")
        await remote.sandbox("cred-1").set_outbound_handler("inject")
    internet.recorder.requests.clear()
    response = await dev.run("cred-1", *CURL, "-i", "https://github.com/record")
    assert response.code == 0, response.stderr
    [seen] = [r for r in internet.recorder.requests if r["path"] == "/record"]
    assert seen_header(seen, "authorization") == f"Bearer {SECRET}"
    assert SECRET not in response.stdout
    environment = await dev.run("cred-1", "env")
    assert SECRET not in environment.stdout
    files = await dev.run(
        "cred-1", "sh", "-c", f"grep -rl '{SECRET}' /etc/resolv.conf /etc/ssl/certs . 2>/dev/null; true"
    )
    assert files.stdout == ""


async def test_the_emulator_is_out_of_reach(dev: DevServer) -> None:
    control_port = str(dev.info["control"]).rsplit(":", 1)[1]
    loopback = await dev.run("reach-1", *CURL, f"http://127.0.0.1:{control_port}/v1/sandboxes", cls="Agent")
    assert loopback.code == 7  # the sandbox's own loopback: nothing listens there
    network = await dev.run("reach-1", "sh", "-c", "ip route | awk '/default/ {print $3}'")
    host_ip = network.stdout.strip()
    # Captured like all TCP; the destination is the emulator's own machine, so the proxy never dials it: a
    # port other than 80/443 is closed without a reply, and HTTP on 80 passed through gets a 502 saying why.
    via_host = await dev.run("reach-1", *CURL, "-i", f"http://{host_ip}:{control_port}/v1/sandboxes")
    assert via_host.code == 52 and via_host.stdout == "", via_host
    proxy_port = str(dev.info["explicitProxy"]).rsplit(":", 1)[1]
    proxy_loop = await dev.run("reach-1", *CURL, "-i", f"http://{host_ip}:{proxy_port}/")
    assert proxy_loop.code == 52, proxy_loop
    port_80 = await dev.run("reach-1", *CURL, "-i", f"http://{host_ip}/")
    assert port_80.stdout.startswith("HTTP/1.1 502"), port_80
    assert "is an address of the emulator's own machine" in port_80.stdout
    # The URL a handler sees comes from the Host header: an IPv6 spelling of the host's loopback is its loopback
    upstream_port = dev.internet.connect_to["upstream.test"].rsplit(":", 1)[1]
    for spelling in ("[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::127.0.0.1]", "[2002:7f00:1::]"):
        mapped = await dev.run(
            "reach-1", *CURL, "-i", "-H", f"Host: {spelling}:{upstream_port}", f"http://{host_ip}/echo"
        )
        assert mapped.stdout.startswith("HTTP/1.1 502"), (spelling, mapped)
    # Production egress cannot reach this machine's LAN or its cloud metadata service; neither can a sandbox here
    for host, why in (
        ("169.254.169.254", "link-local or cloud metadata"),
        ("[fd00:ec2::254]", "link-local or cloud metadata"),
        ("10.1.2.3", "a private address"),
        ("100.64.0.1", "a private address"),
    ):
        private = await dev.run("reach-1", *CURL, "-i", "-H", f"Host: {host}", f"http://{host_ip}/latest/meta-data/")
        assert private.stdout.startswith("HTTP/1.1 502") and why in private.stdout, (host, private)
    memory = await dev.run("reach-1", "cat", f"/proc/{dev.info['pid']}/environ")
    assert memory.code != 0 and "Permission denied" in memory.stderr
    uid = await dev.run("reach-1", "id", "-u")
    assert int(uid.stdout) >= 2_100_000


async def test_two_sandboxes_two_policies_at_once(dev: DevServer) -> None:
    async with dev.remote() as remote:
        await remote.create_sandbox("pair-open", "Agent")
        await remote.create_sandbox("pair-shut", "Agent")
        await remote.sandbox("pair-open").set_outbound_handler("report")
        await remote.sandbox("pair-shut").set_outbound_handler("noHttp")
    open_, shut = await asyncio.gather(
        dev.run("pair-open", *CURL, "-o", "/dev/null", "-w", "%{http_code}", "http://elsewhere.test/"),
        dev.run("pair-shut", *CURL, "-o", "/dev/null", "-w", "%{http_code}", "http://elsewhere.test/"),
    )
    assert (open_.stdout, shut.stdout) == ("200", "403")


KEEP_ALIVE = """
import http.client, os, time
connection = http.client.HTTPConnection("elsewhere.test", 80, timeout=10)
connection.request("GET", "/one"); first = connection.getresponse(); first.read()
port = connection.sock.getsockname()[1]
print(first.status, flush=True)
open("ready", "w").close()
while not os.path.exists("go"):
    time.sleep(0.02)
connection.request("GET", "/two"); second = connection.getresponse(); second.read()
print(second.status, connection.sock.getsockname()[1] == port)  # the same TCP connection
"""


async def test_a_policy_change_applies_to_an_open_connection(dev: DevServer) -> None:
    async with dev.remote() as remote:
        await remote.create_sandbox("keep-1", "Agent")
        await remote.sandbox("keep-1").set_outbound_handler("report")
        folder = workdir(dev, "keep-1")
        running = asyncio.create_task(dev.run("keep-1", PYTHON, "-c", KEEP_ALIVE))
        for _ in range(400):
            if (folder / "ready").exists():
                break
            await asyncio.sleep(0.025)
        await remote.sandbox("keep-1").set_outbound_handler("noHttp")
        (folder / "go").touch()
        result = await running
    assert result.stdout.split() == ["200", "403", "True"], result


async def test_node_and_python_clients_trust_the_interception(dev: DevServer) -> None:
    async with dev.remote() as remote:
        await remote.create_sandbox("clients-1", "Agent")
        await remote.sandbox("clients-1").set_outbound_handler("report")
    node = await dev.run(
        "clients-1",
        "node",
        "-e",
        "require('https').get('https://github.com/node', r => { "
        "let b=''; r.on('data', c => b += c); r.on('end', () => console.log(JSON.parse(b).url)); })",
    )
    assert node.stdout.strip() == "https://github.com/node", node.stderr
    python = await dev.run(
        "clients-1",
        PYTHON,
        "-c",
        "import urllib.request, json; print(json.load(urllib.request.urlopen('https://github.com/py'))['url'])",
    )
    assert python.stdout.strip() == "https://github.com/py", python.stderr
    http2 = await dev.run(
        "clients-1", *CURL, "--http2", "-o", "/dev/null", "-w", "%{http_version}", "https://github.com/h2"
    )
    assert http2.stdout == "2"


WEBSOCKET = """
import base64, os, socket
sock = socket.create_connection(("upstream.test", 80), timeout=10)
key = base64.b64encode(os.urandom(16)).decode()
sock.sendall(f"GET /ws HTTP/1.1\\r\\nHost: upstream.test\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n"
             f"Sec-WebSocket-Key: {key}\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n".encode())
head = b""
while b"\\r\\n\\r\\n" not in head:
    head += sock.recv(1)
print(head.split(b"\\r\\n")[0].decode())
payload, mask = b"hello", os.urandom(4)
sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
frame = sock.recv(2); data = sock.recv(frame[1] & 0x7F)
print(data.decode())
"""


async def test_websocket_upgrade_passes_through(dev: DevServer) -> None:
    result = await dev.run("ws-1", PYTHON, "-c", WEBSOCKET, cls="Agent")
    assert result.stdout.splitlines() == ["HTTP/1.1 101 Switching Protocols", "echo: hello"], result


async def test_a_sandbox_does_not_trust_another_sandboxs_ca(dev: DevServer) -> None:
    async with dev.remote() as remote:
        await remote.create_sandbox("ca-a", "Agent")
        await remote.create_sandbox("ca-b", "Agent")
        await remote.sandbox("ca-b").set_outbound_handler("report")
        ca_a = await remote.sandbox("ca-a").ca_certificate()
        ca_b = await remote.sandbox("ca-b").ca_certificate()
    assert ca_a != ca_b
    (workdir(dev, "ca-b") / "other.pem").write_bytes(ca_a)
    wrong = await dev.run("ca-b", *CURL, "--cacert", "other.pem", "https://github.com/")
    assert wrong.code == 60  # curl: the peer's certificate cannot be authenticated with the given CA
    right = await dev.run(
        "ca-b", *CURL, "--cacert", "/etc/cloudflare/certs/cloudflare-containers-ca.crt", "https://github.com/ok"
    )
    assert json.loads(right.stdout)["url"] == "https://github.com/ok"


def _rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) * 1024


async def test_a_passed_through_download_streams(dev: DevServer) -> None:
    size = 192 * 1024 * 1024
    pid = int(str(dev.info["pid"]))
    before = peak = _rss(pid)
    download = asyncio.create_task(
        dev.run(
            "big-1",
            "curl",
            "-sS",
            "-m",
            "60",
            "-o",
            "/dev/null",
            "-w",
            "%{size_download}",
            f"http://upstream.test/bytes/{size}",
            cls="Agent",
            timeout=90,
        )
    )
    while not download.done():
        peak = max(peak, _rss(pid))
        await asyncio.sleep(0.01)
    assert download.result().stdout == str(size), download.result()
    assert peak - before < 48 * 1024 * 1024, f"the emulator grew by {(peak - before) >> 20} MiB for a 192 MiB body"
