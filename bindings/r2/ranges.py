"""Which bytes of an object a get returns: an ``R2Range`` object or an HTTP ``Range`` header.

The two disagree on purpose, as on Cloudflare (Miniflare's validator.worker.ts ``range`` and
shared/range.ts ``parseRanges``): a range object outside the object is an error (10039), while a ``Range``
header that is invalid, unsatisfiable or names several ranges returns the whole object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bindings.r2.errors import InvalidRange

# "bytes", any case, spaces around it, then "=" (range.ts rangePrefixRegexp).
_PREFIX = re.compile(r"^ *bytes *=", re.IGNORECASE)
# One range: optional start and end around a dash, spaces allowed anywhere between.
_ONE = re.compile(r"^ *(?P<start>\d+)? *- *(?P<end>\d+)? *$")


@dataclass(frozen=True)
class R2Range:
    """A get's range: ``{offset}``, ``{length}``, ``{offset, length}`` or ``{suffix}``.

    On results (head, get) it is the span returned, as offset and length.
    """

    offset: int | None = None
    length: int | None = None
    suffix: int | None = None


@dataclass(frozen=True)
class ByteSpan:
    """Inclusive byte positions ``start..end`` of an object."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_range_header(header: str, size: int) -> list[ByteSpan] | None:
    """A ``Range`` header against an object of ``size`` bytes.

    None: unsatisfiable or malformed. ``[]``: the whole object. Otherwise the spans, in header order.
    """
    prefix = _PREFIX.match(header)
    if prefix is None:
        return None
    rest = header[prefix.end() :]
    if rest.lstrip() == "":
        return []
    spans: list[ByteSpan] = []
    for part in rest.split(","):
        match = _ONE.match(part)
        if match is None:
            return None
        start, end = match["start"], match["end"]
        if start is not None and end is not None:
            first, last = int(start), int(end)
            if first > last or first >= size:
                return None
            spans.append(ByteSpan(first, min(last, size - 1)))
        elif start is not None:
            first = int(start)
            if first >= size:
                return None
            spans.append(ByteSpan(first, size - 1))
        elif end is not None:
            suffix = int(end)
            if suffix >= size:
                return []  # the suffix covers everything: the whole object, whatever else was asked
            if suffix == 0:
                continue  # an empty range is ignored
            spans.append(ByteSpan(size - suffix, size - 1))
        else:
            return None
    return spans


def resolve(size: int, range_: R2Range | None = None, header: str | None = None) -> ByteSpan | None:
    """The span a get returns, or None for the whole object. Raises InvalidRange (10039)."""
    if header is not None:
        spans = parse_range_header(header, size)
        # A single satisfiable range is honoured; anything else returns the whole object.
        return spans[0] if spans is not None and len(spans) == 1 else None
    if range_ is None:
        return None
    offset, length, suffix = range_.offset, range_.length, range_.suffix
    if suffix is not None:
        if suffix <= 0:
            raise InvalidRange()
        suffix = min(suffix, size)
        offset, length = size - suffix, suffix
    if offset is None:
        offset = 0
    if length is None:
        length = size - offset
    if offset < 0 or offset > size or length <= 0:
        raise InvalidRange()
    length = min(length, size - offset)
    return ByteSpan(offset, offset + length - 1)
