"""R2's limits as one frozen dataclass (Miniflare's ``R2Limits`` in ``workers/r2/constants.ts``).

Tests lower the minimum multipart part size to 50 bytes, as Miniflare's ``beingTested`` does, so that no test
uploads 5 MiB parts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

MIB = 1024 * 1024


@dataclass(frozen=True)
class R2Limits:
    max_key_size_bytes: int = 1024  # UTF-8 bytes; longer → 10020
    max_value_size_bytes: int = 5 * 1024 * MIB - 5 * MIB  # one put: 5 GiB - 5 MiB; larger → 100100
    max_metadata_size_bytes: int = 2048  # customMetadata, counted as Miniflare's serialisedLength
    max_list_keys: int = 1000  # list limit is 1..1000; outside → 10022
    max_list_keys_with_include: int = 100  # "may return fewer" when metadata is included (Miniflare: 100)
    min_multipart_part_size_bytes: int = 5 * MIB  # every part but the last; smaller → 10011
    max_part_number: int = 10_000  # workerd r2-multipart.c++

    @classmethod
    def for_tests(cls) -> R2Limits:
        """Cloudflare's limits with Miniflare's test-sized minimum part (MIN_MULTIPART_PART_SIZE_TEST)."""
        return replace(cls(), min_multipart_part_size_bytes=50)
