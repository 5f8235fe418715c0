"""R2Bucket: Cloudflare's R2 binding in Python, over one bucket folder (rows in SQLite, bodies in blob files).

The operations and their results mirror the Workers API (``head``, ``get``, ``put``, ``delete``, ``list``,
``create_multipart_upload``, ``resume_multipart_upload``); ``emulator/runtime/env/r2.py`` translates names for
handlers. Errors are Cloudflare's (contract §4.2): ``R2Error`` subclasses named after the operation, e.g.
``put: The specified object name is not valid. (10020)``, and workerd's client-side ``TypeError``s.

    bucket = await R2Bucket.open(Path(".outbound/r2/assets"))
    await bucket.put("logo.png", png_bytes, http_metadata=R2HTTPMetadata(content_type="image/png"))
    obj = await bucket.get("logo.png", range=R2Range(suffix=100))
    tail = await obj.body.read()

Bodies stream both ways: ``put`` takes bytes or an async iterable of chunks (written to disk as they come,
hashed on the way), and ``get`` answers a reader over files opened at read time.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping, Sequence
from pathlib import Path

from bindings._storage.clock import Clock, SystemClock
from bindings.r2 import multipart, validate
from bindings.r2.conditionals import Etag, R2Conditional
from bindings.r2.errors import R2Error, action
from bindings.r2.limits import R2Limits
from bindings.r2.multipart import R2UploadedPart
from bindings.r2.ranges import R2Range
from bindings.r2.store import (
    DEFAULT_STORAGE_CLASS,
    BodyReader,
    ObjectStore,
    R2HTTPMetadata,
    R2Object,
    R2ObjectBody,
    R2Objects,
    decode_cursor,
)

PutValue = bytes | AsyncIterable[bytes]


class R2Bucket:
    """One R2 bucket. Open with ``R2Bucket.open(folder)`` (None: temporary), close with ``close()``."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store
        self.limits = store.limits

    @classmethod
    async def open(cls, folder: Path | None, *, clock: Clock | None = None, limits: R2Limits | None = None) -> R2Bucket:
        return cls(await ObjectStore.open(folder, clock or SystemClock(), limits or R2Limits()))

    async def close(self) -> None:
        await self._store.close()

    async def head(self, key: str) -> R2Object | None:
        with action("head"):
            row = await self._store.row(validate.key(key, self.limits))
        return None if row is None else row.to_object(whole=True)

    async def get(
        self,
        key: str,
        *,
        range: R2Range | None = None,  # noqa: A002 - Cloudflare's option name
        range_header: str | None = None,
        only_if: R2Conditional | None = None,
    ) -> R2ObjectBody | R2Object | None:
        """None if missing; the object without a body if ``only_if`` fails; else the object and its body.

        ``range_header`` is a ``Range`` header's value (``range: headers`` in JS); it wins over ``range``.
        """
        with action("get"):
            return await self._store.get(validate.key(key, self.limits), range, range_header, only_if)

    async def put(
        self,
        key: str,
        value: PutValue,
        *,
        size: int | None = None,
        http_metadata: R2HTTPMetadata | None = None,
        custom_metadata: Mapping[str, str] | None = None,
        md5: bytes | None = None,
        sha1: bytes | None = None,
        sha256: bytes | None = None,
        sha384: bytes | None = None,
        sha512: bytes | None = None,
        only_if: R2Conditional | None = None,
        storage_class: str | None = None,
    ) -> R2Object | None:
        """Store ``value``; None (nothing stored) if ``only_if`` fails.

        ``size`` is the length a stream promises: checked against the limit before anything is read.
        """
        with action("put"):
            validate.key(key, self.limits)
            checksum = validate.checksum(
                {"md5": md5, "sha1": sha1, "sha256": sha256, "sha384": sha384, "sha512": sha512}
            )
            if isinstance(value, bytes | bytearray | memoryview):
                size = len(value)
            if size is not None:
                validate.value_size(size, self.limits)
            metadata = validate.custom_metadata(custom_metadata, self.limits)
            return await self._store.put(
                key,
                value,
                http_metadata=http_metadata or R2HTTPMetadata(),
                custom_metadata=metadata,
                checksum=checksum,
                only_if=only_if,
                storage_class=storage_class or DEFAULT_STORAGE_CLASS,
            )

    async def delete(self, keys: str | Sequence[str]) -> None:
        """Delete one key or several; missing keys are ignored."""
        with action("delete"):
            keys = [keys] if isinstance(keys, str) else list(keys)
            for key in keys:
                validate.key(key, self.limits)
            await self._store.delete(keys)

    async def list(
        self,
        *,
        prefix: str = "",
        cursor: str | None = None,
        delimiter: str | None = None,
        start_after: str | None = None,
        include: Sequence[str] = (),
        limit: int | None = None,
    ) -> R2Objects:
        """Objects in key order; with ``delimiter``, keys sharing a prefix up to it come back once, as a
        delimited prefix, and count towards ``limit`` like an object."""
        with action("list"):
            rows = validate.list_limit(limit, include, self.limits)
            if cursor is not None:
                after = decode_cursor(cursor)
                if after is None:
                    return R2Objects([], [], truncated=False)  # not a cursor we gave out: nothing follows it
                # The cursor wins when it is further along than startAfter.
                if start_after is None or after > start_after:
                    start_after = after
            return await self._store.list_objects(
                prefix,
                start_after,
                rows,
                delimiter or None,
                include_http="httpMetadata" in include,
                include_custom="customMetadata" in include,
            )

    async def create_multipart_upload(
        self,
        key: str,
        *,
        http_metadata: R2HTTPMetadata | None = None,
        custom_metadata: Mapping[str, str] | None = None,
        storage_class: str | None = None,
    ) -> R2MultipartUpload:
        with action("createMultipartUpload"):
            validate.key(key, self.limits)
            metadata = validate.custom_metadata(custom_metadata, self.limits)
            upload_id = await multipart.create(
                self._store, key, http_metadata or R2HTTPMetadata(), metadata, storage_class or DEFAULT_STORAGE_CLASS
            )
        return R2MultipartUpload(self, key, upload_id)

    def resume_multipart_upload(self, key: str, upload_id: str) -> R2MultipartUpload:
        """An upload by id; nothing is checked until it is used (as in Workers)."""
        return R2MultipartUpload(self, key, upload_id)


class R2MultipartUpload:
    """A multipart upload of ``key``: upload parts (in any order), then complete or abort."""

    def __init__(self, bucket: R2Bucket, key: str, upload_id: str) -> None:
        self.key = key
        self.upload_id = upload_id
        self._bucket = bucket

    async def upload_part(self, part_number: int, value: PutValue, *, size: int | None = None) -> R2UploadedPart:
        limits = self._bucket.limits
        validate.part_number(part_number, limits)
        with action("uploadPart"):
            validate.key(self.key, limits)
            if isinstance(value, bytes | bytearray | memoryview):
                size = len(value)
            if size is not None:
                validate.value_size(size, limits)
            return await multipart.upload_part(self._bucket._store, self.key, self.upload_id, part_number, value)

    async def complete(self, parts: Sequence[R2UploadedPart]) -> R2Object:
        """The object made of ``parts`` (sorted by part number; the order given matters for errors only)."""
        for part in parts:
            validate.part_number(part.part_number, self._bucket.limits)
        with action("completeMultipartUpload"):
            validate.key(self.key, self._bucket.limits)
            return await multipart.complete(self._bucket._store, self.key, self.upload_id, parts)

    async def abort(self) -> None:
        """Discard the parts; aborting again, or after complete(), does nothing."""
        with action("abortMultipartUpload"):
            validate.key(self.key, self._bucket.limits)
            await multipart.abort(self._bucket._store, self.key, self.upload_id)


__all__ = [
    "BodyReader",
    "Etag",
    "PutValue",
    "R2Bucket",
    "R2Conditional",
    "R2Error",
    "R2HTTPMetadata",
    "R2Limits",
    "R2MultipartUpload",
    "R2Object",
    "R2ObjectBody",
    "R2Objects",
    "R2Range",
    "R2UploadedPart",
]
