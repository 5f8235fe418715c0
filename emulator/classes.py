"""The Container classes a bundle exports: their registries and instance settings, and what production would
silently get wrong about them.

The JS runtime constructs the class as a Durable Object would and reports its registries and instance
properties (``describe`` in js/bridge.js). This module turns that report into typed values, rejects
settings of the wrong type with a message naming the class and property, and produces the load-time warnings
the contract asks for (§7): configurations that deploy without error but do not do what they say.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulator.errors import UserError
from emulator.hosts import pattern_problem
from emulator.policy import ClassConfig, InstanceConfig


class ClassConfigError(UserError):
    """A Container class sets an egress property to a value of the wrong type."""


@dataclass(frozen=True)
class ClassDescription:
    export_name: str  # how the module exports it (wrangler's class_name)
    config: ClassConfig
    instance: InstanceConfig
    has_container_proxy: bool


def parse_description(export_name: str, data: dict[str, Any]) -> ClassDescription:
    class_name = str(data["className"])
    return ClassDescription(
        export_name=export_name,
        config=ClassConfig(
            class_name=class_name,
            handler_names=_names(data.get("handlerNames")),
            by_host_patterns=_names(data.get("byHostPatterns")),
            default_handler=data.get("defaultHandler"),
        ),
        instance=InstanceConfig(
            enable_internet=_flag(class_name, "enableInternet", data.get("enableInternet"), True),
            intercept_https=_flag(class_name, "interceptHttps", data.get("interceptHttps"), False),
            allowed_hosts=_hosts(class_name, "allowedHosts", data.get("allowedHosts")),
            denied_hosts=_hosts(class_name, "deniedHosts", data.get("deniedHosts")),
        ),
        has_container_proxy=bool(data.get("hasContainerProxy")),
    )


def _names(value: Any) -> tuple[str, ...] | None:
    return None if value is None else tuple(str(name) for name in value)


def _flag(class_name: str, prop: str, value: Any, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ClassConfigError(f"{class_name}.{prop} must be true or false, not {value!r}")
    return value


def _hosts(class_name: str, prop: str, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ClassConfigError(
            f'{class_name}.{prop} must be an array of host patterns (strings), e.g. ["github.com", "*.npmjs.org"]; '
            f"got {value!r}"
        )
    return tuple(value)


_STATIC_FIELD_NAMES = {"outboundProxies": "outboundHandlers", "outboundProxy": "outbound"}


def class_warnings(description: ClassDescription, static_fields: list[str]) -> list[str]:
    """What production would silently mishandle in this class (contract §1.10, §7)."""
    name = description.config.class_name
    instance = description.instance
    warnings: list[str] = []
    for field in static_fields:
        accessor = _STATIC_FIELD_NAMES.get(field, field)
        warnings.append(
            f"{name} declares `static {field} = …` inside its class body. Production (@cloudflare/containers 0.3.x) "
            f"never registers class fields (cloudflare/containers#247): its handlers would not run. Assign it after "
            f"the class instead: `{name}.{accessor} = …`. The emulator accepts it so you can keep testing."
        )
    for prop, patterns in (
        ("allowedHosts", instance.allowed_hosts),
        ("deniedHosts", instance.denied_hosts),
        ("outboundByHost", description.config.by_host_patterns),
    ):
        for pattern in patterns or ():
            problem = pattern_problem(pattern)
            if problem:
                warnings.append(f"{name}.{prop} entry {pattern!r} {problem}.")
    if instance.allowed_hosts == ():
        warnings.append(
            f"{name}.allowedHosts is an empty array: production treats it as an allowlist that matches nothing "
            "and blocks every host with 520 (the docs say it is skipped; the code does not). Remove the property "
            "to have no allowlist."
        )
    if instance.denied_hosts and not instance.intercept_https:
        warnings.append(
            f"{name}.deniedHosts is set but interceptHttps is false: HTTPS to a denied host is not intercepted and "
            "goes straight out. Set interceptHttps = true to filter HTTPS as well."
        )
    if instance.allowed_hosts and not instance.intercept_https and not instance.enable_internet:
        warnings.append(
            f"{name}.allowedHosts is set, enableInternet is false and interceptHttps is false: HTTPS is never "
            "intercepted, so HTTPS to allowed hosts is refused. Set interceptHttps = true."
        )
    return warnings


def container_proxy_error() -> str:
    # container.js applyOutboundInterception, verbatim (contract §1.1).
    return (
        "ctx.exports.ContainerProxy is undefined, export ContainerProxy from the containers package in your "
        "worker entrypoint"
    )
