"""emulator/config.py: wrangler configs, environments and local secrets, read as `wrangler dev` does.

Every case writes real files (under tmp_path, or the projects in fixtures/configs/) and reads them
through the public functions; `environ` is passed explicitly so the host's variables never leak in.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from emulator._jsonc import JSONCError, JSONValue, parse_jsonc
from emulator.config import (
    ContainerConfig,
    DurableObjectBinding,
    KVNamespaceConfig,
    R2BucketConfig,
    SecretsStoreSecretConfig,
    WorkerConfig,
    config_for_entry,
    find_config,
    load_config,
    parse_dotenv,
    resolve_config,
)
from emulator.errors import ConfigError, UserError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "configs"
ENTRY = "export default { fetch: () => new Response('ok') };\n"


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages name files relative to the working folder, so work where the files are."""
    monkeypatch.chdir(tmp_path)


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def project(root: Path, config_name: str, config_text: str, **files: str) -> Path:
    """A project folder with an entry at src/index.ts and the given config; returns the config."""
    write(root, {"src/index.ts": ENTRY, config_name: config_text, **files})
    return root / config_name


def load(path: Path, env: str | None = None, **environ: str) -> WorkerConfig:
    return load_config(path, env=env, environ=environ)


def error_of(path: Path, env: str | None = None, **environ: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(path, env, **environ)
    return str(caught.value)


# -- whole configs --------------------------------------------------------------------------------

JSONC_CONFIG = """\
// comments, trailing commas and "//" inside strings
{
  "name": "egress", /* the Worker's name */
  "main": "src/index.ts",
  "compatibility_date": "2026-04-13",
  "compatibility_flags": ["nodejs_compat",],
  "vars": {
    "UPSTREAM": "https://api.example.com//v1", // not a comment: inside a string
    "PATTERN": "/* nor this */",
    "RETRIES": 3,
    "RATIO": 0.5,
    "HOSTS": ["a.example", "*.b.example",],
    "FLAGS": {"strict": true, "none": null,},
  },
  "durable_objects": {"bindings": [{"name": "SANDBOX", "class_name": "Sandbox"},]},
  "containers": [{"class_name": "Sandbox", "image": "./Dockerfile", "max_instances": 3}],
  "kv_namespaces": [{"binding": "CACHE", "id": "kv-id"}],
  "r2_buckets": [{"binding": "FILES", "bucket_name": "egress-files"}],
  "secrets_store_secrets": [{"binding": "KEY", "store_id": "store", "secret_name": "api-key"}],
  "dev": {"ip": "127.0.0.1", "port": 9000},
  "observability": {"enabled": true}, // a key the emulator does not use
}
"""

TOML_CONFIG = """\
name = "egress"
main = "src/index.ts"
compatibility_date = "2026-04-13"
compatibility_flags = ["nodejs_compat"]
observability = { enabled = true }

[vars]
UPSTREAM = "https://api.example.com//v1"
PATTERN = "/* nor this */"
RETRIES = 3
RATIO = 0.5
HOSTS = ["a.example", "*.b.example"]
FLAGS = { strict = true }

[[durable_objects.bindings]]
name = "SANDBOX"
class_name = "Sandbox"

[[containers]]
class_name = "Sandbox"
image = "./Dockerfile"
max_instances = 3

[[kv_namespaces]]
binding = "CACHE"
id = "kv-id"

[[r2_buckets]]
binding = "FILES"
bucket_name = "egress-files"

[[secrets_store_secrets]]
binding = "KEY"
store_id = "store"
secret_name = "api-key"

[dev]
ip = "127.0.0.1"
port = 9000
"""


def test_jsonc_with_comments_trailing_commas_and_slashes_in_strings(tmp_path: Path) -> None:
    path = project(tmp_path, "wrangler.jsonc", JSONC_CONFIG)

    assert load(path) == WorkerConfig(
        root=tmp_path,
        path=path,
        main=tmp_path / "src" / "index.ts",
        name="egress",
        compatibility_date="2026-04-13",
        compatibility_flags=("nodejs_compat",),
        vars={
            "UPSTREAM": "https://api.example.com//v1",
            "PATTERN": "/* nor this */",
            "RETRIES": 3,
            "RATIO": 0.5,
            "HOSTS": ["a.example", "*.b.example"],
            "FLAGS": {"strict": True, "none": None},
        },
        secrets={},
        secrets_source=(),
        durable_objects=(DurableObjectBinding("SANDBOX", "Sandbox"),),
        containers=(ContainerConfig("Sandbox", "./Dockerfile", 3),),
        kv_namespaces=(KVNamespaceConfig("CACHE", "kv-id"),),
        r2_buckets=(R2BucketConfig("FILES", "egress-files"),),
        secrets_store_secrets=(SecretsStoreSecretConfig("KEY", "store", "api-key"),),
        dev_ip="127.0.0.1",
        dev_port=9000,
        secrets_candidates=(tmp_path / ".dev.vars", tmp_path / ".env", tmp_path / ".env.local"),
    )


def test_toml_equivalent_gives_an_equal_config(tmp_path: Path) -> None:
    jsonc = project(tmp_path, "wrangler.jsonc", JSONC_CONFIG.replace(', "none": null', ""))
    toml = project(tmp_path, "wrangler.toml", TOML_CONFIG)

    assert dataclasses.replace(load(toml), path=jsonc) == load(jsonc)


def test_fixture_projects_in_jsonc_and_toml_read_the_same() -> None:
    jsonc = load(FIXTURES / "sandbox-egress-jsonc" / "wrangler.jsonc")
    toml = load(FIXTURES / "sandbox-egress-toml" / "wrangler.toml")

    assert jsonc.secrets == {
        "GITHUB_TOKEN": "ghp_fixture_not_a_real_token",
        "UPSTREAM": "https://github.internal/",
    }
    assert "UPSTREAM" not in jsonc.vars  # the .dev.vars secret overrides the var
    assert jsonc.vars == {
        "ALLOWED_HOSTS": ["api.github.com", "*.githubusercontent.com"],
        "RETRIES": 3,
        "LIMITS": {"burst": 10, "strict": True},
    }
    assert jsonc.dev_port == 8788
    assert jsonc.durable_object_classes() == ("Sandbox",)
    toml_moved = dataclasses.replace(
        toml,
        root=jsonc.root,
        path=jsonc.path,
        main=jsonc.main,
        secrets_source=jsonc.secrets_source,
        secrets_candidates=jsonc.secrets_candidates,
    )
    assert toml_moved == jsonc


def test_vars_and_secrets_are_read_only_and_secret_values_stay_out_of_repr(tmp_path: Path) -> None:
    path = project(tmp_path, "wrangler.jsonc", '{"main": "src/index.ts", "vars": {"A": "1"}}')
    write(tmp_path, {".dev.vars": "TOKEN=hunter2\n"})
    config = load(path)

    with pytest.raises(TypeError):
        config.vars["A"] = "2"  # type: ignore[index]
    with pytest.raises(TypeError):
        config.secrets["TOKEN"] = "x"  # type: ignore[index]
    assert "hunter2" not in repr(config)


def test_bindings_default_to_empty_and_dev_to_wranglers_defaults(tmp_path: Path) -> None:
    config = load(project(tmp_path, "wrangler.toml", 'main = "src/index.ts"\n'))

    assert (config.name, config.compatibility_date, config.compatibility_flags) == (None, None, ())
    assert config.vars == {} and config.durable_objects == () and config.containers == ()
    assert (config.dev_ip, config.dev_port) == ("localhost", 8787)


# -- bindings -------------------------------------------------------------------------------------


def test_kv_and_r2_use_the_ids_wrangler_dev_uses_locally(tmp_path: Path) -> None:
    # convertConfigToBindings(usePreviewIds): preview id, else id, else (wrangler 4) the binding name.
    path = project(
        tmp_path,
        "wrangler.jsonc",
        """{"main": "src/index.ts",
        "kv_namespaces": [{"binding": "A", "id": "a-id", "preview_id": "a-preview"},
                          {"binding": "B", "id": "b-id"}, {"binding": "C"}],
        "r2_buckets": [{"binding": "D", "bucket_name": "d-bucket", "preview_bucket_name": "d-preview"},
                       {"binding": "E", "bucket_name": "e-bucket"}, {"binding": "F"}]}""",
    )
    config = load(path)

    assert config.kv_namespaces == (
        KVNamespaceConfig("A", "a-preview"),
        KVNamespaceConfig("B", "b-id"),
        KVNamespaceConfig("C", "C"),
    )
    assert config.r2_buckets == (
        R2BucketConfig("D", "d-preview"),
        R2BucketConfig("E", "e-bucket"),
        R2BucketConfig("F", "F"),
    )


def test_durable_object_classes_are_local_distinct_and_in_order(tmp_path: Path) -> None:
    path = project(
        tmp_path,
        "wrangler.jsonc",
        """{"name": "app", "main": "src/index.ts",
        "durable_objects": {"bindings": [
            {"name": "A", "class_name": "Sandbox"},
            {"name": "B", "class_name": "Counter", "script_name": "app"},
            {"name": "C", "class_name": "Remote", "script_name": "other-worker"},
            {"name": "D", "class_name": "Sandbox"}]},
        "containers": [{"class_name": "Sandbox"}, {"class_name": "Builder", "image": "./b/Dockerfile"}]}""",
    )
    config = load(path)

    assert config.durable_objects[2] == DurableObjectBinding("C", "Remote", "other-worker")
    assert config.containers[0] == ContainerConfig("Sandbox", None, None)
    assert config.durable_object_classes() == ("Sandbox", "Counter", "Builder")


# -- environments -----------------------------------------------------------------------------------

ENV_CONFIG = """{
  "name": "app",
  "main": "src/index.ts",
  "compatibility_date": "2026-01-01",
  "compatibility_flags": ["nodejs_compat"],
  "dev": {"port": 9001},
  "vars": {"LEVEL": "top"},
  "secrets": {"required": ["TOP_ONLY"]},
  "durable_objects": {"bindings": [{"name": "SANDBOX", "class_name": "Sandbox"}]},
  "containers": [{"class_name": "Sandbox", "image": "./Dockerfile"}],
  "kv_namespaces": [{"binding": "CACHE", "id": "top"}],
  "r2_buckets": [{"binding": "FILES"}],
  "secrets_store_secrets": [{"binding": "KEY", "store_id": "s", "secret_name": "k"}],
  "env": {
    "bare": {},
    "staging": {
      "name": "app-stage",
      "main": "src/staging.ts",
      "compatibility_flags": [],
      "dev": {"port": 9999},
      "vars": {"LEVEL": "staging"},
      "kv_namespaces": [{"binding": "CACHE", "id": "staging"}]
    },
    "broken": {"main": "src/nope.ts"}
  }
}"""


def test_an_environment_inherits_inheritable_keys_and_nothing_else(tmp_path: Path) -> None:
    config = load(project(tmp_path, "wrangler.jsonc", ENV_CONFIG), env="bare")

    # inherited; an inherited name gets the environment appended (validation-helpers appendEnvName)
    assert (config.name, config.main, config.compatibility_date, config.compatibility_flags) == (
        "app-bare",
        tmp_path / "src" / "index.ts",
        "2026-01-01",
        ("nodejs_compat",),
    )
    # not inherited: vars, secrets and every binding
    assert config.vars == {} and config.durable_objects == () and config.containers == ()
    assert config.kv_namespaces == () and config.r2_buckets == () and config.secrets_store_secrets == ()
    assert config.env == "bare"


def test_an_environment_overrides_what_it_sets_but_dev_stays_top_level(tmp_path: Path) -> None:
    config_path = project(tmp_path, "wrangler.jsonc", ENV_CONFIG, **{"src/staging.ts": ENTRY})
    config = load(config_path, env="staging")

    assert (config.name, config.main, config.compatibility_flags) == (
        "app-stage",
        tmp_path / "src/staging.ts",
        (),
    )
    assert dict(config.vars) == {"LEVEL": "staging"}
    assert config.kv_namespaces == (KVNamespaceConfig("CACHE", "staging"),)
    assert config.dev_port == 9001  # wrangler reads `dev` from the top level only


def test_cloudflare_env_selects_the_environment_and_an_empty_env_means_top_level(tmp_path: Path) -> None:
    path = project(tmp_path, "wrangler.jsonc", ENV_CONFIG)

    assert load(path, CLOUDFLARE_ENV="bare").name == "app-bare"
    assert load(path, env="", CLOUDFLARE_ENV="bare").name == "app"


def test_an_env_name_with_no_environments_defined_uses_the_top_level(tmp_path: Path) -> None:
    path = project(tmp_path, "wrangler.toml", 'name = "app"\nmain = "src/index.ts"\n[vars]\nA = "1"\n')
    config = load(path, env="preview")

    assert (config.name, dict(config.vars)) == ("app-preview", {"A": "1"})


def test_an_unknown_environment_names_the_ones_that_exist(tmp_path: Path) -> None:
    path = project(tmp_path, "wrangler.jsonc", ENV_CONFIG)

    assert error_of(path, env="prod") == (
        'wrangler.jsonc: env.prod does not exist; the environments are "bare", "staging", "broken"; '
        "pass one of those or add an env.prod section"
    )
    assert error_of(path, CLOUDFLARE_ENV="prod") == (
        'wrangler.jsonc: env.prod (from CLOUDFLARE_ENV) does not exist; the environments are "bare", "staging", '
        '"broken"; pass one of those or add an env.prod section'
    )


def test_an_environment_that_is_not_a_table(tmp_path: Path) -> None:
    path = project(tmp_path, "wrangler.toml", 'main = "src/index.ts"\nenv = { staging = [] }\n')

    assert error_of(path, env="staging") == "wrangler.toml: env.staging must be a table, got []"


def test_a_missing_main_in_an_environment_names_the_environments_key(tmp_path: Path) -> None:
    path = project(tmp_path, "wrangler.jsonc", ENV_CONFIG)

    assert error_of(path, env="broken") == (
        f'wrangler.jsonc: env.broken.main "src/nope.ts" does not exist (looked for {tmp_path}/src/nope.ts)'
    )


# -- errors -------------------------------------------------------------------------------------------

JSONC_SYNTAX_ERROR = """{
  "name": "app",
  "main": "src/index.ts",
  "vars": {
    "A": "1",
    "B": "2",
    "C": "3",
    "D": "4",
    "E": "5",
    "F": "6",
    "G": "7"
    "H": "8"
  }
}
"""

ERRORS: list[tuple[str, str, str]] = [
    # (config file name, its text, the whole message)
    (
        "wrangler.jsonc",
        JSONC_SYNTAX_ERROR,
        'wrangler.jsonc:12:5: expected "," or "}" after the property value',
    ),
    (
        "wrangler.jsonc",
        '{"main": "src/index.ts"',
        'wrangler.jsonc:1:24: expected "}" to close the object opened at 1:1',
    ),
    (
        "wrangler.json",
        "{\n  'main': 'x'\n}",
        "wrangler.json:2:3: unexpected \"'main'\"; strings need double quotes",
    ),
    ("wrangler.jsonc", '{"a": 1 /* open', "wrangler.jsonc:1:9: unterminated /* comment; close it with */"),
    ("wrangler.jsonc", "", "wrangler.jsonc:1:1: expected a value, found the end of the file"),
    ("wrangler.jsonc", "[1]", "wrangler.jsonc must hold an object at the top level, got [1]"),
    ("wrangler.toml", 'main = "src/index.ts"\nname = \n', "wrangler.toml:2:8: Invalid value"),
    (
        "wrangler.toml",
        'name = "app"\n',
        'wrangler.toml has no "main"; set it to your Worker\'s entry, e.g. main = "src/index.ts"',
    ),
    (
        "wrangler.jsonc",
        '{"name": "app"}',
        'wrangler.jsonc has no "main"; set it to your Worker\'s entry, e.g. "main": "src/index.ts"',
    ),
    ("wrangler.jsonc", '{"main": 42}', "wrangler.jsonc: main must be a string, got 42"),
    (
        "wrangler.jsonc",
        '{"main": "src/index.ts", "name": "My Worker"}',
        'wrangler.jsonc: name "My Worker" is not a valid Worker name; use lowercase letters, digits, "-" and "_"',
    ),
    (
        "wrangler.jsonc",
        '{"main": "src/index.ts", "compatibility_flags": "nodejs_compat"}',
        'wrangler.jsonc: compatibility_flags must be a list of strings, got "nodejs_compat"',
    ),
    (
        "wrangler.toml",
        'main = "src/index.ts"\ncompatibility_date = 2026-04-13\n',
        "wrangler.toml: compatibility_date must be a string, got 2026-04-13 (a TOML date)",
    ),
    (
        "wrangler.toml",
        'main = "src/index.ts"\nvars = ["A"]\n',
        'wrangler.toml: vars must be a table of names to values, got ["A"]',
    ),
    (
        "wrangler.jsonc",
        '{"main": "src/index.ts", "vars": "A=1"}',
        'wrangler.jsonc: vars must be an object of names to values, got "A=1"',
    ),
    (
        "wrangler.toml",
        'main = "src/index.ts"\n[vars]\nSINCE = 2025-12-19\n',
        'wrangler.toml: vars.SINCE is 2025-12-19 (a TOML date), which wrangler does not support; quote it, e.g. "2025-12-19"',
    ),
    (
        "wrangler.jsonc",
        '{"main": "src/index.ts", "durable_objects": {"bindings": [{"name": "SANDBOX", "class_name": 42}]}}',
        "wrangler.jsonc: durable_objects.bindings[0].class_name must be a string, got 42",
    ),
    (
        "wrangler.jsonc",
        '{"main": "src/index.ts", "durable_objects": {"bindings": [{"name": "SANDBOX"}]}}',
        (
            'wrangler.jsonc: durable_objects.bindings[0] (binding "SANDBOX") has no "class_name"; '
            "set it to the Durable Object class the Worker exports"
        ),
    ),
    (
        "wrangler.jsonc",
        '{"main": "src/index.ts", "durable_objects": [{"name": "SANDBOX", "class_name": "Sandbox"}]}',
        (
            'wrangler.jsonc: durable_objects must be an object with a "bindings" list, '
            'got [{"name": "SANDBOX", "class_name": "Sandbox"}]'
        ),
    ),
    (
        "wrangler.jsonc",
        '{"main": "src/index.ts", "kv_namespaces": [{"binding": "A", "id": "a"}, {"binding": "CACHE", "id": ""}]}',
        'wrangler.jsonc: kv_namespaces[1] (binding "CACHE") has an empty "id"; add the namespace id or remove "id"',
    ),
    (
        "wrangler.jsonc",
        '{"main": "src/index.ts", "kv_namespaces": [{"id": "a"}]}',
        'wrangler.jsonc: kv_namespaces[0] has no "binding"; set it to the name the Worker reads from env',
    ),
    (
        "wrangler.jsonc",
        '{"main": "src/index.ts", "kv_namespaces": {"binding": "CACHE"}}',
        'wrangler.jsonc: kv_namespaces must be a list, got {"binding": "CACHE"}',
    ),
    (
        "wrangler.toml",
        'main = "src/index.ts"\n[[r2_buckets]]\nbinding = "FILES"\nbucket_name = "My_Files"\n',
        (
            'wrangler.toml: r2_buckets[0].bucket_name "My_Files" is not a valid bucket name; bucket names are '
            "3 to 63 lowercase letters, digits and hyphens, beginning and ending with a letter or digit"
        ),
    ),
    (
        "wrangler.jsonc",
        '{"main": "src/index.ts", "secrets_store_secrets": [{"binding": "KEY", "secret_name": "k"}]}',
        (
            'wrangler.jsonc: secrets_store_secrets[0] (binding "KEY") has no "store_id"; '
            "set it to the id of the Secrets Store"
        ),
    ),
    (
        "wrangler.jsonc",
        '{"main": "src/index.ts", "containers": [{"image": "./Dockerfile"}]}',
        (
            'wrangler.jsonc: containers[0] has no "class_name"; '
            "set it to the Durable Object class that runs this container"
        ),
    ),
    (
        "wrangler.jsonc",
        '{"main": "src/index.ts", "containers": [{"class_name": "S", "max_instances": "2"}]}',
        'wrangler.jsonc: containers[0].max_instances must be a whole number, got "2"',
    ),
    (
        "wrangler.toml",
        'main = "src/index.ts"\nname = "app',
        "wrangler.toml: Unterminated string at the end of the file",
    ),
    (
        "wrangler.yaml",
        "main: src/index.ts",
        "wrangler.yaml: wrangler reads only .json, .jsonc and .toml config files; rename it",
    ),
    (
        "wrangler.jsonc",
        '{"main": "src/index.ts", "durable_objects": {"bindings": [{"name": "D", "class_name": "C", "environment": "x"}]}}',
        (
            'wrangler.jsonc: durable_objects.bindings[0] (binding "D") has "environment" but no "script_name"; '
            "add the Worker it refers to"
        ),
    ),
    (
        "wrangler.jsonc",
        '{"main": "src/index.ts", "dev": {"port": "8787"}}',
        'wrangler.jsonc: dev.port must be a whole number, got "8787"',
    ),
    (
        "wrangler.jsonc",
        '{"main": "src/index.ts", "secrets": {"required": "TOKEN"}}',
        'wrangler.jsonc: secrets.required must be a list of strings, got "TOKEN"',
    ),
]


@pytest.mark.parametrize(("name", "text", "message"), ERRORS)
def test_config_errors_name_the_file_the_key_and_the_fix(tmp_path: Path, name: str, text: str, message: str) -> None:
    assert error_of(project(tmp_path, name, text)) == message


def test_a_missing_main_file_says_where_it_looked(tmp_path: Path) -> None:
    path = project(tmp_path, "wrangler.jsonc", '{"main": "src/missing.ts"}')

    assert (
        error_of(path) == f'wrangler.jsonc: main "src/missing.ts" does not exist (looked for {tmp_path}/src/missing.ts)'
    )


def test_a_utf16_config_is_refused_and_a_utf8_bom_is_skipped(tmp_path: Path) -> None:
    path = project(tmp_path, "wrangler.jsonc", "")
    path.write_bytes('{"main": "src/index.ts"}'.encode("utf-16"))
    assert error_of(path) == "wrangler.jsonc is encoded as UTF-16 LE; save it as UTF-8"

    path.write_bytes('\ufeff{"main": "src/index.ts"}'.encode())
    assert load(path).main == tmp_path / "src" / "index.ts"


def test_config_errors_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError):
        load(project(tmp_path, "wrangler.toml", ""))


# -- the JSONC parser -----------------------------------------------------------------------------

JSONC_VALUES: list[tuple[str, JSONValue]] = [
    ('{"a": [1, 2,], "b": {"c": 3,},}', {"a": [1, 2], "b": {"c": 3}}),
    ('"http://x//y" // trailing', "http://x//y"),
    ("/* a */ [/* b */ 1 /* c */] // d", [1]),
    ('{"a": 1, "a": 2}', {"a": 2}),
    ('"\\u00e9\\n\\t\\/\\ud83d\\ude00"', "é\n\t/\U0001f600"),
    ("[-0, 1.5e3, -2E-1, 10]", [0, 1500.0, -0.2, 10]),
    ("[true, false, null]", [True, False, None]),
    ('\r\n{\r\n"a": "b"\r\n}\r\n', {"a": "b"}),
]


@pytest.mark.parametrize(("text", "value"), JSONC_VALUES)
def test_jsonc_values(text: str, value: JSONValue) -> None:
    assert parse_jsonc(text) == value


JSONC_ERRORS: list[tuple[str, str]] = [
    # jsonc-parser 3.2.0 stops at the same place (its error code in the comment); for errors inside
    # a string it points at the string, we point at the offending character.
    ("[1 2]", '1:4: expected "," or "]" after the array element'),  # CommaExpected
    ("[1,,2]", "1:4: expected a value"),  # ValueExpected
    ("[,]", '1:2: expected a value before ","'),  # ValueExpected
    ("{,}", '1:2: expected a property name before ","'),  # ValueExpected
    ('{"a":1,,}', "1:8: expected a property name in double quotes"),  # PropertyNameExpected
    ('{"a" 1}', '1:6: expected ":" after the property name "a"'),  # ColonExpected
    ('{"a":}', '1:6: expected a value for "a"'),  # ValueExpected
    ("{1: 2}", "1:2: expected a property name in double quotes"),  # PropertyNameExpected
    ('{"a": 1}}', "1:9: unexpected content after the top-level value; expected the end of the file"),
    ("[01]", '1:3: expected "," or "]" after the array element'),  # 0, then a stray 1
    ("[1.]", '1:2: incomplete number "1."; add digits after the "."'),  # UnexpectedEndOfNumber
    ("[NaN]", '1:2: unexpected "NaN"; values are strings in double quotes, numbers, true, false or null'),
    ("[True]", '1:2: unexpected "True"; values are strings in double quotes, numbers, true, false or null'),
    (
        '["a\nb"]',
        '1:2: unterminated string; strings cannot span lines (write "\\n")',
    ),  # UnexpectedEndOfString
    ('["a\\qb"]', '1:4: invalid escape "\\q" in a string; write "\\\\" for a backslash'),
    ('["\\u12"]', "1:3: invalid \\u escape; it needs exactly 4 hex digits, e.g. \\u00e9"),
    ('["a\tb"]', "1:4: control character U+0009 inside a string; escape it"),  # InvalidCharacter
    ("[1, /]", '1:5: unexpected "/"; comments start with // or /*'),  # InvalidSymbol
    ("\f[]", '1:1: unexpected "\\f"; values are strings in double quotes, numbers, true, false or null'),
    ("[\n1,\n\n", "4:1: expected a value"),  # ValueExpected, at the end of the file
    ("[\n1\n\n", '4:1: expected "]" to close the array opened at 1:1'),  # CloseBracketExpected
]


@pytest.mark.parametrize(("text", "message"), JSONC_ERRORS)
def test_jsonc_errors_stop_where_jsonc_parser_does(text: str, message: str) -> None:
    with pytest.raises(JSONCError) as caught:
        parse_jsonc(text)
    assert str(caught.value) == message


# -- finding the config -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("present", "found"),
    [
        (["wrangler.toml", "wrangler.jsonc", "wrangler.json"], "wrangler.json"),
        (["wrangler.toml", "wrangler.jsonc"], "wrangler.jsonc"),
        (["wrangler.toml"], "wrangler.toml"),
    ],
)
def test_find_config_order_in_one_folder(tmp_path: Path, present: list[str], found: str) -> None:
    write(tmp_path, dict.fromkeys(present, "{}"))

    assert find_config(tmp_path) == tmp_path / found


def test_find_config_walks_up_and_tries_each_name_all_the_way_up_first(tmp_path: Path) -> None:
    nested = tmp_path / "apps" / "egress" / "src"
    nested.mkdir(parents=True)
    write(tmp_path, {"apps/egress/wrangler.toml": ""})
    assert find_config(nested) == tmp_path / "apps" / "egress" / "wrangler.toml"

    # findWranglerConfig: wrangler.jsonc two folders up beats wrangler.toml one folder up
    write(tmp_path, {"apps/wrangler.jsonc": "{}"})
    assert find_config(nested) == tmp_path / "apps" / "wrangler.jsonc"


def test_find_config_without_any_config_returns_none(tmp_path: Path) -> None:
    assert find_config(tmp_path) is None


# -- resolving what the user named ------------------------------------------------------------------


def test_resolve_config_targets(tmp_path: Path) -> None:
    path = project(tmp_path / "app", "wrangler.jsonc", '{"name": "app", "main": "src/index.ts"}')
    environ: dict[str, str] = {}

    assert resolve_config(None, cwd=tmp_path / "app" / "src", environ=environ).path == path
    assert resolve_config("app", cwd=tmp_path, environ=environ).path == path
    assert resolve_config(path, cwd=tmp_path, environ=environ).path == path
    assert resolve_config("app/src/index.ts", cwd=tmp_path, environ=environ).path == path


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (
            None,
            (
                "no wrangler.json, wrangler.jsonc or wrangler.toml in {tmp}/empty (or its parents); "
                "pass --config PATH or an entry file"
            ),
        ),
        (
            "missing.ts",
            (
                "missing.ts does not exist (looked for {tmp}/empty/missing.ts); "
                "pass a wrangler config file, a project folder or an entry file"
            ),
        ),
        (
            "notes.txt",
            (
                "notes.txt is neither a wrangler config (.json, .jsonc, .toml) "
                "nor a Worker entry (.ts, .js, .mjs, .mts, .cjs)"
            ),
        ),
    ],
)
def test_resolve_config_errors(tmp_path: Path, target: str | None, message: str) -> None:
    write(tmp_path, {"empty/notes.txt": "hello"})

    with pytest.raises(ConfigError) as caught:
        resolve_config(target, cwd=tmp_path / "empty", environ={})
    assert str(caught.value) == message.format(tmp=tmp_path)


def test_an_entry_named_by_its_projects_config_gets_that_config(tmp_path: Path) -> None:
    project(tmp_path, "wrangler.jsonc", '{"name": "app", "main": "./src/../src/index.ts", "vars": {"A": "1"}}')
    write(tmp_path, {".dev.vars": "TOKEN=t\n"})

    config = config_for_entry(tmp_path / "src" / "index.ts", environ={})

    assert (config.path, config.name, dict(config.vars)) == (tmp_path / "wrangler.jsonc", "app", {"A": "1"})
    assert dict(config.secrets) == {"TOKEN": "t"}


def test_an_entry_its_projects_config_does_not_name_gets_an_empty_config(tmp_path: Path) -> None:
    project(tmp_path, "wrangler.jsonc", '{"name": "app", "main": "src/index.ts", "vars": {"A": "1"}}')
    write(tmp_path, {"tools/probe.ts": ENTRY, "tools/.dev.vars": "PROBE=p\n"})
    entry = tmp_path / "tools" / "probe.ts"

    assert config_for_entry(entry, environ={}) == WorkerConfig(
        root=tmp_path / "tools",
        path=None,
        main=entry,
        name=None,
        compatibility_date=None,
        compatibility_flags=(),
        vars={},
        secrets={"PROBE": "p"},
        secrets_source=(tmp_path / "tools" / ".dev.vars",),
        durable_objects=(),
        containers=(),
        kv_namespaces=(),
        r2_buckets=(),
        secrets_store_secrets=(),
        secrets_candidates=(
            tmp_path / "tools/.dev.vars",
            tmp_path / "tools/.env",
            tmp_path / "tools/.env.local",
        ),
    )


def test_an_entry_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        config_for_entry(tmp_path / "src" / "gone.ts", environ={})
    assert str(caught.value) == "entry src/gone.ts does not exist; pass the Worker's entry module"


# -- the dotenv parser ------------------------------------------------------------------------------

DOTENV: list[tuple[str, dict[str, str]]] = [
    # rows checked against npm dotenv 16.3.1 `parse()`
    ("A=1", {"A": "1"}),
    ("A = 1  ", {"A": "1"}),
    ("export A=1", {"A": "1"}),
    ("A: 1", {"A": "1"}),
    ("A=", {"A": ""}),
    ("# comment\nA=1 # inline comment", {"A": "1"}),
    ("A=a#b", {"A": "a"}),
    ("A='single # not a comment'", {"A": "single # not a comment"}),
    ('A="double # not a comment" # comment', {"A": "double # not a comment"}),
    ("A=`back'tick\"s`", {"A": "back'tick\"s"}),
    ('A="line\\nbreak"', {"A": "line\nbreak"}),
    ("A='line\\nbreak'", {"A": "line\\nbreak"}),
    ("A=line\\nbreak", {"A": "line\\nbreak"}),
    ('A="multi\nline"\nB=2', {"A": "multi\nline", "B": "2"}),
    ("A='multi\r\nline'", {"A": "multi\nline"}),
    ('A="  padded  "', {"A": "  padded  "}),
    ('A="escaped \\" quote"', {"A": 'escaped \\" quote'}),
    ('A="unterminated', {"A": '"unterminated'}),
    ("A=${B} $C", {"A": "${B} $C"}),
    ("A.B-C_1=x", {"A.B-C_1": "x"}),
    ("A=1\nA=2", {"A": "2"}),
    ("not a line\nB=2", {"B": "2"}),
    ("\ufeffA=1", {"A": "1"}),
    ("Z=1\n10=2\n2=3", {"2": "3", "10": "2", "Z": "1"}),
]


@pytest.mark.parametrize(("text", "parsed"), DOTENV)
def test_parse_dotenv(text: str, parsed: dict[str, str]) -> None:
    result = parse_dotenv(text)

    assert (result, list(result)) == (parsed, list(parsed))


# -- secrets ----------------------------------------------------------------------------------------

MINIMAL = '{"name": "app", "main": "src/index.ts", "vars": {"LEVEL": "config", "KEEP": 1}}'


def test_dev_vars_beat_dot_env_files_entirely(tmp_path: Path) -> None:
    path = project(tmp_path, "wrangler.jsonc", MINIMAL, **{".dev.vars": "A=dev\n", ".env": "A=env\nB=env\n"})
    config = load(path)

    assert (dict(config.secrets), config.secrets_source) == ({"A": "dev"}, (tmp_path / ".dev.vars",))


def test_secrets_override_vars_of_the_same_name(tmp_path: Path) -> None:
    path = project(tmp_path, "wrangler.jsonc", MINIMAL, **{".dev.vars": "LEVEL=secret\n"})
    config = load(path)

    assert (dict(config.vars), dict(config.secrets)) == ({"KEEP": 1}, {"LEVEL": "secret"})


def test_dev_vars_for_the_env_replace_dev_vars_rather_than_merge(tmp_path: Path) -> None:
    files = {".dev.vars": "A=base\nB=base\n", ".dev.vars.staging": "A=staging\n"}
    path = project(tmp_path, "wrangler.jsonc", MINIMAL, **files)

    assert dict(load(path, env="staging").secrets) == {"A": "staging"}
    assert dict(load(path, env="other").secrets) == {"A": "base", "B": "base"}


def test_cloudflare_env_picks_the_section_but_not_dev_vars_for_the_env(tmp_path: Path) -> None:
    # wrangler dev passes only --env (args.env) to getVarsForDev, not CLOUDFLARE_ENV
    files = {".dev.vars": "A=base\n", ".dev.vars.staging": "A=staging\n"}
    path = project(tmp_path, "wrangler.jsonc", MINIMAL, **files)

    config = load(path, CLOUDFLARE_ENV="staging")
    assert (config.name, dict(config.secrets)) == ("app-staging", {"A": "base"})


def test_dot_env_files_merge_in_wranglers_order(tmp_path: Path) -> None:
    files = {
        ".env": "A=env\nB=env\nC=env\nD=env\n",
        ".env.local": "B=local\nC=local\nD=local\n",
        ".env.staging": "C=staging\nD=staging\n",
        ".env.staging.local": "D=staging.local\n",
    }
    path = project(tmp_path, "wrangler.jsonc", MINIMAL, **files)

    config = load(path, env="staging")
    assert dict(config.secrets) == {"A": "env", "B": "local", "C": "staging", "D": "staging.local"}
    assert config.secrets_source == tuple(tmp_path / name for name in files)
    assert config.watch_paths() == (
        tmp_path / "wrangler.jsonc",
        tmp_path / ".dev.vars.staging",
        tmp_path / ".dev.vars",
        *(tmp_path / name for name in files),
    )
    assert dict(load(path).secrets) == {"A": "env", "B": "local", "C": "local", "D": "local"}


def test_dot_env_loading_can_be_switched_off(tmp_path: Path) -> None:
    path = project(tmp_path, "wrangler.jsonc", MINIMAL, **{".env": "A=env\n"})

    config = load(path, CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV="FALSE")
    assert (dict(config.secrets), config.watch_paths()) == ({}, (path, tmp_path / ".dev.vars"))
    assert error_of(path, CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV="no") == (
        'CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV must be "true" or "false", got "no"'
    )


EXPANSIONS: list[tuple[str, dict[str, str], dict[str, str]]] = [
    # (.env text, process environment, secrets); rows checked against dotenv-expand 12.0.2
    ("A=a\nB=${A}-$A", {}, {"A": "a", "B": "a-a"}),
    ("B=${A}\nA=a", {}, {"B": "", "A": "a"}),  # only earlier values expand
    ("A=${MISSING:-fallback}\nB=${MISSING-x}\nC=${A:+set}", {}, {"A": "fallback", "B": "x", "C": "set"}),
    ("A=\\$A and \\${A}", {}, {"A": "$A and ${A}"}),
    ("A='${HOME}'", {}, {"A": ""}),  # quotes do not stop expansion
    (
        "A=file\nB=$A",
        {"A": "process", "CLOUDFLARE_INCLUDE_PROCESS_ENV": "true"},
        {"A": "process", "B": "process"},
    ),
]


@pytest.mark.parametrize(("text", "environ", "secrets"), EXPANSIONS)
def test_dot_env_values_expand_but_dev_vars_do_not(
    tmp_path: Path, text: str, environ: dict[str, str], secrets: dict[str, str]
) -> None:
    path = project(tmp_path, "wrangler.jsonc", '{"main": "src/index.ts"}', **{".env": text})

    expanded = dict(load(path, **environ).secrets)
    assert {name: expanded[name] for name in secrets} == secrets
    (tmp_path / ".dev.vars").write_text("A=a\nB=${A}\n")
    assert dict(load(path).secrets) == {"A": "a", "B": "${A}"}


def test_declared_secrets_filter_what_the_files_provide(tmp_path: Path) -> None:
    config_text = '{"main": "src/index.ts", "vars": {"LEVEL": "x"}, "secrets": {"required": ["TOKEN", "OTHER"]}}'
    path = project(tmp_path, "wrangler.jsonc", config_text, **{".env": "TOKEN=t\nLEVEL=s\nSTRAY=no\n"})

    # explicit secrets: only declared names and names of vars are taken, process env included
    config = load(path, OTHER="from-process", PATH="/usr/bin")
    assert (dict(config.vars), dict(config.secrets)) == (
        {},
        {"OTHER": "from-process", "TOKEN": "t", "LEVEL": "s"},
    )


def test_expansion_that_never_ends_is_an_error(tmp_path: Path) -> None:
    path = project(tmp_path, "wrangler.jsonc", '{"main": "src/index.ts"}', **{".env": "B=x\\$B\nA=$B$B\n"})

    assert error_of(path) == (
        ".env: A never stops expanding (its ${...} references keep producing new ones); "
        "write \\$ for a literal dollar sign"
    )
