"""KV's input checks, raising what a Worker sees on Cloudflare, verbatim (contract §4.1).

Two sources, two shapes. workerd checks a single-key call's key before it sends anything
(``src/workerd/api/kv.c++`` ``validateKeyName``): ``TypeError: Key name cannot be empty.`` and friends. Everything
else is the KV service answering with an HTTP error, which workerd turns into
``Error: KV <METHOD> failed: <status> <statusText>`` (``checkForErrorStatus``); Miniflare puts its message in the
status text (``src/workers/kv/validator.worker.ts``, ``namespace.worker.ts``). METHOD is GET, GET_BULK, PUT or
DELETE; list() reports as GET. Checks run in the order workerd and Miniflare run them.
"""

from __future__ import annotations

from collections.abc import Sequence

from bindings.errors import BindingError
from bindings.kv.limits import MIB, KVLimits

# workerd kv.c++ validateKeyName: thrown before any request is made.
KEY_EMPTY = "Key name cannot be empty."
KEY_DOT = '"." is not allowed as a key name.'
KEY_DOT_DOT = '".." is not allowed as a key name.'
# Miniflare validator.worker.ts validateKey: what the service says when workerd did not check first (bulk get).
BULK_KEY_EMPTY = "Key names must not be empty"
# Miniflare namespace.worker.ts, bulk get.
BULK_MIN_KEYS = "You must request a minimum of 1 key"
BULK_NOT_JSON = "At least one of the requested keys corresponds to a non-json value"
BULK_TYPES = ("text", "json")


# Local only (Cloudflare's KV is never full): HTTP's status for a store out of space (RFC 4918 §11.5), with the
# StorageFull text as status text, as Miniflare puts its messages there.
INSUFFICIENT_STORAGE = 507


def failed(method: str, status: int, text: str) -> BindingError:
    """workerd's ``checkForErrorStatus``: ``KV <METHOD> failed: <status> <statusText>``, a plain Error."""
    return BindingError(f"KV {method} failed: {status} {text}")


def well_formed(text: str) -> str:
    """``text`` as workerd holds a JS string in C++ (``kj::String``, UTF-8): lone surrogates become U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def validate_key(key: str, method: str, limits: KVLimits) -> None:
    """workerd's client-side key check for get/getWithMetadata (GET), put (PUT) and delete (DELETE)."""
    if key == "":
        raise BindingError(KEY_EMPTY, js_name="TypeError")
    if key == ".":
        raise BindingError(KEY_DOT, js_name="TypeError")
    if key == "..":
        raise BindingError(KEY_DOT_DOT, js_name="TypeError")
    validate_key_length(key, method, limits)


def validate_key_length(key: str, method: str, limits: KVLimits) -> None:
    length = len(key.encode("utf-8"))
    if length > limits.max_key_size_bytes:
        raise failed(
            method,
            414,
            f"UTF-8 encoded length of {length} exceeds key length limit of {limits.max_key_size_bytes}.",
        )


def validate_cache_ttl(cache_ttl: int | None, method: str, limits: KVLimits) -> None:
    """cacheTtl is checked and otherwise ignored: locally there is one edge location (Miniflare)."""
    if cache_ttl is not None and cache_ttl < limits.min_cache_ttl_seconds:
        raise failed(
            method,
            400,
            f"Invalid cache_ttl of {cache_ttl}. Cache TTL must be at least {limits.min_cache_ttl_seconds}.",
        )


def validate_bulk_request(keys: Sequence[str], value_type: str | None, limits: KVLimits) -> None:
    """Miniflare's bulk get checks, in its order: the type, then the key count."""
    if value_type and value_type not in BULK_TYPES:
        raise failed("GET_BULK", 400, f'"{value_type}" is not a valid type. Use "json" or "text"')
    if len(keys) > limits.max_bulk_keys:
        raise failed("GET_BULK", 400, f"You can request a maximum of {limits.max_bulk_keys} keys")
    if len(keys) < 1:
        raise failed("GET_BULK", 400, BULK_MIN_KEYS)


def validate_bulk_key(key: str, cache_ttl: int | None, limits: KVLimits) -> None:
    """One key of a bulk get, checked by the service (workerd sends bulk keys unchecked)."""
    if key == "":
        raise failed("GET_BULK", 400, BULK_KEY_EMPTY)
    if key in (".", ".."):
        raise failed("GET_BULK", 400, f'Illegal key name "{key}". Please use a different name.')
    validate_key_length(key, "GET_BULK", limits)
    validate_cache_ttl(cache_ttl, "GET_BULK", limits)


def bulk_too_large(limits: KVLimits) -> BindingError:
    # Miniflare divides the limit in bytes by 1024 twice and prints the JS number: 25 MiB is "25MB".
    return failed(
        "GET_BULK", 413, f"Total size of request exceeds the limit of {_js_number(limits.max_bulk_size_bytes / MIB)}MB"
    )


def expiration_seconds(
    now_seconds: int, expiration: int | None, expiration_ttl: int | None, limits: KVLimits
) -> int | None:
    """When a put value expires (seconds since the epoch), or None; expirationTtl wins over expiration."""
    minimum = limits.min_expiration_ttl_seconds
    if expiration_ttl is not None:
        if expiration_ttl <= 0:
            raise failed(
                "PUT", 400, f"Invalid expiration_ttl of {expiration_ttl}. Please specify integer greater than 0."
            )
        if expiration_ttl < minimum:
            raise failed(
                "PUT", 400, f"Invalid expiration_ttl of {expiration_ttl}. Expiration TTL must be at least {minimum}."
            )
        return now_seconds + expiration_ttl
    if expiration is not None:
        if expiration <= now_seconds:
            raise failed(
                "PUT",
                400,
                f"Invalid expiration of {expiration}. Please specify integer greater than the current number of"
                " seconds since the UNIX epoch.",
            )
        if expiration < now_seconds + minimum:
            raise failed(
                "PUT",
                400,
                f"Invalid expiration of {expiration}. Expiration times must be at least {minimum} seconds in the"
                " future.",
            )
        return expiration
    return None


def validate_metadata(metadata_json: str | None, limits: KVLimits) -> None:
    if metadata_json is None:
        return
    length = len(metadata_json.encode("utf-8"))
    if length > limits.max_metadata_size_bytes:
        raise failed("PUT", 413, f"Metadata length of {length} exceeds limit of {limits.max_metadata_size_bytes}.")


def value_too_large(length: int, limits: KVLimits) -> BindingError:
    return failed("PUT", 413, f"Value length of {length} exceeds limit of {limits.max_value_size_bytes}.")


def list_limit(limit: int | None, limits: KVLimits) -> int:
    """list()'s page size. workerd sends a limit only when it is above 0, so a Worker never sees the first error."""
    if limit is None:
        return limits.max_list_keys
    if limit < 1:
        raise failed("GET", 400, f"Invalid key_count_limit of {limit}. Please specify an integer greater than 0.")
    if limit > limits.max_list_keys:
        raise failed(
            "GET",
            400,
            f"Invalid key_count_limit of {limit}. Please specify an integer less than {limits.max_list_keys}.",
        )
    return limit


def _js_number(value: float) -> str:
    """A number as JavaScript prints it, for the values a limit can give (integers and short fractions)."""
    return str(int(value)) if value.is_integer() else repr(value)
