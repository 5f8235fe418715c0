"""One sandbox's egress policy: what its class declares, what its instance sets, what runtime calls changed.

This is the Python twin of the state a ``Container`` Durable Object keeps in @cloudflare/containers 0.3.x
(contract §1.3–§1.5, and the package's ``dist/lib/container.js``): the class-level registries, the instance
properties, and the runtime overrides persisted as ``OUTBOUND_CONFIGURATION``. ``Policy`` is frozen; the ten
runtime methods return a new one (or raise Cloudflare's error), and ``decide.py`` reads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from emulator.errors import UserError

JSON = Any
CATCH_ALL_HANDLER = "__outbound__"  # the outboundHandlers key the static `outbound` setter uses (contract §1.3)


class OutboundHandlerNotFound(UserError):
    """A runtime method named a handler that the class's ``outboundHandlers`` does not have."""


def handler_not_found(method: str, class_name: str) -> OutboundHandlerNotFound:
    # container.js validateOutboundHandlerMethodName, verbatim (contract §1.5).
    return OutboundHandlerNotFound(f"Outbound handler method '{method}' not found in outboundHandlers for {class_name}")


@dataclass(frozen=True)
class ClassConfig:
    """What a Container class registered, read from the bundle (keys in insertion order)."""

    class_name: str  # constructor.name: the registry key and ctx.className
    handler_names: tuple[str, ...] | None = None  # keys of outboundHandlers; None when nothing registered
    by_host_patterns: tuple[str, ...] | None = None  # keys of static outboundByHost; None when unset
    default_handler: str | None = None  # "__outbound__" once `outbound` was assigned

    @property
    def has_static_config(self) -> bool:
        return self.by_host_patterns is not None or self.handler_names is not None or self.default_handler is not None

    def has_handler(self, method: str) -> bool:
        return self.handler_names is not None and method in self.handler_names


@dataclass(frozen=True)
class InstanceConfig:
    """The instance properties the egress logic reads after the Durable Object is constructed."""

    enable_internet: bool = True
    intercept_https: bool = False
    allowed_hosts: tuple[str, ...] | None = None
    denied_hosts: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Override:
    """A runtime choice of handler: ``{method}`` or ``{method, params}`` (params may be given as undefined)."""

    method: str
    params_given: bool = False
    params: JSON = None

    def to_json(self) -> dict[str, JSON]:
        data: dict[str, JSON] = {"method": self.method}
        if self.params_given:
            data["hasParams"] = True
            data["params"] = self.params
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> Override:
        given = bool(data.get("hasParams")) or "params" in data
        return cls(method=str(data["method"]), params_given=given, params=data.get("params"))


@dataclass(frozen=True)
class RuntimeOverrides:
    """What runtime methods changed; persisted like Cloudflare's OUTBOUND_CONFIGURATION."""

    by_host: tuple[tuple[str, Override], ...] = ()
    catch_all: Override | None = None
    allowed_hosts: tuple[str, ...] | None = None
    denied_hosts: tuple[str, ...] | None = None
    intercept_all_registered: bool = False  # sticky: the runtime cannot remove interceptions (contract §1.8)

    def to_json(self) -> dict[str, JSON]:
        return {
            "outboundByHostOverrides": {host: override.to_json() for host, override in self.by_host},
            "outboundHandlerOverride": self.catch_all.to_json() if self.catch_all else None,
            "allowedHosts": list(self.allowed_hosts) if self.allowed_hosts is not None else None,
            "deniedHosts": list(self.denied_hosts) if self.denied_hosts is not None else None,
            "hasInterceptAllRegistration": self.intercept_all_registered,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> RuntimeOverrides:
        by_host = data.get("outboundByHostOverrides") or {}
        catch_all = data.get("outboundHandlerOverride")
        allowed = data.get("allowedHosts")
        denied = data.get("deniedHosts")
        return cls(
            by_host=tuple((str(host), Override.from_json(value)) for host, value in by_host.items()),
            catch_all=Override.from_json(catch_all) if catch_all else None,
            allowed_hosts=tuple(allowed) if allowed is not None else None,
            denied_hosts=tuple(denied) if denied is not None else None,
            intercept_all_registered=data.get("hasInterceptAllRegistration") is True,
        )


@dataclass(frozen=True)
class Policy:
    """Everything the decision procedure needs about one sandbox."""

    cls: ClassConfig
    instance: InstanceConfig = field(default_factory=InstanceConfig)
    overrides: RuntimeOverrides = field(default_factory=RuntimeOverrides)
    using_interception: bool = False

    # -- construction ---------------------------------------------------------------------------------
    @classmethod
    def start(
        cls, class_config: ClassConfig, instance: InstanceConfig, persisted: RuntimeOverrides | None
    ) -> tuple[Policy, list[str]]:
        """The policy of a freshly constructed Durable Object, restoring persisted overrides.

        Returns warnings for restored overrides whose handler no longer exists; they are dropped, as the
        Container constructor does (with console.warn) on restart.
        """
        warnings: list[str] = []
        overrides = RuntimeOverrides()
        if persisted is not None:
            catch_all = persisted.catch_all
            if catch_all is not None and not class_config.has_handler(catch_all.method):
                error = handler_not_found(catch_all.method, class_config.class_name)
                warnings.append(f"Ignoring invalid persisted outbound handler override: Error: {error}")
                catch_all = None
            by_host = []
            for host, override in persisted.by_host:
                if class_config.has_handler(override.method):
                    by_host.append((host, override))
                else:
                    error = handler_not_found(override.method, class_config.class_name)
                    warnings.append(f"Ignoring invalid persisted outbound override for {host}: Error: {error}")
            overrides = replace(persisted, catch_all=catch_all, by_host=tuple(by_host))
        policy = cls(cls=class_config, instance=instance, overrides=overrides)
        using = (
            persisted is not None
            or class_config.has_static_config
            or policy.effective_allowed_hosts is not None
            or policy.effective_denied_hosts is not None
        )
        return replace(policy, using_interception=using)._applied(), warnings

    # -- what ContainerProxy sees (contract §1.7 props) --------------------------------------------------
    @property
    def effective_allowed_hosts(self) -> tuple[str, ...] | None:
        allowed = self.overrides.allowed_hosts
        return allowed if allowed is not None else self.instance.allowed_hosts

    @property
    def effective_denied_hosts(self) -> tuple[str, ...] | None:
        denied = self.overrides.denied_hosts
        return denied if denied is not None else self.instance.denied_hosts

    @property
    def intercept_all(self) -> bool:
        """container.js shouldInterceptAllOutbound(): once anything needs every host, intercept everything."""
        overrides = self.overrides
        return (
            overrides.intercept_all_registered
            or self.cls.default_handler is not None
            or overrides.catch_all is not None
            or self.effective_allowed_hosts is not None
            or self.effective_denied_hosts is not None
            or bool(overrides.by_host)
            or overrides.allowed_hosts is not None
            or overrides.denied_hosts is not None
        )

    def _applied(self) -> Policy:
        # applyOutboundInterception(): registering intercept-all is permanent for the instance.
        if self.using_interception and self.intercept_all and not self.overrides.intercept_all_registered:
            return replace(self, overrides=replace(self.overrides, intercept_all_registered=True))
        return self

    def _with(self, using_interception: bool | None = None, **changes: Any) -> Policy:
        policy = replace(self, overrides=replace(self.overrides, **changes))
        if using_interception:
            policy = replace(policy, using_interception=True)
        return policy._applied()

    def _validate(self, method: str) -> None:
        if not self.cls.has_handler(method):
            raise handler_not_found(method, self.cls.class_name)

    # -- the ten runtime methods (contract §1.5) --------------------------------------------------------
    def set_outbound_handler(self, method: str, *params: JSON) -> Policy:
        self._validate(method)
        return self._with(catch_all=_override(method, params))

    def set_outbound_by_host(self, hostname: str, method: str, *params: JSON) -> Policy:
        self._validate(method)
        entries = dict(self.overrides.by_host)  # a JS object: an existing key keeps its position
        entries[hostname] = _override(method, params)
        return self._with(by_host=tuple(entries.items()))

    def remove_outbound_by_host(self, hostname: str) -> Policy:
        return self._with(by_host=tuple((h, o) for h, o in self.overrides.by_host if h != hostname))

    def set_outbound_by_hosts(self, handlers: Mapping[str, str | Mapping[str, JSON]]) -> Policy:
        entries: list[tuple[str, Override]] = []
        for value in handlers.values():  # every method is checked before anything changes
            self._validate(value if isinstance(value, str) else str(value["method"]))
        for hostname, value in handlers.items():
            if isinstance(value, str):
                entries.append((hostname, Override(value)))
            else:
                entries.append((hostname, Override(str(value["method"]), "params" in value, value.get("params"))))
        return self._with(by_host=tuple(entries))

    def set_allowed_hosts(self, hosts: Iterable[str]) -> Policy:
        return self._with(using_interception=True, allowed_hosts=tuple(hosts))

    def set_denied_hosts(self, hosts: Iterable[str]) -> Policy:
        return self._with(using_interception=True, denied_hosts=tuple(hosts))

    def allow_host(self, hostname: str) -> Policy:
        effective = self.effective_allowed_hosts or ()
        if hostname in effective:
            return self._with(using_interception=True)
        return self._with(using_interception=True, allowed_hosts=(*effective, hostname))

    def deny_host(self, hostname: str) -> Policy:
        effective = self.effective_denied_hosts or ()
        if hostname in effective:
            return self._with(using_interception=True)
        return self._with(using_interception=True, denied_hosts=(*effective, hostname))

    def remove_allowed_host(self, hostname: str) -> Policy:
        # contract §1.5: the result is stored even when empty, and an empty allowlist blocks every host.
        effective = self.effective_allowed_hosts or ()
        return self._with(allowed_hosts=tuple(h for h in effective if h != hostname))

    def remove_denied_host(self, hostname: str) -> Policy:
        effective = self.effective_denied_hosts or ()
        return self._with(denied_hosts=tuple(h for h in effective if h != hostname))


def _override(method: str, params: tuple[JSON, ...]) -> Override:
    if len(params) > 1:
        raise TypeError(f"expected at most one params argument, got {len(params)}")
    return Override(method, params_given=bool(params), params=params[0] if params else None)


# The runtime methods by their Cloudflare names, with how many arguments each takes (min, max).
RUNTIME_METHODS: dict[str, tuple[str, int, int]] = {
    "setOutboundHandler": ("set_outbound_handler", 1, 2),
    "setOutboundByHost": ("set_outbound_by_host", 2, 3),
    "removeOutboundByHost": ("remove_outbound_by_host", 1, 1),
    "setOutboundByHosts": ("set_outbound_by_hosts", 1, 1),
    "setAllowedHosts": ("set_allowed_hosts", 1, 1),
    "setDeniedHosts": ("set_denied_hosts", 1, 1),
    "allowHost": ("allow_host", 1, 1),
    "denyHost": ("deny_host", 1, 1),
    "removeAllowedHost": ("remove_allowed_host", 1, 1),
    "removeDeniedHost": ("remove_denied_host", 1, 1),
}
