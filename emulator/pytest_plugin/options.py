"""Which project a test loads and how: the ``outbound`` marker, then ``--outbound-project``, then the
``outbound_project`` ini option, then the wrangler config nearest above the test file (as wrangler finds it).

Markers merge from the farthest (a module's ``pytestmark``) to the closest (the test's own), so a module can
name the project and a test add ``vars``. Two tests with equal ``LoadOptions`` share one loaded emulator.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from emulator.config import CONFIG_NAMES, find_config

MARKER = "outbound"
MARKER_HELP = (
    "outbound(project=None, *, env=None, vars=None, connect_to=None, workers=1): the handler project the "
    "outbound fixture loads (a wrangler config, a project folder or an entry file, relative to the test file's "
    "folder), the wrangler environment, extra vars, connect_to routes taking precedence over the upstream stub, "
    "and how many JS workers to start"
)
PROJECT_OPTION = "outbound_project"
_MARKER_KEYS = ("project", "env", "vars", "connect_to", "workers")


@dataclass(frozen=True)
class LoadOptions:
    """How to load a project; hashable, so equal options share one emulator."""

    target: Path
    env: str | None = None
    vars_json: str = "{}"  # vars as sorted JSON: dicts are not hashable
    connect_to: tuple[tuple[str, str], ...] = ()
    workers: int = 1

    @property
    def vars(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.vars_json)
        return loaded

    def describe(self) -> str:
        extras = [f"env={self.env!r}"] if self.env else []
        extras += [f"vars={self.vars_json}"] if self.vars_json != "{}" else []
        return f"{self.target}" + (f" ({', '.join(extras)})" if extras else "")


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("outbound", "outbound: test Cloudflare outbound handlers")
    group.addoption(
        "--outbound-project",
        dest=PROJECT_OPTION,
        metavar="PATH",
        help="the handler project the outbound fixture loads (wrangler config, project folder or entry file); "
        "default: the wrangler.json/.jsonc/.toml nearest above each test file",
    )
    parser.addini(PROJECT_OPTION, "the handler project the outbound fixture loads (relative to this ini file)")


def load_options(item: pytest.Item) -> LoadOptions:
    """The options for ``item``; raises ValueError saying what to fix."""
    marked = _merged_marker(item)
    unknown = set(marked) - set(_MARKER_KEYS)
    if unknown:
        raise ValueError(
            f"@pytest.mark.outbound got unknown argument(s) {', '.join(sorted(unknown))}; "
            f"it takes {', '.join(_MARKER_KEYS)}"
        )
    env = marked.get("env")
    if env is not None and not isinstance(env, str):
        raise ValueError(f"@pytest.mark.outbound(env=…) must be a wrangler environment name, got {env!r}")
    workers = marked.get("workers", 1)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"@pytest.mark.outbound(workers=…) must be a whole number of at least 1, got {workers!r}")
    return LoadOptions(
        target=_project(item, marked.get("project")),
        env=env,
        vars_json=_vars_json(marked.get("vars")),
        connect_to=_connect_to(marked.get("connect_to")),
        workers=workers,
    )


def _merged_marker(item: pytest.Item) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for mark in reversed(list(item.iter_markers(MARKER))):
        if len(mark.args) > 1:
            raise ValueError(
                f"@pytest.mark.outbound takes at most one positional argument (the project), got {mark.args!r}"
            )
        if mark.args:
            merged["project"] = mark.args[0]
        merged.update(mark.kwargs)
    return merged


def _project(item: pytest.Item, marked: object) -> Path:
    config = item.config
    if marked is not None:
        if not isinstance(marked, (str, Path)):
            raise ValueError(f"@pytest.mark.outbound(project=…) must be a path, got {marked!r}")
        return (item.path.parent / marked).resolve()
    option = config.getoption(PROJECT_OPTION)
    if option:
        return (config.invocation_params.dir / str(option)).resolve()
    ini = config.getini(PROJECT_OPTION)
    if ini:
        base = config.inipath.parent if config.inipath is not None else config.rootpath
        return (base / str(ini)).resolve()
    found = find_config(item.path.parent)
    if found is None:
        names = ", ".join(CONFIG_NAMES)
        raise ValueError(
            f"no {names} in {item.path.parent} or its parents, so the outbound fixture does not know which "
            f"project to load; name it with @pytest.mark.outbound(project=…), --outbound-project PATH or the "
            f"{PROJECT_OPTION} ini option"
        )
    return found


def _vars_json(raw: object) -> str:
    if raw is None:
        return "{}"
    if not isinstance(raw, Mapping) or not all(isinstance(key, str) for key in raw):
        raise ValueError(f"@pytest.mark.outbound(vars=…) must map names to values, got {raw!r}")
    try:
        return json.dumps(dict(raw), sort_keys=True)
    except TypeError as error:
        raise ValueError(f"@pytest.mark.outbound(vars=…): every value must be JSON ({error})") from error


def _connect_to(raw: object) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise ValueError(f'@pytest.mark.outbound(connect_to=…) must map "host[:port]" to "address:port", got {raw!r}')
    return tuple(sorted(raw.items()))
