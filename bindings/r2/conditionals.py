"""``onlyIf``: whether a get returns the body and whether a put stores, RFC 7232 style.

A conditional comes from an ``R2Conditional`` object or from request headers (If-Match, If-None-Match,
If-Modified-Since, If-Unmodified-Since); workerd turns both into the same etag lists and dates
(r2-bucket.c++ ``UnwrappedConditional``) and R2 evaluates them (Miniflare's ``_testR2Conditional``):
strong comparison for If-Match, weak for If-None-Match, ``*`` matches any etag, a passing etag condition
overrides the date condition it pairs with, and a missing object fails only ``etagMatches`` and
``uploadedAfter``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bindings.errors import BindingError

EtagKind = Literal["strong", "weak", "wildcard"]

# workerd r2-bucket.c++, verbatim.
QUOTED_ETAG = "Conditional ETag should not be wrapped in quotes ({})."
INVALID_IF_MATCH = "Invalid ETag in if-match header"
INVALID_IF_NONE_MATCH = "Invalid ETag in if-none-match header"
_COMMA_BEFORE_WILDCARD = "Comma was expected to separate etags. Encountered a wildcard character '*' instead."
_COMMA_BEFORE_WEAK = (
    "Comma was expected to separate etags. Encountered a weak quotation character 'W' instead. "
    "This would otherwise indicate the start of a new weak etag."
)
_COMMA_BEFORE_STRONG = (
    "Comma was expected to separate etags. Encountered a double quote character '\"' instead. "
    "This would otherwise indicate the start of a new strong etag."
)
_WEAK_FORMAT = "Weak etags must start with W/ and their value must be quoted"
_UNCLOSED = "Unclosed double quote for Etag"


@dataclass(frozen=True)
class Etag:
    kind: EtagKind
    value: str = ""

    @classmethod
    def from_option(cls, value: str) -> tuple[Etag, ...]:
        """``etagMatches: "…"`` of an R2Conditional: one strong etag, or the wildcard ``*``."""
        if value.startswith('"') and value.endswith('"'):
            raise BindingError(QUOTED_ETAG.format(value), js_name="TypeError")
        return (cls("wildcard"),) if value == "*" else (cls("strong", value),)


@dataclass(frozen=True)
class R2Conditional:
    """Times are milliseconds since the epoch; ``seconds_granularity`` truncates both sides to seconds."""

    etag_matches: tuple[Etag, ...] | None = None
    etag_does_not_match: tuple[Etag, ...] | None = None
    uploaded_before_ms: int | None = None
    uploaded_after_ms: int | None = None
    seconds_granularity: bool = False

    @classmethod
    def from_headers(
        cls,
        if_match: str | None = None,
        if_none_match: str | None = None,
        if_modified_since_ms: int | None = None,
        if_unmodified_since_ms: int | None = None,
    ) -> R2Conditional:
        """``onlyIf: headers``: HTTP dates have whole seconds, so comparisons are in seconds."""
        matches = None if if_match is None else parse_etag_header(if_match)
        if matches is not None and not matches:
            raise BindingError(INVALID_IF_MATCH)
        none_match = None if if_none_match is None else parse_etag_header(if_none_match)
        if none_match is not None and not none_match:
            raise BindingError(INVALID_IF_NONE_MATCH)
        return cls(matches, none_match, if_unmodified_since_ms, if_modified_since_ms, seconds_granularity=True)


def parse_etag_header(header: str) -> tuple[Etag, ...]:
    """An If-Match / If-None-Match value as workerd parses it (``parseConditionalEtagHeader``)."""
    etags: list[Etag] = []
    rest = header
    comma_required = False
    while True:
        rest = rest.lstrip(" \t")
        if not rest:
            return tuple(etags)
        first = rest[0]
        if first == ",":
            rest = rest[1:]
            comma_required = False
        elif first == "*":
            if comma_required:
                raise BindingError(_COMMA_BEFORE_WILDCARD)
            return (Etag("wildcard"),)  # the wildcard overrides every other etag
        elif first == "W":
            if comma_required:
                raise BindingError(_COMMA_BEFORE_WEAK)
            if not rest.startswith('W/"'):
                raise BindingError(_WEAK_FORMAT)
            rest = rest[3:]
            close = rest.find('"')
            if close < 0:
                raise BindingError(_UNCLOSED)
            etags.append(Etag("weak", rest[:close]))
            rest = rest[close + 1 :]
            comma_required = True
        elif first == '"':
            if comma_required:
                raise BindingError(_COMMA_BEFORE_STRONG)
            rest = rest[1:]
            close = rest.find('"')
            if close < 0:
                raise BindingError(_UNCLOSED)
            etags.append(Etag("strong", rest[:close]))
            rest = rest[close + 1 :]
            comma_required = True
        else:
            return tuple(etags)  # no etag starts with this character: stop here


def _includes(etags: tuple[Etag, ...], etag: str, weak: bool) -> bool:
    for candidate in etags:
        if candidate.kind == "wildcard":
            return True
        if candidate.value == etag and (candidate.kind == "strong" or weak):
            return True
    return False


def holds(condition: R2Conditional, etag: str | None, uploaded_ms: int | None) -> bool:
    """Whether ``condition`` passes for an object (``etag``/``uploaded_ms`` None: no such object)."""
    if etag is None or uploaded_ms is None:
        return condition.etag_matches is None and condition.uploaded_after_ms is None

    def truncate(ms: int) -> int:
        return ms // 1000 * 1000 if condition.seconds_granularity else ms

    if_match = condition.etag_matches is None or _includes(condition.etag_matches, etag, weak=False)
    if_none_match = condition.etag_does_not_match is None or not _includes(
        condition.etag_does_not_match, etag, weak=True
    )
    uploaded = truncate(uploaded_ms)
    # A passing If-None-Match decides If-Modified-Since, and a passing If-Match decides If-Unmodified-Since.
    if_modified_since = (
        condition.uploaded_after_ms is None
        or truncate(condition.uploaded_after_ms) < uploaded
        or (condition.etag_does_not_match is not None and if_none_match)
    )
    if_unmodified_since = (
        condition.uploaded_before_ms is None
        or uploaded < truncate(condition.uploaded_before_ms)
        or (condition.etag_matches is not None and if_match)
    )
    return if_match and if_none_match and if_modified_since and if_unmodified_since
