"""Secrets never reach the log (issue 5): where the redactor learns them, the forms it recognises, and the places
a handler's secret could otherwise surface — console output, a URL or header it built, an error it threw, the
5xx body the sandbox gets when it fails."""

from __future__ import annotations

import base64
import json
import logging
import stat
import time
from collections.abc import AsyncIterator
from dataclasses import fields, replace
from pathlib import Path

import pytest

from bindings import SecretsStoreSpec, open_bindings
from bindings.secrets import put_secret
from emulator import Emulator
from emulator.audit import REDACTED, AuditLog, AuditRecord, ConsoleLine, Redactor
from tests.support.upstream import LocalInternet

ROOT = Path(__file__).resolve().parents[2]
AUDIT = ROOT / "fixtures" / "handlers" / "audit"
DOTENV_SECRET = "sk-audit-dotenv-6d2f0b19"  # fixtures/handlers/audit/.dev.vars
VAULT_AT_START = "vault-at-start-0a7c41e2"
VAULT_ROTATED = "vault-rotated-5be93d70"
SECRETS = (DOTENV_SECRET, VAULT_AT_START, VAULT_ROTATED)


@pytest.fixture(scope="module")
async def internet(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalInternet]:
    async with LocalInternet(tmp_path_factory.mktemp("internet")) as local:
        yield local


@pytest.fixture(scope="module")
async def emu(internet: LocalInternet, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Emulator]:
    state = tmp_path_factory.mktemp("state")
    seeded = await open_bindings([SecretsStoreSpec("VAULT", "audit-store", "vault-key")], state)
    await put_secret(seeded["VAULT"].store, "vault-key", VAULT_AT_START)
    await seeded.close()
    async with Emulator.load(
        AUDIT, persist_to=state, workers=1, connect_to=internet.connect_to, upstream_ca=internet.ca_file
    ) as emulator:
        yield emulator


def everything_logged(emu: Emulator, caplog: pytest.LogCaptureFixture) -> str:
    assert emu.persist_to is not None
    records = "\n".join(record.line() for record in emu.audit.records())
    return "\n".join([caplog.text, records, (emu.persist_to / "audit.jsonl").read_text()])


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text
        assert base64.b64encode(f"agent:{secret}".encode()).decode() not in text


async def test_bound_store_secrets_are_known_from_the_start(emu: Emulator) -> None:
    assert emu.redactor.redact(f"x {VAULT_AT_START} y") == f"x {REDACTED} y"
    assert emu.redactor.redact(f"x {DOTENV_SECRET} y") == f"x {REDACTED} y"


async def test_a_secret_a_handler_reads_is_redacted_everywhere(emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, "outbound")
    assert emu.bindings is not None
    await put_secret(emu.bindings["VAULT"].store, "vault-key", VAULT_ROTATED)  # set after the emulator started
    assert VAULT_ROTATED in emu.redactor.redact(VAULT_ROTATED)  # not known until a handler reads it
    sandbox = emu.sandbox("leak-1", cls="Audited")
    await sandbox.set_outbound_handler("leak", "params")
    emu.audit.clear()
    response = await sandbox.fetch(f"http://anywhere.test/?from={VAULT_ROTATED}")
    assert response.text() == "leak params 200"
    [record] = emu.audit.records("leak-1")
    assert record.url == f"http://anywhere.test/?from={REDACTED}"
    assert [line.level for line in record.console] == ["log", "warn", "error"]
    key_and_token = f"key={REDACTED}&token={REDACTED}"
    assert record.console[0].message == f"fetching http://upstream.test/echo?{key_and_token}"
    assert f"Bearer {REDACTED}" in record.console[1].message and f"Basic {REDACTED}" in record.console[1].message
    assert json.loads(record.console[2].message) == {
        "url": f"http://upstream.test/echo?{key_and_token}",
        "headers": {"authorization": f"Bearer {REDACTED}", "x-basic": f"Basic {REDACTED}"},
    }
    assert "fetching http://upstream.test/echo?key=" in caplog.text  # the console logger printed the line
    assert_no_secret(everything_logged(emu, caplog))


async def test_an_error_a_handler_throws_is_redacted_and_the_sandbox_gets_no_secret(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "outbound")
    sandbox = emu.sandbox("leak-2", cls="Audited")
    await sandbox.set_outbound_handler("leak")
    emu.audit.clear()
    thrown = await sandbox.fetch("http://anywhere.test/?mode=throw")
    unreachable = await sandbox.fetch("http://anywhere.test/?mode=unreachable")
    assert thrown.status == unreachable.status == 500
    assert thrown.text().startswith(
        "outbound: the outbound handler outboundHandlers.leak of Audited threw VaultError([redacted]) at src/index.ts:"
    )
    first, second = emu.audit.records("leak-2")
    assert first.error is not None and first.error.startswith(
        f"VaultError({REDACTED}): upstream refused {REDACTED} and {REDACTED} at src/index.ts:"
    )
    assert second.error is not None and second.error.startswith("Error: Network connection lost. at src/index.ts:")
    assert "VaultError([redacted]): upstream refused [redacted] and [redacted]" in caplog.text  # the log.error
    assert_no_secret("\n".join([thrown.text(), unreachable.text(), everything_logged(emu, caplog)]))


@pytest.mark.parametrize(
    "text",
    [
        "p@ss w0rd!*",  # as given
        "p%40ss%20w0rd%21%2A",  # Python's quote
        "p%40ss%20w0rd!*",  # JS encodeURIComponent
        "p%40ss+w0rd%21*",  # form encoding (URLSearchParams)
        '"p@ss w0rd!*"',  # JSON
    ],
)
def test_encoded_forms_are_redacted(text: str) -> None:
    assert Redactor(["p@ss w0rd!*"]).redact(f"a={text}&b") == f"a={REDACTED}&b".replace(
        REDACTED, f'"{REDACTED}"' if text.startswith('"') else REDACTED
    )


@pytest.mark.parametrize("user", ["", "a", "ab", "abc", "agent-7"])  # each offset of the secret in the base64
def test_base64_of_text_holding_a_secret_is_redacted_whole(user: str) -> None:
    secret = "tok_9f8e7d6c5b4a"
    redactor = Redactor([secret])
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(f"{user}:{secret}:tail".encode()).decode()
        assert redactor.redact(f"Authorization: Basic {encoded}\n") == f"Authorization: Basic {REDACTED}\n"


def test_redaction_leaves_other_text_alone_and_stays_linear() -> None:
    redactor = Redactor(["tok_9f8e7d6c5b4a", "ab"])  # "ab" is too short to be a secret worth blanking out
    assert redactor.redact("abc Basic dXNlcjpwYXNz") == "abc Basic dXNlcjpwYXNz"
    blob = "A" * 2_000_000  # a long base64-looking run: widening a match must not backtrack over it
    started = time.perf_counter()
    assert redactor.redact(blob) == blob
    assert time.perf_counter() - started < 1.0


def test_the_logging_filter_redacts_arguments_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    redactor = Redactor(["hunter2-secret"])
    logger = logging.getLogger("outbound.test-redaction")
    logger.addFilter(redactor.logging_filter())
    try:
        with caplog.at_level(logging.INFO, logger.name):
            try:
                raise ValueError("bad token hunter2-secret")
            except ValueError:
                logger.exception("calling %s failed", "https://x.test/?t=hunter2-secret")
    finally:
        logger.removeFilter(logger.filters[-1])
    assert f"calling https://x.test/?t={REDACTED} failed" in caplog.text
    assert f"ValueError: bad token {REDACTED}" in caplog.text
    assert "hunter2-secret" not in caplog.text


def test_a_warning_is_redacted_and_shown_under_its_line() -> None:
    audit = AuditLog(None, Redactor(["s3cr3t-value"]))
    record = AuditRecord(0.0, "s", "GET", "http://a/", "static per-host", "h", 200, 1.0, 0, 5)
    added = audit.add(replace(record, warnings=("from http://up.test/?k=s3cr3t-value; production delivers it",)))
    assert added.warnings == (f"from http://up.test/?k={REDACTED}; production delivers it",)
    assert added.line(console=False).endswith(
        f"\n    warning: from http://up.test/?k={REDACTED}; production delivers it"
    )


def test_the_log_file_is_private_and_created_at_the_first_record(tmp_path: Path) -> None:
    path = tmp_path / "state" / "audit.jsonl"
    audit = AuditLog(path, Redactor(["s3cr3t-value"]))
    assert not path.exists()
    record = AuditRecord(1.5, "s", "GET", "http://a/?k=s3cr3t-value", "blocked", None, 520, 1.0, 0, 20)
    audit.add(record)
    audit.add(record)
    audit.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = path.read_text().splitlines()
    assert [AuditRecord.from_json(json.loads(line)).url for line in lines] == [f"http://a/?k={REDACTED}"] * 2


def test_a_record_round_trips_through_json_with_every_field() -> None:
    record = AuditRecord(
        1_700_000_000.25,
        "s",
        "PUT",
        "http://a/",
        "runtime catch-all",
        "outboundHandlers.x",
        None,
        2.5,
        None,
        7,
        (ConsoleLine("warn", "w"),),
        "boom",
        ("secret env.X was in the body of the response …",),
    )
    data = record.to_json()
    assert list(data) == [field.name for field in fields(AuditRecord)]
    assert data["time"] == "2023-11-14T22:13:20.250000+00:00"
    assert AuditRecord.from_json(json.loads(json.dumps(data))) == record
