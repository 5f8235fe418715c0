"""JSONC as wrangler reads `wrangler.json` and `wrangler.jsonc`.

Wrangler parses both names with `jsonc-parser` 3.2.0 and `{allowTrailingComma: true}`
(workers-sdk `packages/workers-utils/src/parse.ts`, `parseJSONC`) and refuses the file on the
first error the parser reports. This module accepts exactly what that parser accepts without
errors, and stops at the same first error:

- `//` line comments and `/* */` block comments, anywhere whitespace may go;
- a trailing comma before `}` or `]` (but not `[,]`, `{,}` or two commas in a row);
- only space, tab, CR and LF are whitespace (a form feed or NBSP is an unexpected symbol);
- strings in double quotes only, JSON escapes only, no raw control characters or line breaks;
- numbers in JSON syntax (`01` is the number 0 followed by a stray 1), literals `true`,
  `false`, `null` and nothing else (`NaN`, `undefined`, `True` are unexpected symbols).

Where a key repeats, the last value wins, as in a JS object. Errors are `JSONCError`
(a `ValueError`) carrying a 1-based line and column; `config.py` adds the file name.
"""

from __future__ import annotations

import json
from typing import TypeAlias

__all__ = ["JSONCError", "JSONValue", "parse_jsonc"]

JSONValue: TypeAlias = "str | int | float | bool | None | list[JSONValue] | dict[str, JSONValue]"

_WHITESPACE = " \t\r\n"
# A run of these characters is one "word" token to jsonc-parser: true/false/null or an error.
_WORD_STOPS = _WHITESPACE + '{}[]":,/'
_PUNCTUATION = "{}[]:,"
_VALUE_STARTS = frozenset({"{", "[", "string", "number", "true", "false", "null"})
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_LITERALS: dict[str, JSONValue] = {"true": True, "false": False, "null": None}


class JSONCError(ValueError):
    """Raised for the first syntax error in a JSONC text, with its 1-based line and column."""

    def __init__(self, reason: str, line: int, column: int) -> None:
        super().__init__(f"{line}:{column}: {reason}")
        self.reason = reason
        self.line = line
        self.column = column


def parse_jsonc(text: str) -> JSONValue:
    """Parse `text` (comments and trailing commas allowed) or raise `JSONCError`."""
    return _Parser(text).parse_document()


def _is_digit(char: str) -> bool:
    return "0" <= char <= "9"


class _Parser:
    """A scanner and recursive-descent parser in one, following jsonc-parser's `visit()`."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0  # where the scanner reads next
        self.start = 0  # offset of the current token
        self.token = "eof"  # "{", "}", "[", "]", ":", ",", "string", "number", "true", ...
        self.value: JSONValue = None  # the current string or number token's value

    # -- parser -------------------------------------------------------------------------------

    def parse_document(self) -> JSONValue:
        self.advance()
        if self.token == "eof":
            raise self.error("expected a value, found the end of the file")
        if self.token not in _VALUE_STARTS:
            raise self.error("expected a value (an object, array, string, number, true, false or null)")
        value = self.parse_value()
        if self.token != "eof":
            raise self.error("unexpected content after the top-level value; expected the end of the file")
        return value

    def parse_value(self) -> JSONValue:
        token = self.token
        if token == "{":
            return self.parse_object()
        if token == "[":
            return self.parse_array()
        value = _LITERALS.get(token, self.value)
        self.advance()
        return value

    def parse_object(self) -> dict[str, JSONValue]:
        opened_at = self.start
        self.advance()
        result: dict[str, JSONValue] = {}
        needs_comma = False
        while self.token not in ("}", "eof"):
            if self.token == ",":
                if not needs_comma:
                    raise self.error('expected a property name before ","')
                self.advance()
                if self.token == "}":  # a trailing comma: allowTrailingComma
                    break
            elif needs_comma:
                raise self.error('expected "," or "}" after the property value')
            if self.token != "string":
                raise self.error("expected a property name in double quotes")
            name = str(self.value)
            self.advance()
            if self.token != ":":
                raise self.error(f'expected ":" after the property name "{name}"')
            self.advance()
            if self.token not in _VALUE_STARTS:
                raise self.error(f'expected a value for "{name}"')
            result[name] = self.parse_value()
            needs_comma = True
        if self.token != "}":
            line, column = self.line_column(opened_at)
            raise self.error(f'expected "}}" to close the object opened at {line}:{column}')
        self.advance()
        return result

    def parse_array(self) -> list[JSONValue]:
        opened_at = self.start
        self.advance()
        result: list[JSONValue] = []
        needs_comma = False
        while self.token not in ("]", "eof"):
            if self.token == ",":
                if not needs_comma:
                    raise self.error('expected a value before ","')
                self.advance()
                if self.token == "]":  # a trailing comma: allowTrailingComma
                    break
            elif needs_comma:
                raise self.error('expected "," or "]" after the array element')
            if self.token not in _VALUE_STARTS:
                raise self.error("expected a value")
            result.append(self.parse_value())
            needs_comma = True
        if self.token != "]":
            line, column = self.line_column(opened_at)
            raise self.error(f'expected "]" to close the array opened at {line}:{column}')
        self.advance()
        return result

    # -- scanner ------------------------------------------------------------------------------

    def advance(self) -> None:
        """Move to the next token, skipping whitespace and comments."""
        text = self.text
        while True:
            pos = self.start = self.pos
            if pos >= len(text):
                self.token = "eof"
                return
            char = text[pos]
            if char in _WHITESPACE:
                self.pos += 1
            elif char == "/":
                self.skip_comment(pos)
            elif char in _PUNCTUATION:
                self.pos += 1
                self.token = char
                return
            elif char == '"':
                self.value = self.scan_string(pos)
                self.token = "string"
                return
            elif char == "-" or _is_digit(char):
                self.value = self.scan_number(pos)
                self.token = "number"
                return
            else:
                self.token = self.scan_word(pos)
                return

    def skip_comment(self, pos: int) -> None:
        text = self.text
        follower = text[pos + 1 : pos + 2]
        if follower == "/":
            end = pos + 2
            while end < len(text) and text[end] not in "\r\n":
                end += 1
            self.pos = end
        elif follower == "*":
            end = text.find("*/", pos + 2)
            if end < 0:
                raise self.error("unterminated /* comment; close it with */", pos)
            self.pos = end + 2
        else:
            raise self.error('unexpected "/"; comments start with // or /*', pos)

    def scan_word(self, pos: int) -> str:
        text = self.text
        end = pos
        while end < len(text) and text[end] not in _WORD_STOPS:
            end += 1
        word = text[pos:end]
        if word in _LITERALS:
            self.pos = end
            return word
        hint = (
            "strings need double quotes"
            if word[0] in "'`"
            else "values are strings in double quotes, numbers, true, false or null"
        )
        raise self.error(f"unexpected {json.dumps(word, ensure_ascii=False)}; {hint}", pos)

    def scan_number(self, pos: int) -> int | float:
        text = self.text
        end = pos + 1 if text[pos] == "-" else pos
        if end >= len(text) or not _is_digit(text[end]):
            raise self.error('unexpected "-"; a number needs digits after the minus sign', pos)
        if text[end] == "0":  # JSON: no leading zeros, so "01" is 0 followed by a stray 1
            end += 1
        else:
            end = self.skip_digits(end)
        is_integer = True
        if end < len(text) and text[end] == ".":
            if end + 1 >= len(text) or not _is_digit(text[end + 1]):
                raise self.error(f'incomplete number "{text[pos : end + 1]}"; add digits after the "."', pos)
            end = self.skip_digits(end + 1)
            is_integer = False
        if end < len(text) and text[end] in "eE":
            exponent = end + 1
            if exponent < len(text) and text[exponent] in "+-":
                exponent += 1
            if exponent >= len(text) or not _is_digit(text[exponent]):
                raise self.error(f'incomplete number "{text[pos:exponent]}"; add the exponent\'s digits', pos)
            end = self.skip_digits(exponent)
            is_integer = False
        self.pos = end
        literal = text[pos:end]
        return int(literal) if is_integer else float(literal)

    def skip_digits(self, pos: int) -> int:
        while pos < len(self.text) and _is_digit(self.text[pos]):
            pos += 1
        return pos

    def scan_string(self, pos: int) -> str:
        text = self.text
        parts: list[str] = []
        index = chunk_start = pos + 1
        while True:
            if index >= len(text):
                raise self.error('unterminated string; close it with "', pos)
            char = text[index]
            if char == '"':
                parts.append(text[chunk_start:index])
                break
            if char == "\\":
                parts.append(text[chunk_start:index])
                index = self.scan_escape(index, parts)
                chunk_start = index
                continue
            if char in "\r\n":
                raise self.error('unterminated string; strings cannot span lines (write "\\n")', pos)
            if char < " ":
                raise self.error(f"control character U+{ord(char):04X} inside a string; escape it", index)
            index += 1
        self.pos = index + 1
        return _join_surrogates("".join(parts))

    def scan_escape(self, backslash: int, parts: list[str]) -> int:
        """Append the escaped character at `backslash` to `parts`; return the offset after it."""
        text = self.text
        code = text[backslash + 1 : backslash + 2]
        if code in _ESCAPES:
            parts.append(_ESCAPES[code])
            return backslash + 2
        if code == "u":
            digits = text[backslash + 2 : backslash + 6]
            if len(digits) == 4 and set(digits) <= _HEX_DIGITS:
                parts.append(chr(int(digits, 16)))
                return backslash + 6
            raise self.error("invalid \\u escape; it needs exactly 4 hex digits, e.g. \\u00e9", backslash)
        if not code:
            raise self.error('unterminated string; close it with "', backslash)
        raise self.error(f'invalid escape "\\{code}" in a string; write "\\\\" for a backslash', backslash)

    # -- positions ----------------------------------------------------------------------------

    def line_column(self, offset: int) -> tuple[int, int]:
        """1-based line and column of `offset`; CRLF, CR and LF each end a line."""
        before = self.text[:offset].replace("\r\n", "\n").replace("\r", "\n")
        line_start = before.rfind("\n") + 1
        return before.count("\n") + 1, len(before) - line_start + 1

    def error(self, reason: str, offset: int | None = None) -> JSONCError:
        line, column = self.line_column(self.start if offset is None else offset)
        return JSONCError(reason, line, column)


def _join_surrogates(value: str) -> str:
    """Combine `\\ud83d\\ude00`-style escape pairs into one character, as a JS string holds them."""
    if not any("\ud800" <= char <= "\udfff" for char in value):
        return value
    return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
