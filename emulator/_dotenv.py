"""`.dev.vars` and `.env` files as wrangler reads them: npm `dotenv` and `dotenv-expand`, reproduced.

Wrangler parses both kinds of file with `dotenv` 16.3.1 `parse()` and expands `${VAR}` references in
`.env` files (never in `.dev.vars`) with `dotenv-expand` 12.0.2 `expand()` (workers-sdk @ f830836:
`wrangler/src/dev/dev-vars.ts`, `wrangler/src/config/dot-env.ts`). Both are JS, so the translation keeps
JS's regular-expression semantics (`\\s`, `.`, `^`/`$` in multi-line mode) and the order a JS object lists
its keys in, which changes what expansion produces.

- `parse_dotenv(text)`: one file's text to its values, no expansion.
- `expand_dotenv(parsed, process_env)`: the `.env` files' merged values, expanded.

Which files are read, in which order, is `config.py`'s concern. A value whose references never settle
raises `ExpansionLoop` (a `ValueError`) naming its key; `config.py` adds the file name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["ExpansionLoop", "expand_dotenv", "parse_dotenv"]

# dotenv 16.3.1 `LINE`, translated from JS: `\s` and `.` and the multi-line `^`/`$` differ between
# JS and Python, so they are spelled out; JS's `\w` is ASCII-only.
_JS_WHITESPACE = (
    "\t\n\x0b\x0c\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_JS_SPACE = f"[{re.escape(_JS_WHITESPACE)}]"
_JS_LINE_START = r"(?:(?<=[\n\r\u2028\u2029])|\A)"
_JS_LINE_END = r"(?=[\n\r\u2028\u2029]|\Z)"
_DOTENV_LINE = re.compile(
    _JS_LINE_START
    + rf"{_JS_SPACE}*(?:export{_JS_SPACE}+)?([A-Za-z0-9_.-]+)(?:{_JS_SPACE}*={_JS_SPACE}*?|:{_JS_SPACE}+?)"
    + rf"({_JS_SPACE}*'(?:\\'|[^'])*'|{_JS_SPACE}*\"(?:\\\"|[^\"])*\"|{_JS_SPACE}*`(?:\\`|[^`])*`|[^#\r\n]+)?"
    + rf"{_JS_SPACE}*(?:#[^\n\r\u2028\u2029]*)?"
    + _JS_LINE_END
)
_DOTENV_QUOTED = re.compile(_JS_LINE_START + r"(['\"`])([\s\S]*)\1" + _JS_LINE_END)


def parse_dotenv(text: str) -> dict[str, str]:
    """Parse a .dev.vars/.env file exactly as npm `dotenv` 16.3.1 `parse()` does.

    `KEY=value` or `KEY: value`, optional `export `, `#` comments (also after an unquoted value),
    values trimmed; '…', "…" and `…` quotes are removed and may span lines; only in "…" do `\\n`
    and `\\r` become newline and carriage return. Lines that don't match are skipped, a repeated
    key keeps its last value, and there is no `${VAR}` expansion here.
    """
    result: dict[str, str] = {}
    for match in _DOTENV_LINE.finditer(re.sub(r"\r\n?", "\n", text)):
        value = (match[2] or "").strip(_JS_WHITESPACE)
        quote = value[:1]
        value = _DOTENV_QUOTED.sub(lambda m: m[2], value)
        if quote == '"':
            value = value.replace("\\n", "\n").replace("\\r", "\r")
        result[match[1]] = value
    return _js_key_order(result)


def _js_key_order(values: dict[str, str]) -> dict[str, str]:
    """The order a JS object lists its keys in: array indices ("0", "42") first, ascending, then
    the rest in insertion order. dotenv-expand expands in this order, so it changes results."""
    indices = sorted((k for k in values if _is_array_index(k)), key=int)
    return {**{k: values[k] for k in indices}, **values}


def _is_array_index(key: str) -> bool:
    return key.isascii() and key.isdigit() and str(int(key)) == key and int(key) < 2**32 - 1


# dotenv-expand 12.0.2 `expandValue`.
_EXPANSION = re.compile(r"(?<!\\)\$\{([^{}]+)\}|(?<!\\)\$([A-Za-z_][A-Za-z0-9_]*)")
_EXPANSION_OPERATOR = re.compile(r":\+|\+|:-|-")
_MAX_EXPANSION_STEPS = 1_000  # one reference per step; dotenv-expand itself never stops on A=$B$B, B=x\$B


class ExpansionLoop(ValueError):
    """Raised when a value's `${...}` references never stop producing new ones; `name` is its key."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def expand_dotenv(parsed: dict[str, str], process_env: Mapping[str, str]) -> dict[str, str]:
    """dotenv-expand `expand()`: each value expands against the values before it (in JS key order)
    and the process environment (which wins); `\\$` becomes `$` afterwards. Returns process env +
    expanded values."""
    running: dict[str, str] = {}
    for name, raw in _js_key_order(parsed).items():
        from_process = process_env.get(name)
        if from_process and from_process != raw:
            value = from_process
        else:
            value = _expand_value(name, raw, {**running, **process_env}, running)
        running[name] = value.replace("\\$", "$")
    return _js_key_order({**process_env, **running})


def _expand_value(name: str, value: str, env: Mapping[str, str], running: Mapping[str, str]) -> str:
    result = value
    seen: set[str] = set()
    for _ in range(_MAX_EXPANSION_STEPS):
        match = _EXPANSION.search(result)
        if match is None:
            return result
        seen.add(result)
        template, expression = match[0], match[1] or match[2]
        operator = _EXPANSION_OPERATOR.search(expression)
        # JS `expression.split(null)` splits on the string "null": `${AnullB}` means A, default B.
        splitter = operator[0] if operator else "null"
        key, *rest = expression.split(splitter)
        if splitter in (":+", "+"):
            replacement = splitter.join(rest) if env.get(key) else ""
        else:
            current = env.get(key)
            default = splitter.join(rest)
            replacement = current if current and current not in seen else default
        result = _js_replace_first(result, template, replacement)
        if result == running.get(key):
            return result
    raise ExpansionLoop(name)


def _js_replace_first(subject: str, pattern: str, replacement: str) -> str:
    """`subject.replace(pattern, replacement)` with a string pattern, `$$ $& $\\` $'` included."""
    at = subject.find(pattern)
    before, after = subject[:at], subject[at + len(pattern) :]
    specials = {"$$": "$", "$&": pattern, "$`": before, "$'": after}
    return before + re.sub(r"\$[$&`']", lambda m: specials[m[0]], replacement) + after
