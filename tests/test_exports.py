"""The public API: every name in ``emulator.__all__`` resolves, and nothing else is offered lazily."""

from __future__ import annotations

import pytest

import emulator


def test_all_names_resolve() -> None:
    for name in emulator.__all__:
        value = getattr(emulator, name)
        assert getattr(value, "__name__", name) == name  # `Decision` is a union alias, without a __name__


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        emulator.Nope  # noqa: B018
