"""The static registries behave as @cloudflare/containers' accessors do (contract §1.3)."""

from __future__ import annotations

import pytest

from emulator import Emulator, OutboundHandlerNotFound, Step


async def test_outbound_handlers_merge_and_outbound_by_host_replaces(conformance: Emulator) -> None:
    sandbox = conformance.sandbox("reg-1", cls="Registries")
    policy = await sandbox.policy()
    assert policy.cls.handler_names == ("first", "second", "__outbound__")
    assert policy.cls.by_host_patterns == ("two.example",)
    assert (await sandbox.fetch("http://two.example/")).json()["handler"] == "two"
    replaced = await sandbox.fetch("http://one.example/")
    assert (replaced.json()["handler"], replaced.decision.step) == ("registries catch-all", Step.STATIC_CATCH_ALL)
    await sandbox.set_outbound_handler("first")
    assert (await sandbox.fetch("http://one.example/")).json()["handler"] == "first"


async def test_a_subclass_inherits_no_registration(conformance: Emulator) -> None:
    sandbox = conformance.sandbox("reg-sub", cls="SubRegistries")
    policy = await sandbox.policy()
    assert (policy.cls.class_name, policy.cls.handler_names, policy.cls.by_host_patterns) == (
        "SubRegistries",
        None,
        None,
    )
    assert not policy.using_interception
    with pytest.raises(OutboundHandlerNotFound, match="not found in outboundHandlers for SubRegistries"):
        await sandbox.set_outbound_handler("first")
