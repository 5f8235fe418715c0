"""A Worker project's wrangler configuration, read the way `wrangler dev` reads it.

This module owns everything between "the user named a folder, file or nothing" and a frozen
`WorkerConfig`: finding the config file, parsing it (JSONC through `_jsonc`, TOML through
`tomllib`), picking a wrangler environment, checking the keys the emulator uses, and loading
local secrets from `.dev.vars` or `.env` files. Nothing downstream reads a config file; the
reloader re-runs `resolve_config` when one of `WorkerConfig.watch_paths()` changes.

Every problem is a `ConfigError` whose message names the file, the key path, the offending
value and the fix. Keys wrangler knows but the emulator does not use are ignored silently.

Behaviour follows cloudflare/workers-sdk @ f830836: `workers-utils/src/config/config-helpers.ts`
(finding the file), `workers-utils/src/config/validation.ts` and `validation-helpers.ts`
(environments and binding checks), `wrangler/src/dev/dev-vars.ts` and
`wrangler/src/config/dot-env.ts` (secrets), with npm `dotenv` 16.3.1 (`parse`) and
`dotenv-expand` 12.0.2 (`expand`) reproduced in `_dotenv`.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

from emulator._dotenv import ExpansionLoop, expand_dotenv, parse_dotenv
from emulator._jsonc import JSONCError, JSONValue, parse_jsonc
from emulator.errors import ConfigError

__all__ = [
    "CONFIG_NAMES",
    "ENTRY_SUFFIXES",
    "ContainerConfig",
    "DurableObjectBinding",
    "JSONValue",
    "KVNamespaceConfig",
    "R2BucketConfig",
    "SecretsStoreSecretConfig",
    "WorkerConfig",
    "config_for_entry",
    "find_config",
    "load_config",
    "parse_dotenv",
    "resolve_config",
]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

# findWranglerConfig: each name is searched for up the whole folder chain before the next name,
# so a wrangler.json in a parent folder beats a wrangler.jsonc beside you.
CONFIG_NAMES = ("wrangler.json", "wrangler.jsonc", "wrangler.toml")
CONFIG_SUFFIXES = (".json", ".jsonc", ".toml")
ENTRY_SUFFIXES = (".ts", ".js", ".mjs", ".mts", ".cjs")

DEFAULT_DEV_IP = "localhost"  # wrangler's default everywhere but Windows ("127.0.0.1")
DEFAULT_DEV_PORT = 8787

LOAD_DOT_ENV_VARIABLE = "CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV"
INCLUDE_PROCESS_ENV_VARIABLE = "CLOUDFLARE_INCLUDE_PROCESS_ENV"
ENV_VARIABLE = "CLOUDFLARE_ENV"

# wrangler parse.ts `removeBOMAndValidate`: a UTF-8 BOM is dropped, these are refused.
_UNSUPPORTED_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32 BE"),
    (b"\xff\xfe\x00\x00", "UTF-32 LE"),
    (b"\xfe\xff", "UTF-16 BE"),
    (b"\xff\xfe", "UTF-16 LE"),
)
# workers-utils validation-helpers.ts `isValidName` and validation.ts `isValidR2BucketName`.
_WORKER_NAME = re.compile(r"^$|^[a-z0-9_][a-z0-9\-_]*$")
_R2_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_TOML_ERROR = re.compile(r"^(?P<reason>.*) \(at (?:line (?P<line>\d+), column (?P<column>\d+)|end of document)\)$")


# -- the typed view -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DurableObjectBinding:
    """One `durable_objects.bindings` entry; `script_name` set means another Worker's class."""

    name: str
    class_name: str
    script_name: str | None = None


@dataclass(frozen=True)
class ContainerConfig:
    """One `containers` entry: the Durable Object class that runs a container image."""

    class_name: str
    image: str | None
    max_instances: int | None


@dataclass(frozen=True)
class KVNamespaceConfig:
    """A KV binding. `id` is the namespace id wrangler dev uses locally: `preview_id`, else
    `id`, else the binding name (wrangler 4 lets `id` be omitted and provisions it on deploy)."""

    binding: str
    id: str


@dataclass(frozen=True)
class R2BucketConfig:
    """An R2 binding. `bucket_name` is the one wrangler dev uses locally:
    `preview_bucket_name`, else `bucket_name`, else the binding name."""

    binding: str
    bucket_name: str


@dataclass(frozen=True)
class SecretsStoreSecretConfig:
    """A `secrets_store_secrets` binding: `env.<binding>.get()` reads `secret_name` from the store."""

    binding: str
    store_id: str
    secret_name: str


@dataclass(frozen=True)
class WorkerConfig:
    """Everything the emulator needs from a Worker project, for one wrangler environment.

    `vars` and `secrets` never share a name: a secret from `.dev.vars`/`.env` overrides the var
    of the same name, as in `wrangler dev`, and that var is left out of `vars`.
    """

    root: Path  # the project folder: the config file's folder, or the entry's folder
    path: Path | None  # the config file; None when the emulator was pointed at an entry file
    main: Path  # absolute path of the entry module
    name: str | None
    compatibility_date: str | None
    compatibility_flags: tuple[str, ...]
    vars: Mapping[str, JSONValue]
    secrets: Mapping[str, str] = field(repr=False)  # values never appear in reprs or messages
    secrets_source: tuple[Path, ...]  # files the secrets came from, in load order
    durable_objects: tuple[DurableObjectBinding, ...]
    containers: tuple[ContainerConfig, ...]
    kv_namespaces: tuple[KVNamespaceConfig, ...]
    r2_buckets: tuple[R2BucketConfig, ...]
    secrets_store_secrets: tuple[SecretsStoreSecretConfig, ...]
    dev_ip: str = DEFAULT_DEV_IP
    dev_port: int = DEFAULT_DEV_PORT
    env: str | None = None  # the wrangler environment selected (--env or CLOUDFLARE_ENV)
    secrets_candidates: tuple[Path, ...] = ()  # every secrets file wrangler would look for, in order

    def durable_object_classes(self) -> tuple[str, ...]:
        """Distinct classes this Worker exports as Durable Objects (bindings, then containers)."""
        bound = [b.class_name for b in self.durable_objects if b.script_name in (None, self.name)]
        return tuple(dict.fromkeys([*bound, *(c.class_name for c in self.containers)]))

    def watch_paths(self) -> tuple[Path, ...]:
        """The config file and every secrets file wrangler would read, existing or not."""
        return tuple(dict.fromkeys([*([self.path] if self.path else []), *self.secrets_candidates]))


# -- finding and resolving ----------------------------------------------------------------------


def find_config(directory: Path) -> Path | None:
    """The wrangler config file for `directory`, searched for as `findWranglerConfig` does.

    Each of wrangler.json, wrangler.jsonc, wrangler.toml is looked for in `directory` and then
    in every parent folder before the next name is tried.
    """
    start = _absolute(directory)
    folders = (start, *start.parents)
    for name in CONFIG_NAMES:
        for folder in folders:
            if (folder / name).is_file():
                return folder / name
    return None


def resolve_config(
    target: str | Path | None,
    *,
    cwd: Path,
    env: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> WorkerConfig:
    """The config for what the user named: nothing, a config file, a project folder or an entry."""
    if target is None:
        return load_config(_found_config(_absolute(cwd)), env=env, environ=environ)
    path = _absolute(Path(cwd) / target)
    if path.is_dir():
        return load_config(_found_config(path), env=env, environ=environ)
    if not path.is_file():
        raise ConfigError(
            f"{target} does not exist (looked for {path}); "
            "pass a wrangler config file, a project folder or an entry file"
        )
    if path.suffix in CONFIG_SUFFIXES:
        return load_config(path, env=env, environ=environ)
    if path.suffix in ENTRY_SUFFIXES:
        return config_for_entry(path, env=env, environ=environ)
    raise ConfigError(
        f"{target} is neither a wrangler config ({', '.join(CONFIG_SUFFIXES)}) "
        f"nor a Worker entry ({', '.join(ENTRY_SUFFIXES)})"
    )


def config_for_entry(
    entry: Path,
    *,
    env: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> WorkerConfig:
    """The config for an entry file: its project's config when that config's `main` is this
    entry, otherwise an empty config rooted at the entry's folder (secrets from its .dev.vars)."""
    entry = _absolute(entry)
    if not entry.is_file():
        raise ConfigError(f"entry {_display(entry)} does not exist; pass the Worker's entry module")
    if entry.suffix not in ENTRY_SUFFIXES:
        raise ConfigError(
            f"entry {_display(entry)} is not a Worker module ({', '.join(ENTRY_SUFFIXES)}); pass the entry file"
        )
    config_path = find_config(entry.parent)
    if config_path is not None:
        project = _read_project(config_path, env, environ)
        if project.main is not None and _same_file(project.main, entry):
            return _build(project, environ)
    return _entry_only_config(entry, env, environ)


def load_config(
    path: Path,
    *,
    env: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> WorkerConfig:
    """Read `path` (wrangler.json/.jsonc/.toml) for wrangler environment `env`.

    `env` is `--env`; when None, `CLOUDFLARE_ENV` from `environ` (default: os.environ) selects the
    section, as in wrangler. `environ` also holds the switches for .env loading.
    """
    return _build(_read_project(path, env, environ), environ)


def _found_config(directory: Path) -> Path:
    found = find_config(directory)
    if found is None:
        raise ConfigError(
            f"no {', '.join(CONFIG_NAMES[:-1])} or {CONFIG_NAMES[-1]} in {directory} (or its parents); "
            "pass --config PATH or an entry file"
        )
    return found


def _entry_only_config(entry: Path, env: str | None, environ: Mapping[str, str] | None) -> WorkerConfig:
    secrets = _load_secrets(entry.parent, env, _environ(environ), required=None, var_names=frozenset())
    return WorkerConfig(
        root=entry.parent,
        path=None,
        main=entry,
        name=None,
        compatibility_date=None,
        compatibility_flags=(),
        vars=MappingProxyType({}),
        secrets=MappingProxyType(secrets.values),
        secrets_source=secrets.sources,
        durable_objects=(),
        containers=(),
        kv_namespaces=(),
        r2_buckets=(),
        secrets_store_secrets=(),
        env=env or None,
        secrets_candidates=secrets.candidates,
    )


# -- reading a config file ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Key:
    """Where a value sits, for messages: the file as the user knows it and the key path in it."""

    file: str
    toml: bool
    path: str = ""
    label: str = ""  # '(binding "CACHE")' once an entry's binding name is known

    @property
    def table(self) -> str:
        return "a table" if self.toml else "an object"

    def child(self, name: str | int) -> _Key:
        if isinstance(name, int):
            return _Key(self.file, self.toml, f"{self.path}[{name}]")
        return _Key(self.file, self.toml, f"{self.path}.{name}" if self.path else name)

    def labelled(self, binding: str) -> _Key:
        return replace(self, label=f' (binding "{binding}")')

    def error(self, problem: str) -> ConfigError:
        return ConfigError(f"{self.file}: {self.path}{self.label} {problem}")


@dataclass(frozen=True)
class _Environment:
    """The keys the emulator reads from one level of a config (top level or `env.<name>`)."""

    main: str | None
    main_key: _Key
    name: str | None
    compatibility_date: str | None
    compatibility_flags: tuple[str, ...]
    vars: dict[str, JSONValue]
    required_secrets: tuple[str, ...] | None  # `secrets.required`; None when `secrets` is absent
    durable_objects: tuple[DurableObjectBinding, ...]
    containers: tuple[ContainerConfig, ...]
    kv_namespaces: tuple[KVNamespaceConfig, ...]
    r2_buckets: tuple[R2BucketConfig, ...]
    secrets_store_secrets: tuple[SecretsStoreSecretConfig, ...]


@dataclass(frozen=True)
class _Project:
    """A parsed, validated config file for one environment, before secrets and the main check."""

    path: Path
    key: _Key
    environment: _Environment
    main: Path | None
    dev_ip: str
    dev_port: int
    env: str | None  # the config section selected
    dev_vars_env: str | None  # --env only: wrangler dev ignores CLOUDFLARE_ENV for .dev.vars.<env>


def _read_project(path: Path, env: str | None, environ: Mapping[str, str] | None) -> _Project:
    path = _absolute(path)
    key = _Key(_display(path), toml=path.suffix == ".toml")
    raw = _parse_file(path, key)
    top = _read_environment(raw, key)
    selected = env if env is not None else _environ(environ).get(ENV_VARIABLE)
    config_env = selected or None  # wrangler `if (envName)`: --env "" means the top level
    environment = top
    if config_env is not None:
        environment = _select_environment(raw, key, top, config_env, from_variable=env is None)
    main = None if environment.main is None else _absolute(path.parent / environment.main)
    dev_ip, dev_port = _dev_settings(raw.get("dev", {}), key.child("dev"))
    return _Project(path, key, environment, main, dev_ip, dev_port, env=config_env, dev_vars_env=env)


def _build(project: _Project, environ: Mapping[str, str] | None) -> WorkerConfig:
    environment, key = project.environment, project.key
    if environment.main is None:
        example = 'main = "src/index.ts"' if key.toml else '"main": "src/index.ts"'
        raise ConfigError(f'{key.file} has no "main"; set it to your Worker\'s entry, e.g. {example}')
    if project.main is None or not project.main.is_file():
        raise environment.main_key.error(f'"{environment.main}" does not exist (looked for {project.main})')
    root = project.path.parent
    var_names = frozenset(environment.vars)
    secrets = _load_secrets(root, project.dev_vars_env, _environ(environ), environment.required_secrets, var_names)
    return WorkerConfig(
        root=root,
        path=project.path,
        main=project.main,
        name=environment.name,
        compatibility_date=environment.compatibility_date,
        compatibility_flags=environment.compatibility_flags,
        vars=MappingProxyType({k: v for k, v in environment.vars.items() if k not in secrets.values}),
        secrets=MappingProxyType(secrets.values),
        secrets_source=secrets.sources,
        durable_objects=environment.durable_objects,
        containers=environment.containers,
        kv_namespaces=environment.kv_namespaces,
        r2_buckets=environment.r2_buckets,
        secrets_store_secrets=environment.secrets_store_secrets,
        dev_ip=project.dev_ip,
        dev_port=project.dev_port,
        env=project.env,
        secrets_candidates=secrets.candidates,
    )


def _parse_file(path: Path, key: _Key) -> dict[str, object]:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{key.file}: cannot read the file ({e.strerror})") from e
    for bom, encoding in _UNSUPPORTED_BOMS:
        if data.startswith(bom):
            raise ConfigError(f"{key.file} is encoded as {encoding}; save it as UTF-8")
    text = data.decode("utf-8", "replace").removeprefix("\ufeff")
    parsed: object
    if path.suffix == ".toml":
        parsed = _parse_toml(text, key)
    elif path.suffix in (".json", ".jsonc"):
        try:
            parsed = parse_jsonc(text)
        except JSONCError as e:
            raise ConfigError(f"{key.file}:{e.line}:{e.column}: {e.reason}") from e
    else:
        raise ConfigError(f"{key.file}: wrangler reads only .json, .jsonc and .toml config files; rename it")
    if not isinstance(parsed, dict):
        raise ConfigError(f"{key.file} must hold {key.table} at the top level, got {_show(parsed)}")
    return parsed


def _parse_toml(text: str, key: _Key) -> dict[str, object]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        match = _TOML_ERROR.match(str(e))
        if match is None:
            raise ConfigError(f"{key.file}: {e}") from e
        if match["line"] is None:
            raise ConfigError(f"{key.file}: {match['reason']} at the end of the file") from e
        raise ConfigError(f"{key.file}:{match['line']}:{match['column']}: {match['reason']}") from e


def _select_environment(
    raw: dict[str, object], key: _Key, top: _Environment, env_name: str, *, from_variable: bool
) -> _Environment:
    envs = _table(raw.get("env", {}), key.child("env"), "of environment names to settings")
    env_key = key.child("env").child(env_name)
    if env_name in envs:
        section = _table(envs[env_name], env_key)
        return _read_environment(section, env_key, inherit_from=top, env_name=env_name)
    origin = f" (from {ENV_VARIABLE})" if from_variable else ""
    if envs:
        defined = ", ".join(f'"{name}"' for name in envs)
        raise ConfigError(
            f"{key.file}: {env_key.path}{origin} does not exist; the environments are {defined}; "
            f"pass one of those or add an {env_key.path} section"
        )
    # validation.ts: with no environments at all wrangler only warns, and uses the top level
    # with the environment's name appended, as it would for a section that inherits everything.
    _log.warning("%s defines no environments; using the top level for %s%s", key.file, env_key.path, origin)
    return replace(top, name=_append_env_name(top.name, env_name))


def _append_env_name(name: str | None, env_name: str) -> str | None:
    """validation-helpers.ts `appendEnvName`: an inherited name becomes "<name>-<env>"."""
    return f"{name}-{env_name}" if name else None


def _read_environment(
    table: dict[str, object], key: _Key, *, inherit_from: _Environment | None = None, env_name: str = ""
) -> _Environment:
    """One level of the config: the top level, or `env.<env_name>` when `inherit_from` is the
    top level. Inheritable keys fall back to it; the others (vars, bindings) never do."""

    def get(name: str, read: Callable[[object, _Key], _T], default: _T) -> _T:
        return read(table[name], key.child(name)) if name in table else default

    top = inherit_from
    top_flags: tuple[str, ...] = top.compatibility_flags if top else ()
    return _Environment(
        main=get("main", _string, top.main if top else None),
        main_key=top.main_key if top and "main" not in table else key.child("main"),
        name=get("name", _worker_name, _append_env_name(top.name, env_name) if top else None),
        compatibility_date=get("compatibility_date", _string, top.compatibility_date if top else None),
        compatibility_flags=get("compatibility_flags", _string_list, top_flags),
        # not inheritable: an environment that leaves them out has none
        vars=get("vars", _vars, {}),
        required_secrets=get("secrets", _required_secrets, None),
        durable_objects=get("durable_objects", _durable_objects, ()),
        containers=get("containers", _entries(_container), ()),
        kv_namespaces=get("kv_namespaces", _entries(_kv_namespace), ()),
        r2_buckets=get("r2_buckets", _entries(_r2_bucket), ()),
        secrets_store_secrets=get("secrets_store_secrets", _entries(_secrets_store_secret), ()),
    )


def _dev_settings(value: object, key: _Key) -> tuple[str, int]:
    """Top-level `dev` only: wrangler reads `rawConfig.dev` whatever the environment."""
    dev = _table(value, key)
    ip = _string(dev["ip"], key.child("ip")) if "ip" in dev else DEFAULT_DEV_IP
    port = _whole_number(dev["port"], key.child("port")) if "port" in dev else DEFAULT_DEV_PORT
    return ip, port


# -- keys and bindings ----------------------------------------------------------------------------


def _string(value: object, key: _Key) -> str:
    if not isinstance(value, str):
        raise key.error(f"must be a string, got {_show(value)}")
    return value


def _whole_number(value: object, key: _Key) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise key.error(f"must be a whole number, got {_show(value)}")
    return value


def _table(value: object, key: _Key, of: str = "") -> dict[str, object]:
    if not isinstance(value, dict):
        raise key.error(f"must be {key.table}{' ' + of if of else ''}, got {_show(value)}")
    return value


def _list(value: object, key: _Key) -> list[object]:
    if not isinstance(value, list):
        raise key.error(f"must be a list, got {_show(value)}")
    return value


def _string_list(value: object, key: _Key) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise key.error(f"must be a list of strings, got {_show(value)}")
    return tuple(value)


def _worker_name(value: object, key: _Key) -> str:
    name = _string(value, key)
    if not _WORKER_NAME.match(name):
        raise key.error(f'"{name}" is not a valid Worker name; use lowercase letters, digits, "-" and "_"')
    return name


def _required_string(table: dict[str, object], name: str, key: _Key, fix: str) -> str:
    if name not in table:
        raise key.error(f'has no "{name}"; {fix}')
    return _string(table[name], key.child(name))


def _optional_string(table: dict[str, object], name: str, key: _Key) -> str | None:
    return _string(table[name], key.child(name)) if name in table else None


def _vars(value: object, key: _Key) -> dict[str, JSONValue]:
    table = _table(value, key, "of names to values")
    return {name: _json_value(item, key.child(name)) for name, item in table.items()}


def _json_value(value: object, key: _Key) -> JSONValue:
    """A var's value as JSON; TOML dates have no JSON form and wrangler refuses them."""
    if isinstance(value, (datetime.date, datetime.time)):
        raise key.error(f'is {_show(value)}, which wrangler does not support; quote it, e.g. "{value.isoformat()}"')
    if isinstance(value, list):
        return [_json_value(item, key.child(index)) for index, item in enumerate(value)]
    if isinstance(value, dict):
        return {name: _json_value(item, key.child(name)) for name, item in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise key.error(f"must be a JSON value, got {_show(value)}")  # pragma: no cover - parsers give JSON


def _required_secrets(value: object, key: _Key) -> tuple[str, ...]:
    table = _table(value, key, 'with a "required" list of secret names')
    return _string_list(table["required"], key.child("required")) if "required" in table else ()


def _entries(read: Callable[[object, _Key], _T]) -> Callable[[object, _Key], tuple[_T, ...]]:
    """A reader for a list of binding tables, each read by `read` with its index in the key."""

    def read_all(value: object, key: _Key) -> tuple[_T, ...]:
        return tuple(read(item, key.child(index)) for index, item in enumerate(_list(value, key)))

    return read_all


def _durable_objects(value: object, key: _Key) -> tuple[DurableObjectBinding, ...]:
    table = _table(value, key, 'with a "bindings" list')
    if "bindings" not in table:
        raise key.error('has no "bindings" list; add "bindings" with one entry per Durable Object binding')
    return _entries(_durable_object)(table["bindings"], key.child("bindings"))


def _durable_object(value: object, key: _Key) -> DurableObjectBinding:
    table = _table(value, key)
    name = _required_string(table, "name", key, "set it to the binding name the Worker reads from env")
    class_name = _required_string(
        table, "class_name", key.labelled(name), "set it to the Durable Object class the Worker exports"
    )
    script_name = _optional_string(table, "script_name", key)
    if "environment" in table and script_name is None:
        raise key.labelled(name).error('has "environment" but no "script_name"; add the Worker it refers to')
    return DurableObjectBinding(name, class_name, script_name)


def _container(value: object, key: _Key) -> ContainerConfig:
    table = _table(value, key)
    class_name = _required_string(
        table, "class_name", key, "set it to the Durable Object class that runs this container"
    )
    image = _optional_string(table, "image", key)
    configuration = table.get("configuration")
    if image is None and isinstance(configuration, dict):  # deprecated spelling, still read
        image = _optional_string(configuration, "image", key.child("configuration"))
    max_instances = table.get("max_instances")
    if max_instances is not None:
        max_instances = _whole_number(max_instances, key.child("max_instances"))
    return ContainerConfig(class_name, image, max_instances)


def _kv_namespace(value: object, key: _Key) -> KVNamespaceConfig:
    table = _table(value, key)
    binding = _required_string(table, "binding", key, "set it to the name the Worker reads from env")
    namespace_id = _non_empty(table, "id", key.labelled(binding), "the namespace id")
    preview_id = _non_empty(table, "preview_id", key.labelled(binding), "the preview namespace id")
    # wrangler dev: convertConfigToBindings(usePreviewIds) then kvNamespaceEntry()
    return KVNamespaceConfig(binding, preview_id or namespace_id or binding)


def _r2_bucket(value: object, key: _Key) -> R2BucketConfig:
    table = _table(value, key)
    binding = _required_string(table, "binding", key, "set it to the name the Worker reads from env")
    names = []
    for field_name in ("bucket_name", "preview_bucket_name"):
        name = _non_empty(table, field_name, key.labelled(binding), "the bucket's name")
        if name is not None and not _R2_BUCKET_NAME.match(name):
            raise key.child(field_name).error(
                f'"{name}" is not a valid bucket name; bucket names are 3 to 63 lowercase letters, '
                "digits and hyphens, beginning and ending with a letter or digit"
            )
        names.append(name)
    bucket_name, preview_bucket_name = names
    # wrangler dev: convertConfigToBindings(usePreviewIds) then r2BucketEntry()
    return R2BucketConfig(binding, preview_bucket_name or bucket_name or binding)


def _non_empty(table: dict[str, object], name: str, key: _Key, what: str) -> str | None:
    value = _optional_string(table, name, key)
    if value == "":
        raise key.error(f'has an empty "{name}"; add {what} or remove "{name}"')
    return value


def _secrets_store_secret(value: object, key: _Key) -> SecretsStoreSecretConfig:
    table = _table(value, key)
    binding = _required_string(table, "binding", key, "set it to the name the Worker reads from env")
    labelled = key.labelled(binding)
    store_id = _required_string(table, "store_id", labelled, "set it to the id of the Secrets Store")
    secret_name = _required_string(table, "secret_name", labelled, "set it to the secret's name in the store")
    return SecretsStoreSecretConfig(binding, store_id, secret_name)


# -- secrets: .dev.vars, else .env files ------------------------------------------------------------


@dataclass(frozen=True)
class _Secrets:
    values: dict[str, str]
    sources: tuple[Path, ...]
    candidates: tuple[Path, ...]


def _load_secrets(
    root: Path,
    env: str | None,
    environ: Mapping[str, str],
    required: tuple[str, ...] | None,
    var_names: frozenset[str],
) -> _Secrets:
    """dev-vars.ts `getVarsForDev`: `.dev.vars.<env>` or else `.dev.vars` (one file, never both);
    only when neither exists, the .env files merged in order, then `${VAR}` expansion."""
    dev_vars = [*([root / f".dev.vars.{env}"] if env is not None else []), root / ".dev.vars"]
    use_dot_env = _flag(environ, LOAD_DOT_ENV_VARIABLE, default=True)
    dot_env = [root / name for name in _dot_env_names(env)] if use_dot_env else []
    candidates = (*dev_vars, *dot_env)
    found = next((path for path in dev_vars if path.is_file()), None)
    sources: tuple[Path, ...] = ()
    values: dict[str, str] = {}
    if found is not None:
        values, sources = parse_dotenv(_read_secrets_file(found)), (found,)
    elif use_dot_env:
        # wrangler always mixes in process.env when `secrets` is declared, and filters below.
        include_process_env = required is not None or _flag(environ, INCLUDE_PROCESS_ENV_VARIABLE, default=False)
        sources = tuple(path for path in dot_env if path.is_file())
        values = _load_dot_env(sources, environ if include_process_env else {})
    if required is not None:
        values = {name: value for name, value in values.items() if name in var_names or name in required}
        missing = [name for name in required if name not in values]
        if missing:
            _log.warning("missing required secrets: %s; add them to .dev.vars or .env", ", ".join(missing))
    return _Secrets(values, sources, candidates)


def _dot_env_names(env: str | None) -> tuple[str, ...]:
    """dot-env.ts `getDefaultEnvFiles`: later files override earlier ones."""
    if env is None:
        return (".env", ".env.local")
    return (".env", ".env.local", f".env.{env}", f".env.{env}.local")


def _flag(environ: Mapping[str, str], name: str, *, default: bool) -> bool:
    """getBooleanEnvironmentVariableFactory: "true"/"false" in any case, anything else is an error."""
    raw = environ.get(name)
    if raw is None:
        return default
    if raw.lower() not in ("true", "false"):
        raise ConfigError(f'{name} must be "true" or "false", got {json.dumps(raw)}')
    return raw.lower() == "true"


def _read_secrets_file(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", "replace")
    except OSError as e:
        raise ConfigError(f"{_display(path)}: cannot read the file ({e.strerror})") from e


def _load_dot_env(paths: tuple[Path, ...], process_env: Mapping[str, str]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    origin: dict[str, Path] = {}
    for path in paths:
        for name, value in parse_dotenv(_read_secrets_file(path)).items():
            parsed[name], origin[name] = value, path
    try:
        return expand_dotenv(parsed, process_env)
    except ExpansionLoop as e:
        raise ConfigError(
            f"{_display(origin[e.name])}: {e.name} never stops expanding (its ${{...}} references "
            "keep producing new ones); write \\$ for a literal dollar sign"
        ) from e


# -- small helpers ----------------------------------------------------------------------------------


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def _absolute(path: Path) -> Path:
    """Absolute and normalised like node's `path.resolve` (no symlinks resolved)."""
    return Path(os.path.abspath(path))


def _same_file(a: Path, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _display(path: Path) -> str:
    """A path as the user typed it, more or less: relative to the working folder when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _show(value: object) -> str:
    """An offending config value for a message (config values are not secret)."""
    if isinstance(value, (datetime.date, datetime.time)):
        return f"{value.isoformat()} (a TOML date)"
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
