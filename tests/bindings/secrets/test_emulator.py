"""Secrets end to end: a `.dev.vars` secret and a `secrets_store_secrets` binding, read by a handler that runs
in the real Emulator, with Secrets Store state in the persist folder."""

from __future__ import annotations

import json
from pathlib import Path

from bindings import SecretsStoreSpec, open_bindings
from bindings.secrets import put_secret
from emulator import Emulator

CONFIG = {
    "name": "secrets",
    "main": "src/index.ts",
    "compatibility_date": "2026-04-13",
    "secrets_store_secrets": [
        {"binding": "API_KEY", "store_id": "store-1", "secret_name": "api-key"},
        {"binding": "UNSET", "store_id": "store-1", "secret_name": "unset"},
    ],
}
HANDLER = """\
import { Container } from "@cloudflare/containers";

export { ContainerProxy } from "@cloudflare/containers";

// Values go back reversed: a secret a handler returns as it is reaches the sandbox masked (emulator/reflection.py).
const back = (value: string) => [...value].reverse().join("");

export class Agent extends Container {}
Agent.outbound = async (request: Request, env: any) => {
  let unset;
  try {
    unset = back(await env.UNSET.get());
  } catch (error) {
    unset = { name: error.name, message: error.message, plain: Object.getPrototypeOf(error) === Error.prototype };
  }
  return Response.json({
    plain: back(env.PLAIN_TOKEN),
    plainType: typeof env.PLAIN_TOKEN,
    apiKey: back(await env.API_KEY.get()),
    unset,
  });
};
"""


def project(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "wrangler.jsonc").write_text("// a Secrets Store secret and a plain secret\n" + json.dumps(CONFIG))
    (root / "src" / "index.ts").write_text(HANDLER)
    (root / ".dev.vars").write_text('PLAIN_TOKEN="from .dev.vars"\n')
    return root


async def test_dev_vars_secret_and_secrets_store_binding_reach_the_handler(tmp_path: Path) -> None:
    root, state = project(tmp_path / "project"), tmp_path / "state"
    seeded = await open_bindings([SecretsStoreSpec("API_KEY", "store-1", "api-key")], state)
    try:
        await put_secret(seeded["API_KEY"].store, "api-key", "seeded before load")
    finally:
        await seeded.close()

    async with Emulator.load(root, in_memory=False, persist_to=state, workers=1) as emu:
        assert emu.warnings == []
        sandbox = emu.sandbox("agent-1", cls="Agent")
        response = await sandbox.fetch("http://api.example.com/")
        assert response.status == 200, response.text()
        assert response.json() == {
            "plain": "from .dev.vars"[::-1],
            "plainType": "string",
            "apiKey": "seeded before load"[::-1],
            "unset": {"name": "Error", "message": 'Secret "unset" not found', "plain": True},
        }

        assert emu.bindings is not None
        await put_secret(emu.bindings["API_KEY"].store, "api-key", "rotated while running")
        await put_secret(emu.bindings["UNSET"].store, "unset", "now set")
        assert (await sandbox.fetch("http://api.example.com/")).json() == {
            "plain": "from .dev.vars"[::-1],
            "plainType": "string",
            "apiKey": "rotated while running"[::-1],
            "unset": "now set"[::-1],
        }

    async with Emulator.load(root, in_memory=False, persist_to=state, workers=1) as emu:  # persisted
        restarted = await emu.sandbox("agent-1").fetch("http://api.example.com/")
        assert restarted.json()["apiKey"] == "rotated while running"[::-1]
