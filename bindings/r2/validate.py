"""Input checks, raising what Cloudflare raises (contract §4.2).

R2's own checks (Miniflare's validator.worker.ts) raise ``R2Error``s; the checks workerd makes before a
request leaves the Worker (r2-bucket.c++, r2-multipart.c++) raise ``TypeError``/``RangeError`` as
``BindingError``. The JS binding repeats the workerd checks whose message depends on a JS type (a hash given
as hex string or as bytes); the ones here guard Python callers too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bindings.errors import BindingError
from bindings.r2.errors import EntityTooLarge, InvalidMaxKeys, InvalidObjectName, MetadataTooLarge
from bindings.r2.limits import R2Limits

# Checksum options of put(): field -> (R2's algorithm name, hashlib name, digest bytes).
HASHES = {
    "md5": ("MD5", "md5", 16),
    "sha1": ("SHA-1", "sha1", 20),
    "sha256": ("SHA-256", "sha256", 32),
    "sha384": ("SHA-384", "sha384", 48),
    "sha512": ("SHA-512", "sha512", 64),
}
INCLUDE_FIELDS = ("httpMetadata", "customMetadata")

MULTIPLE_HASHES = "You cannot specify multiple hashing algorithms."  # r2-bucket.c++
PART_NUMBER = "Part number must be between 1 and 10000 (inclusive). Actual value was: {}"  # r2-multipart.c++
UNSUPPORTED_INCLUDE = "Unsupported include value {}"  # r2-bucket.c++


def key(key: str, limits: R2Limits) -> str:
    if len(key.encode("utf-8", "surrogatepass")) > limits.max_key_size_bytes:
        raise InvalidObjectName()
    return key


def value_size(size: int, limits: R2Limits) -> None:
    if size > limits.max_value_size_bytes:
        raise EntityTooLarge()


def _serialised_length(text: str) -> int:
    # Miniflare's serialisedLength (from R2's gateway): UTF-16 code units, doubled if any is >= 256.
    units = len(text.encode("utf-16-le", "surrogatepass")) // 2
    return units * 2 if any(ord(c) >= 256 for c in text) else units


def custom_metadata(metadata: Mapping[str, str] | None, limits: R2Limits) -> dict[str, str]:
    if metadata is None:
        return {}
    total = sum(_serialised_length(k) + _serialised_length(v) for k, v in metadata.items())
    if total > limits.max_metadata_size_bytes:
        raise MetadataTooLarge()
    return dict(metadata)


def checksum(checksums: Mapping[str, bytes | None]) -> tuple[str, bytes] | None:
    """The one checksum put() was given, as (field, digest); workerd's TypeErrors otherwise."""
    given = [(field, digest) for field, digest in checksums.items() if digest is not None]
    if len(given) > 1:
        raise BindingError(MULTIPLE_HASHES, js_name="TypeError")
    if not given:
        return None
    field, digest = given[0]
    if field not in HASHES:
        raise ValueError(f"unknown checksum {field!r}; expected one of {', '.join(HASHES)}")
    name, _, length = HASHES[field]
    if len(digest) != length:
        raise BindingError(f"{name} is {length} bytes, not {len(digest)}", js_name="TypeError")
    return field, bytes(digest)


def list_limit(limit: int | None, include: Iterable[str], limits: R2Limits) -> int:
    """The number of rows a list page may hold (objects and delimited prefixes together)."""
    fields = list(include)
    for field in fields:  # checked by workerd, before R2 sees the limit
        if field not in INCLUDE_FIELDS:
            raise BindingError(UNSUPPORTED_INCLUDE.format(field), js_name="RangeError")
    if limit is None:
        limit = limits.max_list_keys
    elif limit < 1 or limit > limits.max_list_keys:
        raise InvalidMaxKeys()
    return min(limit, limits.max_list_keys_with_include) if fields else limit


def part_number(number: int, limits: R2Limits) -> int:
    if not 1 <= number <= limits.max_part_number:
        raise BindingError(PART_NUMBER.format(number), js_name="TypeError")
    return number
