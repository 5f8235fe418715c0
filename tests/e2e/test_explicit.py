"""The same flows through the explicit proxy (HTTP_PROXY with per-sandbox credentials): the fallback where
network namespaces cannot be used."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator

import pytest

from tests.e2e.conftest import CAPTURE, DevServer, seen_header, start_dev, traversable_folder
from tests.support.upstream import LocalInternet

pytestmark = pytest.mark.e2e

SECRET = "sk-e2e-4f1d9c0a-never-in-the-sandbox"
CURL = ("curl", "-sS", "-m", "10")


@pytest.fixture(scope="module")
async def dev(internet: LocalInternet) -> AsyncIterator[DevServer]:
    server = await start_dev(CAPTURE, traversable_folder("explicit"), internet, "explicit")
    try:
        yield server
    finally:
        await server.stop()


async def test_requests_through_the_proxy_reach_handlers(dev: DevServer) -> None:
    async with dev.remote() as remote:
        await remote.create_sandbox("ex-1", "Agent")
        await remote.sandbox("ex-1").set_outbound_handler("report")
    http = await dev.run("ex-1", *CURL, "http://api.test/a")
    assert json.loads(http.stdout)["url"] == "http://api.test/a", http
    assert "non-cooperating" in http.stderr or "ignore proxy variables" in http.stderr  # the visible warning
    https = await dev.run("ex-1", *CURL, "https://github.com/b")
    assert json.loads(https.stdout)["url"] == "https://github.com/b", https
    denied = await dev.run("ex-1", *CURL, "-o", "/dev/null", "-w", "%{http_code}", "http://denied.test/")
    assert denied.stdout == "520"
    # mitmproxy's own apps (its onboarding site answers mitm.it) must not answer before the policy does
    onboarding = await dev.run("ex-1", *CURL, "http://mitm.it/cert/pem")
    assert json.loads(onboarding.stdout)["url"] == "http://mitm.it/cert/pem", onboarding


async def test_credentials_are_injected_through_the_proxy(dev: DevServer, internet: LocalInternet) -> None:
    async with dev.remote() as remote:
        await remote.create_sandbox("ex-cred", "Agent")
        await remote.sandbox("ex-cred").set_outbound_handler("inject")
    internet.recorder.requests.clear()
    response = await dev.run("ex-cred", *CURL, "https://github.com/record")
    assert json.loads(response.stdout) == {"recorded": True}, response
    [seen] = internet.recorder.requests
    assert seen_header(seen, "authorization") == f"Bearer {SECRET}"
    assert seen_header(seen, "proxy-authorization") is None  # the sandbox's credentials never go upstream
    environment = await dev.run("ex-cred", "env")
    assert SECRET not in environment.stdout


async def test_no_or_wrong_credentials_are_refused(dev: DevServer) -> None:
    proxy = str(dev.info["explicitProxy"])
    port = proxy.rsplit(":", 1)[1]
    async with dev.remote() as remote:
        await remote.create_sandbox("ex-a", "Agent")
        await remote.create_sandbox("ex-b", "Agent")
        info_b = await remote.sandbox("ex-b").launch_info()
    token_b = info_b["env"]["HTTP_PROXY"].split(":")[2].split("@")[0]
    for credentials in ("", "ex-a:not-the-token@", f"ex-a:{token_b}@"):  # none, wrong, another sandbox's
        result = await dev.run(
            "ex-a", *CURL, "-i", "--proxy", f"http://{credentials}127.0.0.1:{port}", "http://api.test/x"
        )
        assert result.stdout.startswith("HTTP/1.1 407"), (credentials, result)
        assert "does not belong to any sandbox" in result.stdout


async def test_passthrough_never_reaches_this_machine_or_its_network(dev: DevServer) -> None:
    upstream_port = dev.internet.connect_to["upstream.test"].rsplit(":", 1)[1]
    for url, why in (
        (f"http://127.0.0.1:{upstream_port}/echo", "own machine"),
        (f"http://[::ffff:127.0.0.1]:{upstream_port}/echo", "own machine"),
        ("http://169.254.169.254/latest/meta-data/", "link-local or cloud metadata"),
        ("http://192.168.0.1/", "a private address"),
    ):
        result = await dev.run("ex-private", *CURL, "-i", url, cls="Agent")
        assert result.stdout.startswith("HTTP/1.1 502") and why in result.stdout, (url, result)
    # TLS that is not decrypted (no SNI for an address) is vetted where it is dialled too
    tunnel = await dev.run("ex-private", *CURL, "-k", f"https://127.0.0.1:{upstream_port}/", cls="Agent")
    assert tunnel.code != 0 and "upstream ok" not in tunnel.stdout, tunnel


async def test_tls_that_is_not_decrypted_goes_where_connect_to_says(dev: DevServer) -> None:
    # PlainTls does not intercept HTTPS: the CONNECT's name is dialled, through --connect-to like any other
    https = await dev.run("ex-plain", *CURL, "https://github.com/echo", cls="PlainTls")
    assert https.code == 0, https
    assert json.loads(https.stdout)["path"] == "/echo"


async def test_the_working_folder_belongs_to_the_user_running_outbound(dev: DevServer) -> None:
    """In explicit mode commands run as the user running outbound: giving their folder to a sandbox uid would
    lock them out of it, and a user without root cannot give a folder away at all (EPERM: no sandbox)."""
    async with dev.remote() as remote:
        await remote.create_sandbox("ex-owner", "Agent")
    made = await dev.run("ex-owner", "sh", "-c", "echo kept > note && cat note")
    assert made.stdout == "kept\n", made
    work = dev.state / "sandboxes" / "ex-owner" / "work"
    assert (work.stat().st_uid, work.stat().st_mode & 0o777) == (os.getuid(), 0o700)
