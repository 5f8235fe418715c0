"""`outbound request` and `outbound policy`, run as the user runs them (a real process each)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT / "fixtures" / "handlers" / "conformance"


def outbound(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    # Bytes first: the response is printed with CRLF line ends, which text mode would translate away.
    raw = subprocess.run(
        [sys.executable, "-m", "emulator", *args], cwd=cwd, capture_output=True, timeout=60, check=False
    )
    return subprocess.CompletedProcess(raw.args, raw.returncode, raw.stdout.decode(), raw.stderr.decode())


@pytest.fixture
def state(tmp_path: Path) -> str:
    return str(tmp_path / "state")


def test_request_prints_the_response_like_curl_and_the_rule_on_stderr(state: str) -> None:
    result = outbound(
        "request",
        "--config",
        str(CONFORMANCE),
        "--persist-to",
        state,
        "--sandbox",
        "cli-1",
        "--class",
        "Precedence",
        "-H",
        "X-Test: 1",
        "http://github.com/repo",
    )
    assert result.returncode == 0, result.stderr
    head, body = result.stdout.split("\r\n\r\n", 1)
    assert head.splitlines()[0] == "HTTP/1.1 200 OK"
    assert "content-type: application/json" in head.splitlines()
    assert json.loads(body)["handler"] == "static github.com"
    assert result.stderr.strip().splitlines()[-1] == (
        'outbound: sandbox cli-1 (Precedence): static per-host outboundByHost["github.com"] -> 200'
    )


def test_policy_changes_what_the_next_request_gets(state: str) -> None:
    common = ("--config", str(CONFORMANCE), "--persist-to", state)
    changed = outbound(
        "policy",
        *common,
        "--class",
        "Lockdown",
        "cli-2",
        "setOutboundHandler",
        "allowHosts",
        '{"allowedHostnames": ["github.com"]}',
    )
    assert changed.returncode == 0, changed.stderr
    assert json.loads(changed.stdout)["outboundHandlerOverride"] == {
        "method": "allowHosts",
        "hasParams": True,
        "params": {"allowedHostnames": ["github.com"]},
    }
    # the sandbox's class is remembered: no --class from here on
    denied = outbound("request", *common, "--sandbox", "cli-2", "http://elsewhere.example/")
    assert denied.stdout.startswith("HTTP/1.1 403 Forbidden\r\n")
    assert "runtime catch-all outboundHandlers.allowHosts -> 403" in denied.stderr


def test_unknown_handler_is_cloudflares_error_and_exit_1(state: str) -> None:
    result = outbound(
        "policy",
        "--config",
        str(CONFORMANCE),
        "--persist-to",
        state,
        "--class",
        "Lockdown",
        "cli-3",
        "setOutboundHandler",
        "nope",
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "outbound: error: Outbound handler method 'nope' not found in outboundHandlers for Lockdown"
    )


def test_bad_json_argument_says_how_to_quote_it(state: str) -> None:
    result = outbound(
        "policy",
        "--config",
        str(CONFORMANCE),
        "--persist-to",
        state,
        "--class",
        "Lockdown",
        "cli-4",
        "setAllowedHosts",
        "github.com",
    )
    assert result.returncode == 1
    assert "setAllowedHosts: 'github.com' is not valid JSON" in result.stderr


def test_a_refused_connection_exits_like_curl(state: str) -> None:
    result = outbound(
        "request",
        "--config",
        str(CONFORMANCE),
        "--persist-to",
        state,
        "--sandbox",
        "cli-5",
        "--class",
        "PlainClosed",
        "http://h.com/",
    )
    assert result.returncode == 52
    assert "enableInternet is false" in result.stderr


def test_an_entry_file_works_as_the_target(state: str) -> None:
    entry = ROOT / "fixtures" / "handlers" / "egress-tests" / "src" / "index.ts"
    result = outbound("request", str(entry), "--persist-to", state, "--sandbox", "cli-6", "http://by-host.com/")
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("outboundByHost: by-host.com")


def test_no_config_found_is_one_clear_line(tmp_path: Path) -> None:
    result = outbound("request", "--sandbox", "s", "http://x.com/", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("outbound: error: no wrangler.json")
    assert "Traceback" not in result.stderr


def test_a_syntax_error_names_the_ts_line(tmp_path: Path) -> None:
    result = outbound(
        "request",
        str(ROOT / "fixtures" / "broken" / "syntax-error.ts"),
        "--persist-to",
        str(tmp_path),
        "--sandbox",
        "s",
        "http://x.com/",
    )
    assert result.returncode == 1
    assert "syntax-error.ts:4:" in result.stderr
    assert 'Expected "]"' in result.stderr
