"""CA and control (threat model §5.16, §5.6): a sandbox cannot read a CA key or anything else the emulator keeps,
reach the control API, or act as another sandbox.

Where things live: each sandbox's CA key exists only in the emulator's memory (ca.py); mitmproxy's own CA (unused
for sandboxes) is ``<state>/mitmproxy/mitmproxy-ca.pem``; Secrets Store values, KV and R2 data, every
sandbox's policy (with the params of its handlers) and the audit log are files in the state folder; the
control API's token is ``<state>/dev.json``. In namespace capture a sandbox runs as its own unprivileged uid
and must be able to get through the state folder to its working folder, and nothing more (statefolder.py).
The explicit proxy is no isolation (SECURITY.md, known limits): its sandboxes run as the user who started
them, so they can read what that user can; what still holds there is that credentials are checked per
connection and one connection cannot carry two sandboxes.

That a sandbox does not trust another sandbox's CA in namespace capture is
tests/e2e/test_capture.py::test_a_sandbox_does_not_trust_another_sandboxs_ca; the explicit-proxy case is here.

The project is fixtures/handlers/audit (a Secrets Store binding, ``Audited`` passes everything through and has
a ``forward`` handler); the store is seeded before the emulator starts, as a user's would be.
"""

from __future__ import annotations

import json
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bindings import SecretsStoreSpec, open_bindings
from bindings.secrets import put_secret
from emulator import statefolder
from emulator.state import STATE_FILENAME
from tests.e2e.conftest import ROOT, DevServer, namespaces_available, start_dev, traversable_folder
from tests.security.conftest import MODES, PYTHON, Upstreams
from tests.support.upstream import LocalInternet

pytestmark = pytest.mark.e2e

AUDIT = ROOT / "fixtures" / "handlers" / "audit"
VAULT = "vault-identity-8e41c07d2b"  # the Secrets Store value
PARAMS = "params-identity-51fa9c3e"  # another sandbox's handler params, persisted with its policy
NOTE = "note-identity-0d7b2a96"
DOTENV_SECRET = "sk-audit-dotenv-6d2f0b19"  # fixtures/handlers/audit/.dev.vars  # a file another sandbox wrote in its working folder
CURL = ("curl", "-sS", "-i", "-m", "5")
# In <state>/sandboxes/<id>/: certificates, a resolver, and the empty file mounted over secrets files.
PUBLIC = ("ca.crt", "bundle.crt", "resolv.conf", "nothing")

# Opens every path in argv[1] (a JSON list) and says what happened; lists the sandboxes' folder (argv[2]).
READ_ALL = r"""
import json, os, sys
paths, state = json.load(open(sys.argv[1])), sys.argv[2]
result = {}
for path in paths:
    try:
        with open(path, "rb") as file:
            result[path] = "read:" + file.read().decode("latin-1")
    except OSError as error:
        result[path] = f"denied:{error.errno}"
try:
    result["<list>"] = "read:" + " ".join(os.listdir(os.path.join(state, "sandboxes")))
except OSError as error:
    result["<list>"] = f"denied:{error.errno}"
print(json.dumps(result))
"""

# What a process of another user can learn of each pid in argv[1:] through /proc, and whether it can signal it.
PROBE = r"""
import json, os, sys
result = {}
for pid in sys.argv[1:]:
    for name in ("environ", "mem", "maps", "auxv", "stack", "syscall"):
        try:
            open(f"/proc/{pid}/{name}", "rb").close()  # opening is the check (mem at offset 0 reads nothing)
            result[f"{pid}/{name}"] = "opened"
        except OSError as error:
            result[f"{pid}/{name}"] = f"denied:{error.errno}"
    for name, look in (("fd", os.listdir), ("cwd", os.readlink), ("root", os.listdir), ("map_files", os.listdir)):
        try:
            look(f"/proc/{pid}/{name}")
            result[f"{pid}/{name}"] = "read"
        except OSError as error:
            result[f"{pid}/{name}"] = f"denied:{error.errno}"
    try:
        os.kill(int(pid), 0)
        result[f"{pid}/signal"] = "sent"
    except OSError as error:
        result[f"{pid}/signal"] = f"denied:{error.errno}"
print(json.dumps(result))
"""


async def seed_vault(state: Path) -> None:
    bindings = await open_bindings([SecretsStoreSpec("VAULT", "audit-store", "vault-key")], state)
    await put_secret(bindings["VAULT"].store, "vault-key", VAULT)
    await bindings.close()


@pytest.fixture(scope="module", params=MODES)
async def dev(request: pytest.FixtureRequest, internet: tuple[LocalInternet, Upstreams]) -> AsyncIterator[DevServer]:
    mode = str(request.param)
    if mode == "namespace" and not namespaces_available():
        pytest.skip("needs root, network namespaces and nftables")
    state = traversable_folder(f"identity-{mode}")
    await seed_vault(state)
    server = await start_dev(AUDIT, state, internet[0], mode)
    try:
        yield server
    finally:
        await server.stop()


def namespace_only(dev: DevServer) -> None:
    if dev.capture != "namespace":
        pytest.skip("explicit-proxy sandboxes run as the user who started them (SECURITY.md, known limits)")


def work(dev: DevServer, sandbox: str) -> Path:
    return dev.state / "sandboxes" / sandbox / "work"


async def other_sandbox(dev: DevServer) -> str:
    """A second sandbox with a handler whose params are a secret, and a private file in its working folder."""
    async with dev.remote() as remote:
        await remote.create_sandbox("id-other", "Audited")
        await remote.sandbox("id-other").set_outbound_handler("forward", {"token": PARAMS})
    wrote = await dev.run("id-other", "sh", "-c", f"echo {NOTE} > note && chmod 644 note", cls="Audited")
    assert wrote.code == 0, wrote
    return "id-other"


def expected_readable(dev: DevServer, sandbox: str, path: Path) -> bool:
    """What a sandbox may read in the state folder: any sandbox's public files, and its own working folder."""
    relative = path.relative_to(dev.state).parts
    if relative == ("dev.log",):
        return True  # the test harness's record of the emulator's output (tests/e2e/conftest.py), not the emulator's
    if len(relative) == 3 and relative[0] == "sandboxes" and relative[2] in PUBLIC:
        return True
    return relative[:3] == ("sandboxes", sandbox, "work")


async def test_a_sandbox_reads_nothing_the_emulator_keeps(dev: DevServer) -> None:
    """Every file in the state folder, opened by its full name as the sandbox's uid: only certificates, a
    resolver file and the sandbox's own work are readable; the Secrets Store, the policies (another sandbox's
    handler params), the audit log, mitmproxy's CA key, dev.json and another sandbox's work are not, and the
    folder cannot be listed. No private key and no secret is in anything it could read."""
    namespace_only(dev)
    other = await other_sandbox(dev)
    sandbox = "id-reader"
    async with dev.remote() as remote:
        await remote.create_sandbox(sandbox, "Audited")
    paths = sorted(path for path in dev.state.rglob("*") if path.is_file())
    assert any("secrets-store" in str(path) for path in paths) and (work(dev, other) / "note").exists()
    (work(dev, sandbox) / "paths.json").write_text(json.dumps([str(path) for path in paths]))
    result = await dev.run(sandbox, PYTHON, "-c", READ_ALL, "paths.json", str(dev.state), cls="Audited")
    assert result.code == 0, result
    seen: dict[str, str] = json.loads(result.stdout)
    assert seen.pop("<list>") == "denied:13"  # EACCES: traversable, not listable: no sandbox ids to learn
    readable = {path for path, outcome in seen.items() if outcome.startswith("read:")}
    assert readable == {str(path) for path in paths if expected_readable(dev, sandbox, path)}, seen
    for path in readable:
        for secret in (VAULT, PARAMS, NOTE, "PRIVATE KEY", str(dev.info["token"])):
            assert secret not in seen[path], (path, secret)


async def test_the_projects_secrets_files_are_empty_inside_a_sandbox(dev: DevServer) -> None:
    """The project's folder is the user's and not isolated, but .dev.vars (and .env files), where the secrets
    handlers inject come from, read as empty files from inside a sandbox."""
    namespace_only(dev)
    dev_vars = AUDIT / ".dev.vars"
    assert DOTENV_SECRET in dev_vars.read_text()
    read = await dev.run(
        "id-dotenv", "sh", "-c", f"cat {dev_vars}; grep -r {DOTENV_SECRET} {AUDIT}; true", cls="Audited"
    )
    assert read.code == 0 and read.stdout == "", read
    assert DOTENV_SECRET in dev_vars.read_text()  # the host's file is untouched


async def test_the_emulators_processes_are_out_of_reach(dev: DevServer) -> None:
    """The emulator (its CA keys are in its memory) and its JS workers: the sandbox can read none of their
    environment, memory, maps, descriptors or working folder, nor signal them."""
    namespace_only(dev)
    assert dev.process is not None
    pids = [dev.process.pid, *children(dev.process.pid)]
    assert len(pids) > 1, "no JS worker found: the test would look at the emulator alone"
    result = await dev.run("id-probe", PYTHON, "-c", PROBE, *map(str, pids), cls="Audited")
    assert result.code == 0, result
    probed: dict[str, str] = json.loads(result.stdout)
    # EACCES for what /proc guards with ptrace's access check, EPERM for a signal to another user's process.
    reached = {what: outcome for what, outcome in probed.items() if outcome not in ("denied:13", "denied:1")}
    assert reached == {}, reached


def children(pid: int) -> list[int]:
    """Every descendant of ``pid``."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *children(int(child))]
    return found


async def test_the_control_api_answers_at_no_address_a_sandbox_can_reach(dev: DevServer) -> None:
    """The control API listens on the host's 127.0.0.1. From a sandbox, with the real token even: 127.0.0.1 and
    localhost are the sandbox's own loopback (nothing listens), every other address of this machine is
    captured and refused, and HTTP naming it in the Host header is answered 502 by the proxy."""
    namespace_only(dev)
    control = str(dev.info["control"])
    port = control.rsplit(":", 1)[1]
    bearer = f"Authorization: Bearer {dev.info['token']}"
    route = await dev.run("id-control", "ip", "route", cls="Audited")
    gateway = route.stdout.split("default via ", 1)[1].split()[0]
    addresses = ["127.0.0.1", "localhost", gateway, *host_ipv4_addresses()]
    curl = f"curl -sS -i -m 5 -H '{bearer}'"
    script = " ; ".join(
        [f'{curl} http://{address}:{port}/v1/sandboxes 2>&1; echo " rc=$?"' for address in addresses]
        + [f"{curl} -H 'Host: 127.0.0.1:{port}' http://{gateway}/v1/sandboxes"]
    )
    result = await dev.run("id-control", "sh", "-c", script, cls="Audited")
    answers = result.stdout.split(" rc=")
    assert len(answers) == len(addresses) + 1, result
    for address, answer in zip(addresses, answers[1:], strict=True):
        code = answer.split("\n", 1)[0]
        assert code in ("7", "52"), (address, answer)  # nothing listens there / closed by the proxy
    assert answers[-1].split("\n", 1)[1].startswith("HTTP/1.1 502"), answers[-1]
    assert "127.0.0.1 is an address of the emulator's own machine" in answers[-1]
    assert '"class"' not in result.stdout  # no list of sandboxes came back
    assert "Unauthorized" not in result.stdout


def host_ipv4_addresses() -> list[str]:
    with open("/proc/net/fib_trie") as trie:  # every local IPv4 address, without running `ip`
        lines = trie.read().splitlines()
    found = {lines[i - 1].split()[-1] for i, line in enumerate(lines) if "/32 host LOCAL" in line}
    return sorted(address for address in found if not address.startswith("127."))


async def test_a_sandbox_holds_no_proxy_credentials_and_cannot_reach_the_explicit_proxy(dev: DevServer) -> None:
    """Namespace capture needs no credentials (the address is the identity, and nftables drops spoofed
    sources: tests/netns). The explicit proxy still listens on the host's 127.0.0.1; from a sandbox that is
    its own loopback, and the host's other addresses are captured and refused."""
    namespace_only(dev)
    proxy_port = str(dev.info["explicitProxy"]).rsplit(":", 1)[1]
    route = await dev.run("id-creds", "ip", "route", cls="Audited")
    gateway = route.stdout.split("default via ", 1)[1].split()[0]
    environment = await dev.run("id-creds", "env", cls="Audited")
    assert "proxy" not in environment.stdout.lower(), environment.stdout
    for proxy in (f"127.0.0.1:{proxy_port}", f"{gateway}:{proxy_port}"):
        tried = await dev.run(
            "id-creds", *CURL, "--proxy", f"http://id-other:guess@{proxy}", "http://upstream.test/echo", cls="Audited"
        )
        assert tried.code in (7, 52) and "HTTP/" not in tried.stdout, (proxy, tried)


async def test_one_connection_cannot_carry_two_sandboxes(dev: DevServer) -> None:
    """Explicit proxy: a connection that authenticated as one sandbox and then presents another sandbox's valid
    credentials is refused (403) for that request, and the other sandbox's own connections are unaffected. A
    guessed token, or one sandbox's token under another's name, is 407: tests/e2e/test_explicit.py::
    test_no_or_wrong_credentials_are_refused. Neither sandbox's environment or files hold the other's token."""
    if dev.capture != "explicit":
        pytest.skip("namespace capture has no proxy credentials")
    async with dev.remote() as remote:
        await remote.create_sandbox("id-a", "Audited")
        await remote.create_sandbox("id-b", "Audited")
        proxy_b = (await remote.sandbox("id-b").launch_info())["env"]["HTTP_PROXY"]
    token_b = proxy_b.split("@", 1)[0].rsplit(":", 1)[1]
    result = await dev.run("id-a", PYTHON, "-c", TWO_CREDENTIALS, f"id-b:{token_b}", cls="Audited")
    assert result.code == 0, result
    first, second = result.stdout.split("\n=====\n")
    assert first.startswith("HTTP/1.1 200"), first
    assert second.startswith("HTTP/1.1 403"), second
    assert second.endswith("outbound: one connection cannot carry two sandboxes' credentials.\n"), second
    search = f"env; grep -rl '{token_b}' . ../ca.crt ../bundle.crt; true"
    leaked = await dev.run("id-a", "sh", "-c", search, cls="Audited")
    assert token_b not in leaked.stdout, leaked


# Two requests on one connection to the explicit proxy: the first with this sandbox's credentials, the second with
# argv[1] ("id:token"). Prints both answers, separated by a line of "=====".
TWO_CREDENTIALS = r"""
import base64, os, socket, sys
from urllib.parse import urlsplit
proxy = urlsplit(os.environ["HTTP_PROXY"])
mine = base64.b64encode(f"{proxy.username}:{proxy.password}".encode()).decode()
theirs = base64.b64encode(sys.argv[1].encode()).decode()
sock = socket.create_connection((proxy.hostname, proxy.port), timeout=10)
answers = []
for auth in (mine, theirs):
    request = f"GET http://upstream.test/echo HTTP/1.1\r\nHost: upstream.test\r\nProxy-Authorization: Basic {auth}\r\n\r\n"
    sock.sendall(request.encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    answers.append((head + b"\r\n\r\n" + body).decode())
print("\n=====\n".join(answers), end="")
"""


async def test_a_sandboxs_ca_is_not_accepted_for_another_sandboxs_traffic(dev: DevServer) -> None:
    """Explicit proxy (namespace capture: tests/e2e/test_capture.py): sandbox B's HTTPS, decrypted, is served
    with a leaf from B's CA; trusting A's CA instead fails verification."""
    if dev.capture != "explicit":
        pytest.skip("namespace capture: tests/e2e/test_capture.py::test_a_sandbox_does_not_trust_another_sandboxs_ca")
    async with dev.remote() as remote:
        await remote.create_sandbox("ca-a", "Audited")
        await remote.create_sandbox("ca-b", "Audited")
        ca_a = await remote.sandbox("ca-a").ca_certificate()
        ca_b = await remote.sandbox("ca-b").ca_certificate()
    assert ca_a != ca_b
    (work(dev, "ca-b") / "other.pem").write_bytes(ca_a)
    (work(dev, "ca-b") / "own.pem").write_bytes(ca_b)
    wrong = await dev.run("ca-b", *CURL, "--cacert", "other.pem", "https://github.com/echo", cls="Audited")
    assert wrong.code == 60, wrong  # curl: the peer's certificate cannot be authenticated with the given CA
    right = await dev.run("ca-b", *CURL, "--cacert", "own.pem", "https://github.com/echo", cls="Audited")
    assert right.code == 0 and right.stdout.startswith("HTTP/1.1 200"), right


async def test_the_state_folder_is_left_locked(dev: DevServer) -> None:
    """The folder as the emulator left it: what it keeps private, sandboxes/ traversable only, work folders 0700
    (in explicit mode too: other users of the machine have no business there either)."""
    kept = [entry for entry in dev.state.iterdir() if entry.name in statefolder.PRIVATE]
    kept += [entry for entry in dev.state.iterdir() if entry.name.startswith(STATE_FILENAME)]
    names = {entry.name for entry in kept}
    assert {"dev.json", "mitmproxy", "upstream-trust.pem", "secrets-store", "sandboxes.sqlite"} <= names, names
    for entry in kept:
        assert stat.S_IMODE(entry.lstat().st_mode) & 0o077 == 0, entry
    assert stat.S_IMODE((dev.state / "sandboxes").stat().st_mode) == 0o711
    for folder in (dev.state / "sandboxes").iterdir():
        assert stat.S_IMODE((folder / "work").stat().st_mode) == 0o700, folder
