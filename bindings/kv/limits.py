"""Workers KV's limits (contract §4.1), as one frozen value a namespace is opened with.

The numbers are Cloudflare's (https://developers.cloudflare.com/kv/platform/limits, and Miniflare's
``src/workers/kv/constants.ts`` ``KVLimits`` / ``MAX_BULK_GET_KEYS``). Tests scale the two size limits
down as Miniflare's ``beingTested`` does, so no test writes 25 MiB.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

MIB = 1024 * 1024


@dataclass(frozen=True)
class KVLimits:
    max_key_size_bytes: int = 512  # UTF-8 bytes; workerd's kMaxKeyLength
    max_value_size_bytes: int = 25 * MIB
    max_metadata_size_bytes: int = 1024  # UTF-8 bytes of JSON.stringify(metadata)
    max_bulk_size_bytes: int = 25 * MIB  # Miniflare counts the decoded values' UTF-16 length against it
    max_bulk_keys: int = 100
    max_list_keys: int = 1000  # also list()'s default limit
    min_cache_ttl_seconds: int = 30
    min_expiration_ttl_seconds: int = 60  # for expirationTtl, and how far ahead an expiration must be

    @classmethod
    def for_tests(cls) -> KVLimits:
        """Miniflare's ``beingTested`` limits: values and bulk reads of at most 1 KiB."""
        return replace(cls(), max_value_size_bytes=1024, max_bulk_size_bytes=1024)
