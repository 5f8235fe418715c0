"""Assertions on a test's audit records (``emulator/audit.py``): the ``audit`` fixture.

    record = audit.one(sandbox="agent-1", host="evil.example")
    assert (record.status, record.step) == (520, "not allowlisted")
    audit.none(host="api.github.com", method="POST")

Fields are compared for equality; ``step`` takes a ``Step`` or its value, ``host`` matches the URL's host
name. A failed assertion lists every record of the test, one line each, so the report shows what did happen.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any
from urllib.parse import urlsplit

from emulator.audit import AuditLog, AuditRecord
from emulator.decide import Step

_FIELDS = tuple(f.name for f in fields(AuditRecord)) + ("host",)


class AuditView:
    """The audit records of the running test, with assertions that explain themselves."""

    def __init__(self, log: AuditLog) -> None:
        self._log = log

    @property
    def records(self) -> list[AuditRecord]:
        """Every record of this test, oldest first."""
        return self._log.records()

    def find(self, **where: Any) -> list[AuditRecord]:
        """The records whose fields equal ``where`` (see the module docstring)."""
        unknown = set(where) - set(_FIELDS)
        if unknown:
            raise TypeError(f"audit records have no field {', '.join(sorted(unknown))}; use {', '.join(_FIELDS)}")
        wanted = {key: value.value if isinstance(value, Step) else value for key, value in where.items()}
        return [record for record in self.records if all(_field(record, k) == v for k, v in wanted.items())]

    def one(self, **where: Any) -> AuditRecord:
        """The only record matching ``where``; an AssertionError listing the records when there is not one."""
        found = self.find(**where)
        if len(found) != 1:
            raise AssertionError(f"expected 1 audit record with {_describe(where)}, found {len(found)}\n{self._all()}")
        return found[0]

    def none(self, **where: Any) -> None:
        """An AssertionError listing the records that match ``where``, if any do."""
        found = self.find(**where)
        if found:
            listed = "\n".join(record.line() for record in found)
            raise AssertionError(f"expected no audit record with {_describe(where)}, found {len(found)}:\n{listed}")

    def _all(self) -> str:
        records = self.records
        if not records:
            return "this test has no audit records"
        return "this test's audit records:\n" + "\n".join(record.line() for record in records)


def _field(record: AuditRecord, name: str) -> Any:
    if name == "host":
        return urlsplit(record.url).hostname
    return getattr(record, name)


def _describe(where: dict[str, Any]) -> str:
    shown = {key: value.value if isinstance(value, Step) else value for key, value in where.items()}
    return ", ".join(f"{key}={value!r}" for key, value in shown.items()) or "any fields"
