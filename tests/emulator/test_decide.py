"""The decision procedure, step by step (contract §1.7, §1.8; §9 cases 1–5, 10–13, 15)."""

from __future__ import annotations

import pytest

from emulator.decide import (
    Deny,
    Destination,
    Passthrough,
    Refuse,
    RunHandler,
    Step,
    decide,
    decide_request,
    interception_table,
    route,
)
from emulator.policy import ClassConfig, InstanceConfig, Policy

EGRESS_TESTS = ClassConfig(
    class_name="EgressContainer",
    handler_names=("__outbound__",),
    by_host_patterns=("by-host.com", "*.globtest.com"),
    default_handler="__outbound__",
)
EGRESS_INSTANCE = InstanceConfig(
    enable_internet=False,
    intercept_https=True,
    allowed_hosts=("allowed.com", "by-host.com", "*.globtest.com"),
    denied_hosts=("denied.com",),
)


def policy_of(cls: ClassConfig, instance: InstanceConfig = InstanceConfig()) -> Policy:
    return Policy.start(cls, instance, None)[0]


EGRESS = policy_of(EGRESS_TESTS, EGRESS_INSTANCE)


@pytest.mark.parametrize(
    ("hostname", "expected"),
    [
        ("denied.com", Deny(Step.DENIED_HOST)),  # §9 case 1
        ("random.com", Deny(Step.NOT_ALLOWLISTED)),  # §9 case 2
        ("by-host.com", RunHandler(Step.STATIC_BY_HOST, "byHost", "by-host.com")),  # §9 case 3
        ("allowed.com", RunHandler(Step.STATIC_CATCH_ALL, "handler", "__outbound__")),  # §9 case 4
        ("api.globtest.com", RunHandler(Step.STATIC_BY_HOST, "byHost", "*.globtest.com")),  # §9 case 5
        ("a.b.globtest.com", RunHandler(Step.STATIC_BY_HOST, "byHost", "*.globtest.com")),
        ("globtest.com", Deny(Step.NOT_ALLOWLISTED)),
    ],
)
def test_egress_tests_fixture(hostname: str, expected: object) -> None:
    assert decide(EGRESS, hostname) == expected


def test_denied_host_beats_allowed_host() -> None:
    policy = policy_of(ClassConfig("C"), InstanceConfig(allowed_hosts=("x.com",), denied_hosts=("x.com",)))
    assert decide(policy, "x.com") == Deny(Step.DENIED_HOST)


def test_allowlist_gates_static_by_host_handlers() -> None:
    # §9 case 3: outboundByHost does not allow its host; the allowlist must too.
    cls = ClassConfig("C", by_host_patterns=("by-host.com",))
    policy = policy_of(cls, InstanceConfig(allowed_hosts=("other.com",)))
    assert decide(policy, "by-host.com") == Deny(Step.NOT_ALLOWLISTED)


def test_catch_all_does_not_open_a_non_allowlisted_host_even_with_internet() -> None:
    cls = ClassConfig("C", handler_names=("__outbound__",), default_handler="__outbound__")
    policy = policy_of(cls, InstanceConfig(enable_internet=True, allowed_hosts=("allowed.com",)))
    assert decide(policy, "random.com") == Deny(Step.NOT_ALLOWLISTED)


PRECEDENCE = ClassConfig(
    "Precedence",
    handler_names=("x", "a", "b"),
    by_host_patterns=("github.com", "api.example.com", "*.example.com"),
)


def test_runtime_per_host_beats_static_and_carries_params() -> None:
    # §9 case 7
    policy = policy_of(PRECEDENCE).set_outbound_by_host("github.com", "x", {"hello": "world"})
    assert decide(policy, "github.com") == RunHandler(
        Step.RUNTIME_BY_HOST, "handler", "x", runtime=True, params_given=True, params={"hello": "world"}
    )


def test_runtime_glob_beats_static_exact() -> None:
    # §9 case 8
    policy = policy_of(PRECEDENCE).set_outbound_by_host("*.com", "a")
    assert decide(policy, "api.example.com").step is Step.RUNTIME_BY_HOST


def test_exact_beats_glob_within_a_layer_and_first_glob_wins() -> None:
    policy = policy_of(PRECEDENCE).set_outbound_by_hosts({"*.org": "a", "*.b.org": "b", "x.b.org": "x"})
    assert decide(policy, "x.b.org") == RunHandler(Step.RUNTIME_BY_HOST, "handler", "x", runtime=True)
    assert decide(policy, "y.b.org") == RunHandler(Step.RUNTIME_BY_HOST, "handler", "a", runtime=True)
    assert decide(policy_of(PRECEDENCE), "api.example.com").key == "api.example.com"  # type: ignore[union-attr]
    assert decide(policy_of(PRECEDENCE), "www.example.com").key == "*.example.com"  # type: ignore[union-attr]


def test_runtime_catch_all_comes_after_per_host() -> None:
    policy = policy_of(PRECEDENCE).set_outbound_handler("b", [1])
    assert decide(policy, "github.com") == RunHandler(Step.STATIC_BY_HOST, "byHost", "github.com")
    assert decide(policy, "other.net") == RunHandler(
        Step.RUNTIME_CATCH_ALL, "handler", "b", runtime=True, params_given=True, params=[1]
    )


def test_runtime_catch_all_beats_static_catch_all() -> None:
    cls = ClassConfig("C", handler_names=("__outbound__", "a"), default_handler="__outbound__")
    assert decide(policy_of(cls), "h.com").step is Step.STATIC_CATCH_ALL
    assert decide(policy_of(cls).set_outbound_handler("a"), "h.com").step is Step.RUNTIME_CATCH_ALL


@pytest.mark.parametrize(
    ("enable_internet", "expected"),
    [(True, Passthrough(Step.INTERNET_PASSTHROUGH)), (False, Deny(Step.BLOCKED))],
)
def test_no_handler_no_allowlist_falls_to_enable_internet(enable_internet: bool, expected: object) -> None:
    # §9 case 10, intercept-all mode (a deny list makes it so)
    policy = policy_of(ClassConfig("C"), InstanceConfig(enable_internet=enable_internet, denied_hosts=("z.com",)))
    assert decide(policy, "h.com") == expected


def test_allowlisted_host_gets_internet_even_when_it_is_off() -> None:
    # §9 case 11
    policy = policy_of(ClassConfig("C"), InstanceConfig(enable_internet=False, allowed_hosts=("ok.com",)))
    assert decide(policy, "ok.com") == Passthrough(Step.ALLOWLIST_PASSTHROUGH)


def test_empty_allowlist_blocks_everything() -> None:
    # §9 case 12
    cls = ClassConfig("C", handler_names=("__outbound__",), default_handler="__outbound__")
    policy = policy_of(cls, InstanceConfig(allowed_hosts=()))
    assert decide(policy, "anything.com") == Deny(Step.NOT_ALLOWLISTED)


def test_patterns_production_never_matches() -> None:
    # §9 case 13
    instance = InstanceConfig(
        allowed_hosts=("Example.com", "1.2.3.4:8080", "example.org"), denied_hosts=("141.101.64.0/18",)
    )
    policy = policy_of(ClassConfig("C"), instance)
    assert decide(policy, "example.com") == Deny(Step.NOT_ALLOWLISTED)
    assert decide(policy, "1.2.3.4") == Deny(Step.NOT_ALLOWLISTED)
    assert decide(policy, "example.org") == Passthrough(Step.ALLOWLIST_PASSTHROUGH)
    unblocked = policy_of(ClassConfig("C"), InstanceConfig(denied_hosts=("141.101.64.0/18",)))
    assert decide(unblocked, "141.101.64.5") == Passthrough(Step.INTERNET_PASSTHROUGH)


def test_dangling_runtime_override_falls_through() -> None:
    # restored overrides are validated, but a class can still lose a handler between describe and call
    policy = policy_of(PRECEDENCE).set_outbound_by_host("github.com", "x")
    crippled = Policy(
        cls=ClassConfig("Precedence", handler_names=("a",), by_host_patterns=("github.com",)),
        instance=policy.instance,
        overrides=policy.overrides,
        using_interception=True,
    )
    assert decide(crippled, "github.com") == RunHandler(Step.STATIC_BY_HOST, "byHost", "github.com")


# -- per-host mode and the interception layer --------------------------------------------------------------
PER_HOST = ClassConfig("PerHost", handler_names=None, by_host_patterns=("vcs.example", "11.0.0.1:9999"))


def http(host: str, port: int = 80, ip: str | None = None) -> Destination:
    return Destination("http", port, host, ip)


def https(sni: str | None, port: int = 443, ip: str | None = None) -> Destination:
    return Destination("https", port, sni, ip)


def test_per_host_mode_intercepts_only_static_keys() -> None:
    policy = policy_of(PER_HOST, InstanceConfig(enable_internet=False))
    assert not policy.intercept_all
    assert route(policy, http("vcs.example"))
    assert not route(policy, http("other.example"))
    assert decide_request(policy, http("other.example"), "other.example") == Refuse()
    assert decide_request(policy, http("vcs.example"), "vcs.example") == RunHandler(
        Step.STATIC_BY_HOST, "byHost", "vcs.example"
    )


def test_ip_port_key_is_intercepted_but_its_handler_never_runs() -> None:
    # contract §7.4: registered with the runtime, never matched by ContainerProxy (the hostname has no port)
    policy = policy_of(PER_HOST, InstanceConfig(enable_internet=False))
    destination = http("11.0.0.1:9999", 9999, "11.0.0.1")
    assert route(policy, destination)
    assert decide_request(policy, destination, "11.0.0.1") == Deny(Step.PER_HOST_FALLBACK)
    open_policy = policy_of(PER_HOST, InstanceConfig(enable_internet=True))
    assert decide_request(open_policy, destination, "11.0.0.1") == Passthrough(Step.PER_HOST_FALLBACK)


def test_https_is_intercepted_only_with_intercept_https_and_sni() -> None:
    # §9 case 14 at the decision level
    cls = ClassConfig("C", handler_names=("__outbound__",), default_handler="__outbound__")
    off = policy_of(cls, InstanceConfig(intercept_https=False, denied_hosts=("denied.com",)))
    assert decide_request(off, https("denied.com"), "denied.com") == Passthrough(Step.NOT_INTERCEPTED)
    on = policy_of(cls, InstanceConfig(intercept_https=True, denied_hosts=("denied.com",)))
    assert decide_request(on, https("denied.com"), "denied.com") == Deny(Step.DENIED_HOST)
    assert decide_request(on, https(None, ip="1.2.3.4"), "1.2.3.4") == Passthrough(Step.NOT_INTERCEPTED)


def test_other_ports_are_never_intercepted() -> None:
    # §9 case 15
    cls = ClassConfig("C", handler_names=("__outbound__",), default_handler="__outbound__")
    for enable_internet, expected in ((True, Passthrough(Step.NOT_INTERCEPTED)), (False, Refuse())):
        policy = policy_of(cls, InstanceConfig(enable_internet=enable_internet, intercept_https=True))
        assert decide_request(policy, http("h.com", 8080), "h.com") == expected
        assert decide_request(policy, https("h.com", 8443), "h.com") == expected


def test_host_glob_keys_never_claim_plain_http_off_port_80() -> None:
    # contract §2.2: the Host header is sniffed only on port 80 (workerd test: google.com:9000 not intercepted)
    cls = ClassConfig("C", by_host_patterns=("google.com:9000",))
    policy = policy_of(cls, InstanceConfig(enable_internet=False))
    assert not route(policy, http("google.com:9000", 9000))


def test_no_static_configuration_means_no_interception() -> None:
    plain = policy_of(ClassConfig("Plain"), InstanceConfig(enable_internet=False))
    assert interception_table(plain) == ((), ())
    assert decide_request(plain, http("h.com"), "h.com") == Refuse()


def test_intercept_all_claims_every_port_80_destination_and_sni() -> None:
    cls = ClassConfig("C", handler_names=("__outbound__",), default_handler="__outbound__")
    policy = policy_of(cls, InstanceConfig(intercept_https=True))
    assert route(policy, http("anything.example"))
    assert route(policy, http("1.2.3.4", ip="1.2.3.4"))
    assert route(policy, https("anything.example"))


def test_labels_name_the_handler() -> None:
    assert RunHandler(Step.STATIC_BY_HOST, "byHost", "github.com").label == 'outboundByHost["github.com"]'
    assert RunHandler(Step.STATIC_CATCH_ALL, "handler", "__outbound__").label == "outbound"
    assert RunHandler(Step.RUNTIME_CATCH_ALL, "handler", "noHttp").label == "outboundHandlers.noHttp"
