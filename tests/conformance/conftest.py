"""Fixtures for the contract §9 conformance cases: real handler projects, a local stand-in for the internet."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulator import Emulator, Limits
from tests.support.upstream import LocalInternet

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = ROOT / "fixtures" / "handlers"

# Host names the fixtures use that should reach the local HTTP server when a request is passed through.
PASSTHROUGH_NAMES = (
    "allowed.com",
    "random.com",
    "allowed.example",
    "sub.allowed.example",
    "h.com",
    "example.org",
    "141.101.64.5",
    "1.2.3.4",
    "vcs.example",
    "other.example",
)


@pytest.fixture(scope="session")
async def internet(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalInternet]:
    async with LocalInternet(tmp_path_factory.mktemp("internet")) as local:
        http = local.connect_to["upstream.test"]
        local.connect_to.update({name: http for name in PASSTHROUGH_NAMES})
        yield local


def load(project: str, internet: LocalInternet, **options: object) -> Emulator:
    return Emulator.load(
        HANDLERS / project,
        in_memory=options.pop("in_memory", True),  # type: ignore[arg-type]
        connect_to=internet.connect_to,
        upstream_ca=internet.ca_file,
        limits=Limits(cpu_ms=1_000, memory_mib=128, response_timeout_s=2),
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
async def conformance(internet: LocalInternet) -> AsyncIterator[Emulator]:
    async with load("conformance", internet) as emu:
        yield emu


@pytest.fixture(scope="module")
async def egress_tests(internet: LocalInternet) -> AsyncIterator[Emulator]:
    async with load("egress-tests", internet) as emu:
        yield emu
