"""R2Conditional truth table: Miniflare's test/fixtures/r2/validator.ts (adapted from R2's gateway tests),
plus workerd's If-Match / If-None-Match header parser (r2-bucket.c++ parseConditionalEtagHeader)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bindings.errors import BindingError
from bindings.r2.conditionals import Etag, R2Conditional, holds, parse_etag_header

ETAG, BAD_ETAG = "test", "not-test"
UPLOADED = int(datetime(2023, 2, 24, 0, 9, 0, 500_000, tzinfo=UTC).timestamp() * 1000)
PAST, FUTURE = UPLOADED - 30_000, UPLOADED + 30_000
JUST_PAST, JUST_FUTURE = UPLOADED - 250, UPLOADED + 250


def strong(value: str) -> tuple[Etag, ...]:
    return (Etag("strong", value),)


def weak(value: str) -> tuple[Etag, ...]:
    return (Etag("weak", value),)


WILDCARD = (Etag("wildcard"),)

# (conditional, holds for the object {ETAG, UPLOADED})
EXISTING = [
    # single conditions
    (R2Conditional(etag_matches=strong(ETAG)), True),
    (R2Conditional(etag_matches=strong(BAD_ETAG)), False),
    (R2Conditional(etag_does_not_match=strong(BAD_ETAG)), True),
    (R2Conditional(etag_does_not_match=strong(ETAG)), False),
    (R2Conditional(uploaded_before_ms=PAST), False),
    (R2Conditional(uploaded_before_ms=FUTURE), True),
    (R2Conditional(uploaded_after_ms=PAST), True),
    (R2Conditional(uploaded_after_ms=FUTURE), False),
    # weaker etags: If-Match compares strongly, If-None-Match weakly; * matches anything
    (R2Conditional(etag_matches=weak(ETAG)), False),
    (R2Conditional(etag_does_not_match=weak(ETAG)), False),
    (R2Conditional(etag_does_not_match=weak(BAD_ETAG)), True),
    (R2Conditional(etag_matches=WILDCARD), True),
    (R2Conditional(etag_does_not_match=WILDCARD), False),
    # several conditions that fail
    (R2Conditional(etag_matches=strong(ETAG), etag_does_not_match=strong(ETAG)), False),
    (R2Conditional(etag_matches=strong(ETAG), uploaded_after_ms=FUTURE), False),
    # etagMatches passing makes uploadedBefore pass, but uploadedAfter still fails
    (R2Conditional(etag_matches=strong(ETAG), uploaded_after_ms=FUTURE, uploaded_before_ms=PAST), False),
    (R2Conditional(etag_does_not_match=strong(BAD_ETAG), uploaded_before_ms=PAST), False),
    # etagDoesNotMatch passing makes uploadedAfter pass, but uploadedBefore still fails
    (R2Conditional(etag_does_not_match=strong(BAD_ETAG), uploaded_after_ms=FUTURE, uploaded_before_ms=PAST), False),
    (
        R2Conditional(
            etag_matches=strong(BAD_ETAG),
            etag_does_not_match=strong(BAD_ETAG),
            uploaded_after_ms=PAST,
            uploaded_before_ms=FUTURE,
        ),
        False,
    ),
    # several conditions that hold
    (R2Conditional(etag_matches=strong(ETAG), etag_does_not_match=strong(BAD_ETAG)), True),
    (R2Conditional(etag_matches=strong(ETAG), uploaded_before_ms=PAST), True),
    (R2Conditional(etag_does_not_match=strong(BAD_ETAG), uploaded_after_ms=FUTURE), True),
    (
        R2Conditional(
            etag_matches=strong(ETAG),
            uploaded_before_ms=PAST,
            etag_does_not_match=strong(BAD_ETAG),
            uploaded_after_ms=FUTURE,
        ),
        True,
    ),
    (R2Conditional(uploaded_before_ms=FUTURE, etag_does_not_match=strong(BAD_ETAG), uploaded_after_ms=FUTURE), True),
    (R2Conditional(uploaded_after_ms=PAST, etag_matches=strong(ETAG), uploaded_before_ms=PAST), True),
    # seconds granularity truncates both sides to whole seconds
    (R2Conditional(uploaded_after_ms=JUST_PAST), True),
    (R2Conditional(uploaded_after_ms=JUST_PAST, seconds_granularity=True), False),
    (R2Conditional(uploaded_before_ms=JUST_FUTURE), True),
    (R2Conditional(uploaded_before_ms=JUST_FUTURE, seconds_granularity=True), False),
]

# (conditional, holds when there is no object): only etagMatches and uploadedAfter fail
MISSING = [
    (R2Conditional(etag_matches=strong(ETAG)), False),
    (R2Conditional(uploaded_after_ms=PAST), False),
    (R2Conditional(etag_matches=strong(ETAG), uploaded_after_ms=PAST), False),
    (R2Conditional(etag_does_not_match=strong(ETAG)), True),
    (R2Conditional(uploaded_before_ms=PAST), True),
    (R2Conditional(etag_does_not_match=strong(ETAG), uploaded_before_ms=PAST), True),
    (R2Conditional(etag_matches=strong(ETAG), uploaded_before_ms=PAST), False),
    (R2Conditional(etag_does_not_match=strong(ETAG), uploaded_after_ms=PAST), False),
]


@pytest.mark.parametrize(("condition", "expected"), EXISTING)
def test_condition_on_existing_object(condition: R2Conditional, expected: bool) -> None:
    assert holds(condition, ETAG, UPLOADED) is expected


@pytest.mark.parametrize(("condition", "expected"), MISSING)
def test_condition_on_missing_object(condition: R2Conditional, expected: bool) -> None:
    assert holds(condition, None, None) is expected


@pytest.mark.parametrize(
    ("header", "etags"),
    [
        ('"a"', (Etag("strong", "a"),)),
        ('"a", W/"b" ,"c"', (Etag("strong", "a"), Etag("weak", "b"), Etag("strong", "c"))),
        (' ,, "a",', (Etag("strong", "a"),)),
        ('"a", *', (Etag("wildcard"),)),
        ("*", (Etag("wildcard"),)),
        ("", ()),
        ("a", ()),
        ('"a" x', (Etag("strong", "a"),)),
    ],
)
def test_etag_header_parses_as_workerd(header: str, etags: tuple[Etag, ...]) -> None:
    assert parse_etag_header(header) == etags


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ('"a" *', "Comma was expected to separate etags. Encountered a wildcard character '*' instead."),
        (
            '"a" W/"b"',
            "Comma was expected to separate etags. Encountered a weak quotation character 'W' instead. "
            "This would otherwise indicate the start of a new weak etag.",
        ),
        (
            '"a" "b"',
            "Comma was expected to separate etags. Encountered a double quote character '\"' instead. "
            "This would otherwise indicate the start of a new strong etag.",
        ),
        ("W/b", "Weak etags must start with W/ and their value must be quoted"),
        ('"a', "Unclosed double quote for Etag"),
        ('W/"a', "Unclosed double quote for Etag"),
    ],
)
def test_etag_header_errors_are_workerds(header: str, message: str) -> None:
    with pytest.raises(BindingError) as raised:
        parse_etag_header(header)
    assert (str(raised.value), raised.value.js_name) == (message, "Error")


def test_headers_with_no_etag_are_invalid() -> None:
    with pytest.raises(BindingError, match="^Invalid ETag in if-match header$"):
        R2Conditional.from_headers(if_match="nope")
    with pytest.raises(BindingError, match="^Invalid ETag in if-none-match header$"):
        R2Conditional.from_headers(if_none_match="")


def test_headers_compare_in_seconds() -> None:
    condition = R2Conditional.from_headers(if_modified_since_ms=JUST_PAST)
    assert condition.seconds_granularity
    assert not holds(condition, ETAG, UPLOADED)


def test_quoted_etag_option_is_a_type_error() -> None:
    with pytest.raises(BindingError) as raised:
        Etag.from_option('"abc"')
    assert (str(raised.value), raised.value.js_name) == (
        'Conditional ETag should not be wrapped in quotes ("abc").',
        "TypeError",
    )
    assert Etag.from_option("*") == WILDCARD
