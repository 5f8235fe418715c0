"""The ten runtime methods and restoring persisted overrides (contract §1.5, §9 cases 9, 12, 16)."""

from __future__ import annotations

import pytest

from emulator.policy import (
    ClassConfig,
    InstanceConfig,
    OutboundHandlerNotFound,
    Override,
    Policy,
    RuntimeOverrides,
)

CLASS = ClassConfig(
    class_name="MySandbox",
    handler_names=("a", "b", "__outbound__"),
    by_host_patterns=("github.com",),
    default_handler="__outbound__",
)


def fresh(instance: InstanceConfig = InstanceConfig(), cls: ClassConfig = CLASS) -> Policy:
    policy, warnings = Policy.start(cls, instance, None)
    assert warnings == []
    return policy


def test_unknown_handler_raises_cloudflares_message_and_changes_nothing() -> None:
    policy = fresh().set_outbound_handler("a")
    with pytest.raises(OutboundHandlerNotFound) as raised:
        policy.set_outbound_handler("zzz")
    assert str(raised.value) == "Outbound handler method 'zzz' not found in outboundHandlers for MySandbox"
    assert policy.overrides.catch_all == Override("a")


def test_a_class_without_handlers_rejects_every_name() -> None:
    policy = fresh(cls=ClassConfig(class_name="Bare"))
    with pytest.raises(OutboundHandlerNotFound, match="'a' not found in outboundHandlers for Bare"):
        policy.set_outbound_by_host("github.com", "a")


def test_set_outbound_handler_replaces_and_keeps_params() -> None:
    policy = fresh().set_outbound_handler("a").set_outbound_handler("b", {"x": 1})
    assert policy.overrides.catch_all == Override("b", params_given=True, params={"x": 1})


def test_params_given_as_none_is_kept_apart_from_no_params() -> None:
    assert fresh().set_outbound_handler("a", None).overrides.catch_all == Override("a", True, None)
    assert fresh().set_outbound_handler("a").overrides.catch_all == Override("a", False, None)


def test_set_outbound_by_host_keeps_insertion_order_and_replaces_in_place() -> None:
    policy = fresh().set_outbound_by_host("one.com", "a").set_outbound_by_host("two.com", "b")
    policy = policy.set_outbound_by_host("one.com", "b")
    assert [host for host, _ in policy.overrides.by_host] == ["one.com", "two.com"]
    assert dict(policy.overrides.by_host)["one.com"].method == "b"


def test_set_outbound_by_host_stores_the_key_verbatim() -> None:
    policy = fresh().set_outbound_by_host("GitHub.COM.", "a")
    assert policy.overrides.by_host[0][0] == "GitHub.COM."


def test_set_outbound_by_hosts_validates_all_first_then_replaces() -> None:
    policy = fresh().set_outbound_by_host("keep.com", "a")
    with pytest.raises(OutboundHandlerNotFound):
        policy.set_outbound_by_hosts({"h1": "a", "h2": "nope"})
    replaced = policy.set_outbound_by_hosts({"h1": "a", "h2": {"method": "b", "params": {"p": 2}}})
    assert replaced.overrides.by_host == (("h1", Override("a")), ("h2", Override("b", True, {"p": 2})))
    assert replaced.set_outbound_by_hosts({}).overrides.by_host == ()


def test_remove_outbound_by_host_removes_the_exact_key() -> None:
    policy = fresh().set_outbound_by_host("one.com", "a").remove_outbound_by_host("ONE.com")
    assert len(policy.overrides.by_host) == 1
    assert policy.remove_outbound_by_host("one.com").overrides.by_host == ()


def test_allow_host_appends_to_the_class_list_once() -> None:
    policy = fresh(InstanceConfig(allowed_hosts=("github.com",)))
    policy = policy.allow_host("npmjs.org").allow_host("npmjs.org")
    assert policy.effective_allowed_hosts == ("github.com", "npmjs.org")


def test_allow_host_without_any_list_starts_one() -> None:
    policy = fresh(cls=ClassConfig(class_name="Bare"))
    assert not policy.using_interception
    policy = policy.allow_host("github.com")
    assert policy.effective_allowed_hosts == ("github.com",)
    assert policy.using_interception and policy.intercept_all


def test_removing_the_last_allowed_host_leaves_an_empty_list() -> None:
    # contract §9 case 12: [] is stored, and it blocks everything.
    policy = fresh(InstanceConfig(allowed_hosts=("github.com",))).remove_allowed_host("github.com")
    assert policy.effective_allowed_hosts == ()


def test_deny_and_remove_denied_host() -> None:
    policy = fresh().deny_host("evil.com").deny_host("worse.com").remove_denied_host("evil.com")
    assert policy.effective_denied_hosts == ("worse.com",)


def test_set_lists_replace_class_lists() -> None:
    policy = fresh(InstanceConfig(allowed_hosts=("a.com",), denied_hosts=("b.com",)))
    policy = policy.set_allowed_hosts(["c.com"]).set_denied_hosts([])
    assert policy.effective_allowed_hosts == ("c.com",)
    assert policy.effective_denied_hosts == ()


def test_intercept_all_is_sticky_once_registered() -> None:
    static_only = ClassConfig(class_name="PerHost", by_host_patterns=("vcs.example",), handler_names=("a",))
    policy = fresh(cls=static_only)
    assert policy.using_interception and not policy.intercept_all
    promoted = policy.set_outbound_by_host("x.com", "a")
    assert promoted.intercept_all and promoted.overrides.intercept_all_registered
    back = promoted.set_outbound_by_hosts({})
    assert back.overrides.by_host == () and back.intercept_all  # the runtime cannot remove interceptions


def test_overrides_round_trip_through_json() -> None:
    overrides = (
        fresh()
        .set_outbound_handler("a")
        .set_outbound_by_host("h.com", "b", {"k": [1, 2]})
        .set_outbound_by_host("n.com", "b", None)
        .set_allowed_hosts([])
        .overrides
    )
    assert RuntimeOverrides.from_json(overrides.to_json()) == overrides


def test_restoring_drops_overrides_whose_handler_is_gone_with_cloudflares_warning() -> None:
    persisted = RuntimeOverrides(
        by_host=(("keep.com", Override("a")), ("gone.com", Override("removed"))),
        catch_all=Override("removed"),
        intercept_all_registered=True,
    )
    policy, warnings = Policy.start(CLASS, InstanceConfig(), persisted)
    assert policy.overrides.catch_all is None
    assert policy.overrides.by_host == (("keep.com", Override("a")),)
    assert warnings == [
        "Ignoring invalid persisted outbound handler override: Error: "
        "Outbound handler method 'removed' not found in outboundHandlers for MySandbox",
        "Ignoring invalid persisted outbound override for gone.com: Error: "
        "Outbound handler method 'removed' not found in outboundHandlers for MySandbox",
    ]


def test_persisted_configuration_turns_interception_on() -> None:
    bare = ClassConfig(class_name="Bare")
    assert not Policy.start(bare, InstanceConfig(), None)[0].using_interception
    policy, _ = Policy.start(bare, InstanceConfig(), RuntimeOverrides(allowed_hosts=("a.com",)))
    assert policy.using_interception and policy.effective_allowed_hosts == ("a.com",)


def test_params_must_be_at_most_one() -> None:
    with pytest.raises(TypeError, match="at most one params"):
        fresh().set_outbound_handler("a", 1, 2)
