"""Stand-ins for the fixtures when pytest-asyncio is missing: each fails the test saying what to install.

(Importing ``fixtures`` would fail on ``import pytest_asyncio`` and take every pytest run down with it, even
for projects that never use outbound's fixtures.)
"""

from __future__ import annotations

from typing import NoReturn

import pytest

INSTALL = (
    "outbound's pytest fixtures run in pytest-asyncio's event loop, and pytest-asyncio is not installed: "
    "install outbound with its test extra (pip install -e '.[test]' in a checkout) or pip install pytest-asyncio"
)


@pytest.fixture
def outbound() -> NoReturn:
    pytest.fail(INSTALL, pytrace=False)


@pytest.fixture
def upstream() -> NoReturn:
    pytest.fail(INSTALL, pytrace=False)


@pytest.fixture
def clock() -> NoReturn:
    pytest.fail(INSTALL, pytrace=False)


@pytest.fixture
def audit() -> NoReturn:
    pytest.fail(INSTALL, pytrace=False)
