"""Multipart uploads: create, upload parts, complete into one object, or abort (Miniflare's bucket.worker.ts).

An upload is a row that outlives its end (state 0 in progress, 1 completed, 2 aborted), so that errors can
tell a finished upload (10024) from one that never existed (10001). Each part is a blob; uploading a part
number again replaces it under a new etag, so the old etag no longer completes (10025). Completing links the
chosen parts to the object (``object_key``) instead of copying them, and deletes the parts not chosen; reads
assemble the body from the linked parts. Overwriting or deleting the key deletes its parts; parts of
uploads still in progress are never touched by put or delete, and head/get/list do not see them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from base64 import urlsafe_b64encode
from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass

from bindings._storage.blobs import WrittenBlob
from bindings.r2.errors import BadUpload, EntityTooSmall, InternalError, InvalidPart, NoSuchUpload
from bindings.r2.store import ObjectRow, ObjectStore, R2HTTPMetadata, R2Object, new_version

IN_PROGRESS, COMPLETED, ABORTED = 0, 1, 2


@dataclass(frozen=True)
class R2UploadedPart:
    """What uploadPart returns and complete takes."""

    part_number: int
    etag: str


def _new_id() -> str:
    # Miniflare's generateId: 128 random bytes, base64url without padding. Used for upload ids and part etags.
    return urlsafe_b64encode(secrets.token_bytes(128)).rstrip(b"=").decode("ascii")


def _multipart_etag(md5_hexes: Sequence[str]) -> str:
    # The S3 convention: MD5 of the parts' binary MD5s, then "-<number of parts>".
    digest = hashlib.md5(b"".join(bytes.fromhex(h) for h in md5_hexes)).hexdigest()
    return f"{digest}-{len(md5_hexes)}"


async def create(
    store: ObjectStore,
    key: str,
    http_metadata: R2HTTPMetadata,
    custom_metadata: dict[str, str],
    storage_class: str,
) -> str:
    upload_id = _new_id()
    async with store.lock:
        await store.db.execute(
            "INSERT INTO _mf_multipart_uploads (upload_id, key, http_metadata, custom_metadata, storage_class)"
            " VALUES (?, ?, ?, ?, ?)",
            (upload_id, key, json.dumps(http_metadata.to_json()), json.dumps(custom_metadata), storage_class),
        )
    return upload_id


async def upload_part(
    store: ObjectStore, key: str, upload_id: str, part_number: int, value: bytes | AsyncIterable[bytes]
) -> R2UploadedPart:
    blob = await store.write_blob(value, ["md5"], store.limits.max_value_size_bytes)
    # Shielded, as ObjectStore.put: a cancelled caller must not delete the blob of a part row that committed.
    return await asyncio.shield(_link_part(store, key, upload_id, part_number, blob))


async def _link_part(
    store: ObjectStore, key: str, upload_id: str, part_number: int, blob: WrittenBlob
) -> R2UploadedPart:
    etag = _new_id()
    try:
        async with store.lock, store.db.transaction():
            state = await store.db.fetchone(
                "SELECT state FROM _mf_multipart_uploads WHERE upload_id = ? AND key = ?", (upload_id, key)
            )
            if state is None or state[0] != IN_PROGRESS:
                raise NoSuchUpload()
            previous = await store.db.fetchone(
                "SELECT blob_id FROM _mf_multipart_parts WHERE upload_id = ? AND part_number = ?",
                (upload_id, part_number),
            )
            await store.db.execute(
                "INSERT OR REPLACE INTO _mf_multipart_parts"
                " (upload_id, part_number, blob_id, size, etag, checksum_md5) VALUES (?, ?, ?, ?, ?, ?)",
                (upload_id, part_number, blob.id, blob.size, etag, blob.digests["md5"].hex()),
            )
    except BaseException:
        store.blobs.delete([blob.id])
        raise
    if previous is not None:
        store.blobs.delete([previous[0]])
    return R2UploadedPart(part_number, etag)


async def complete(store: ObjectStore, key: str, upload_id: str, chosen: Sequence[R2UploadedPart]) -> R2Object:
    async with store.lock:
        async with store.db.transaction():
            # 1. The upload exists for this key and is still in progress.
            upload = await store.db.fetchone(
                "SELECT http_metadata, custom_metadata, state, storage_class FROM _mf_multipart_uploads"
                " WHERE upload_id = ? AND key = ?",
                (upload_id, key),
            )
            if upload is None:
                raise InternalError()
            http_metadata, custom_metadata, state, storage_class = upload
            if state != IN_PROGRESS:
                raise NoSuchUpload()
            # 2. No part number is given twice.
            numbers = [part.part_number for part in chosen]
            if len(set(numbers)) != len(numbers):
                raise InternalError()
            # 3. Every part given was uploaded with that etag (and not replaced since).
            uploaded = {
                number: (size, etag, md5)
                for number, size, etag, md5 in await store.db.fetchall(
                    "SELECT part_number, size, etag, checksum_md5 FROM _mf_multipart_parts WHERE upload_id = ?",
                    (upload_id,),
                )
            }
            parts = []
            for part in chosen:
                found = uploaded.get(part.part_number)
                if found is None or found[1] != part.etag:
                    raise InvalidPart()
                parts.append((part.part_number, found[0], found[2]))
            # 4. Sizes, as R2 checks them: first in the order given, every part but the last at least the
            #    minimum (10011); then in part-number order, all but the last equal (and still at least the
            #    minimum) and the last no larger (10048).
            minimum = store.limits.min_multipart_part_size_bytes
            if any(size < minimum for _, size, _ in parts[:-1]):
                raise EntityTooSmall()
            parts.sort()
            if len(parts) > 1:
                part_size = parts[0][1]
                if any(size < minimum or size != part_size for _, size, _ in parts[:-1]):
                    raise BadUpload()
                if parts[-1][1] > part_size:
                    raise BadUpload()
            # 5. Replace whatever the key held, and link the chosen parts to the new object.
            row = ObjectRow(
                key=key,
                blob_id=None,
                version=new_version(),
                size=sum(size for _, size, _ in parts),
                etag=_multipart_etag([md5 for _, _, md5 in parts]),
                uploaded_ms=store.clock.now_ms(),
                checksums="{}",
                http_metadata=http_metadata,
                custom_metadata=custom_metadata,
                storage_class=storage_class,
            )
            old = await store.replace_object(row)
            for number, _, _ in parts:
                await store.db.execute(
                    "UPDATE _mf_multipart_parts SET object_key = ? WHERE upload_id = ? AND part_number = ?",
                    (key, upload_id, number),
                )
            # 6. Parts uploaded but not chosen go, and the upload is done.
            unused = await store.db.fetchall(
                "DELETE FROM _mf_multipart_parts WHERE upload_id = ? AND object_key IS NULL RETURNING blob_id",
                (upload_id,),
            )
            old += [blob_id for (blob_id,) in unused]
            await store.db.execute(
                "UPDATE _mf_multipart_uploads SET state = ? WHERE upload_id = ?", (COMPLETED, upload_id)
            )
        store.blobs.delete(old)
    return row.to_object()


async def abort(store: ObjectStore, key: str, upload_id: str) -> None:
    async with store.lock:
        async with store.db.transaction():
            state = await store.db.fetchone(
                "SELECT state FROM _mf_multipart_uploads WHERE upload_id = ? AND key = ?", (upload_id, key)
            )
            if state is None:
                raise InternalError()
            if state[0] != IN_PROGRESS:
                return  # aborting twice, or after complete(), changes nothing (and keeps the object's parts)
            parts = await store.db.fetchall(
                "DELETE FROM _mf_multipart_parts WHERE upload_id = ? RETURNING blob_id", (upload_id,)
            )
            await store.db.execute(
                "UPDATE _mf_multipart_uploads SET state = ? WHERE upload_id = ?", (ABORTED, upload_id)
            )
        store.blobs.delete([blob_id for (blob_id,) in parts])
