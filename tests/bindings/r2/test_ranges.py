"""Range header parsing (Miniflare's test/plugins/shared/range.spec.ts) and range objects (validator.worker.ts)."""

from __future__ import annotations

import pytest

from bindings.r2.errors import InvalidRange
from bindings.r2.ranges import ByteSpan, R2Range, parse_range_header, resolve


def spans(*pairs: tuple[int, int]) -> list[ByteSpan]:
    return [ByteSpan(start, end) for start, end in pairs]


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        # the unit is "bytes", in any case, with spaces around it
        ("bytes=0-1", 2, spans((0, 1))),
        ("BYTES    =0-1", 2, spans((0, 1))),
        ("     bYtEs=0-1", 4, spans((0, 1))),
        ("    Bytes        =0-1", 2, spans((0, 1))),
        ("nibbles=0-1", 2, None),
        # start and end
        ("bytes=0-1", 8, spans((0, 1))),
        ("bytes=2-7", 8, spans((2, 7))),
        ("bytes=5-5", 8, spans((5, 5))),
        ("bytes=1-0", 2, None),  # start after end
        ("bytes=2-3", 2, None),  # start after the content
        ("bytes=5-7", 2, None),
        ("bytes=0-2", 2, spans((0, 1))),  # end after the content is truncated
        ("bytes=1-5", 3, spans((1, 2))),
        ("bytes=  1-3,6-7,10-11", 12, spans((1, 3), (6, 7), (10, 11))),
        ("bytes=0-2,1-3", 5, spans((0, 2), (1, 3))),  # overlapping ranges are kept
        # just a start
        ("bytes=2-", 8, spans((2, 7))),
        ("bytes=5-", 6, spans((5, 5))),
        ("bytes=2-", 2, None),
        ("bytes=5-", 2, None),
        ("bytes=  1-,6- ,  10-11   ", 12, spans((1, 11), (6, 11), (10, 11))),
        # just an end (a suffix)
        ("bytes=-2", 8, spans((6, 7))),
        ("bytes=-6", 7, spans((1, 6))),
        ("bytes=-7", 7, []),  # covers everything: the whole response
        ("bytes=-10", 5, []),
        ("bytes=0-1,-5,2-3", 5, []),
        ("bytes=-0", 2, []),  # an empty range is ignored
        ("bytes=0-1,-0,2-3", 4, spans((0, 1), (2, 3))),
        # at least a start or an end
        ("bytes=-", 2, None),
        ("bytes=0", 2, None),
        ("bytes=0-1,", 2, None),
        ("bytes=", 2, []),
    ],
)
def test_range_header(header: str, size: int, expected: list[ByteSpan] | None) -> None:
    assert parse_range_header(header, size) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=3-6", ByteSpan(3, 6)),
        ("bytes=-5", ByteSpan(21, 25)),
        ("bytes=5-6,10-11", None),  # several ranges: the whole object
        ("bytes=30-", None),  # unsatisfiable: the whole object, not an error
        ("garbage", None),
    ],
)
def test_a_range_header_never_fails_a_get(header: str, expected: ByteSpan | None) -> None:
    assert resolve(26, header=header) == expected


@pytest.mark.parametrize(
    ("range_", "expected"),
    [
        (R2Range(offset=3), ByteSpan(3, 4)),
        (R2Range(length=3), ByteSpan(0, 2)),
        (R2Range(length=42), ByteSpan(0, 4)),
        (R2Range(offset=1, length=3), ByteSpan(1, 3)),
        (R2Range(suffix=3), ByteSpan(2, 4)),
        (R2Range(suffix=42), ByteSpan(0, 4)),
        (None, None),
    ],
)
def test_range_object(range_: R2Range | None, expected: ByteSpan | None) -> None:
    assert resolve(5, range_) == expected


@pytest.mark.parametrize("range_", [R2Range(offset=42), R2Range(length=0), R2Range(suffix=0), R2Range(offset=6)])
def test_unsatisfiable_range_object(range_: R2Range) -> None:
    with pytest.raises(InvalidRange) as raised:
        resolve(5, range_)
    assert str(raised.value) == "The requested range is not satisfiable (10039)"
