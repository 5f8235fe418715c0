"""The ``env`` a handler receives: the Worker's vars and secrets (and, with the bindings issue, its bindings).

This is the one place the runtime learns about configuration: the result is sent to each JS worker once, at
start, as JSON. Secrets are plain strings on ``env`` as in production; secrets win over vars of the same name,
as in ``wrangler dev``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from emulator.config import WorkerConfig


def build_env(config: WorkerConfig, extra_vars: Mapping[str, Any] | None = None) -> dict[str, Any]:
    env: dict[str, Any] = dict(config.vars)
    env.update(extra_vars or {})
    env.update(config.secrets)
    return env
