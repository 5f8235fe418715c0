"""The JS runtime's R2 calls (js/bindings/r2.js), served by ``bindings.r2.R2Bucket``.

Arguments arrive as JSON with Cloudflare's option names; results go back as JSON, so no Python ``str`` ever
reaches JS (runtime-notes §1.7). Objects travel as ``{key, version, size, etag, uploaded, httpMetadata,
customMetadata, checksums, storageClass, range?}`` with times in milliseconds.

Bodies: a put or uploadPart value up to ``js/bindings/r2.js``'s inline size comes as the call's own bytes;
a larger one (or any stream) is pushed chunk by chunk into an upload (``streams.open_upload``), and the
operation's reply comes with ``finish``. A get body up to ``INLINE_BODY_BYTES`` comes back in the reply;
a larger one is a reader JS pulls from (``streams.open``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from bindings import BindingError
from bindings.r2 import R2Bucket, R2Conditional, R2HTTPMetadata, R2Object, R2ObjectBody, R2Range, R2UploadedPart
from bindings.r2.conditionals import Etag
from emulator.runtime.env.streams import StreamTable

INLINE_BODY_BYTES = 64 * 1024
UPLOAD_OPERATIONS = ("write", "finish", "abort")

Reply = tuple[Any, bytes]
Operation = Callable[[R2Bucket, dict[str, Any], bytes, StreamTable], Awaitable[Reply]]


async def serve(
    binding: Any, operation: str, arguments: dict[str, Any], body: bytes, streams: StreamTable
) -> tuple[Any, bytes]:
    if operation in UPLOAD_OPERATIONS and "u" in arguments:
        return await streams.serve(operation, arguments, body)
    handler = OPERATIONS.get(operation)
    if handler is None:
        raise BindingError(f"R2Bucket has no operation {operation!r}")
    result: tuple[Any, bytes] = await handler(binding, arguments, body, streams)
    return result


# -- operations ------------------------------------------------------------------------------------------


async def _head(bucket: R2Bucket, args: dict[str, Any], _: bytes, __: StreamTable) -> Reply:
    return {"o": _object(await bucket.head(args["k"]))}, b""


async def _get(bucket: R2Bucket, args: dict[str, Any], _: bytes, streams: StreamTable) -> Reply:
    found = await bucket.get(
        args["k"],
        range=_range(args.get("r")),
        range_header=args.get("rh"),
        only_if=_conditional(args.get("c")),
    )
    if not isinstance(found, R2ObjectBody):
        return {"o": _object(found)}, b""  # missing, or onlyIf failed (no body)
    if found.body.size <= INLINE_BODY_BYTES:
        return {"o": _object(found), "b": 1}, await found.body.read()
    return {"o": _object(found), "s": streams.open(found.body)}, b""


async def _put(bucket: R2Bucket, args: dict[str, Any], body: bytes, streams: StreamTable) -> Reply:
    checksums: dict[str, bytes] = {}
    if args.get("ck") is not None:
        field, hex_digest = args["ck"]
        checksums[field] = bytes.fromhex(hex_digest)

    async def put(value: bytes | AsyncIterator[bytes]) -> Reply:
        stored = await bucket.put(
            args["k"],
            value,
            size=args.get("size"),
            http_metadata=_http_metadata(args.get("hm")),
            custom_metadata=args.get("cm"),
            only_if=_conditional(args.get("c")),
            storage_class=args.get("sc"),
            **checksums,
        )
        return {"o": _object(stored)}, b""

    if args.get("u"):
        return {"u": streams.open_upload(put)}, b""
    return await put(body)


async def _delete(bucket: R2Bucket, args: dict[str, Any], _: bytes, __: StreamTable) -> Reply:
    await bucket.delete(args["k"])
    return None, b""


async def _list(bucket: R2Bucket, args: dict[str, Any], _: bytes, __: StreamTable) -> Reply:
    page = await bucket.list(
        prefix=args.get("prefix") or "",
        cursor=args.get("cursor"),
        delimiter=args.get("delimiter"),
        start_after=args.get("startAfter"),
        include=args.get("include") or (),
        limit=args.get("limit"),
    )
    result: dict[str, Any] = {
        "objects": [_object(obj) for obj in page.objects],
        "truncated": page.truncated,
        "delimitedPrefixes": page.delimited_prefixes,
    }
    if page.cursor is not None:
        result["cursor"] = page.cursor
    return result, b""


async def _create_multipart_upload(bucket: R2Bucket, args: dict[str, Any], _: bytes, __: StreamTable) -> Reply:
    upload = await bucket.create_multipart_upload(
        args["k"],
        http_metadata=_http_metadata(args.get("hm")),
        custom_metadata=args.get("cm"),
        storage_class=args.get("sc"),
    )
    return {"uploadId": upload.upload_id}, b""


async def _upload_part(bucket: R2Bucket, args: dict[str, Any], body: bytes, streams: StreamTable) -> Reply:
    upload = bucket.resume_multipart_upload(args["k"], args["id"])

    async def upload_part(value: bytes | AsyncIterator[bytes]) -> Reply:
        part = await upload.upload_part(int(args["n"]), value, size=args.get("size"))
        return {"etag": part.etag}, b""

    if args.get("u"):
        return {"u": streams.open_upload(upload_part)}, b""
    return await upload_part(body)


async def _complete(bucket: R2Bucket, args: dict[str, Any], _: bytes, __: StreamTable) -> Reply:
    upload = bucket.resume_multipart_upload(args["k"], args["id"])
    parts = [R2UploadedPart(int(number), str(etag)) for number, etag in args["parts"]]
    return {"o": _object(await upload.complete(parts))}, b""


async def _abort(bucket: R2Bucket, args: dict[str, Any], _: bytes, __: StreamTable) -> Reply:
    await bucket.resume_multipart_upload(args["k"], args["id"]).abort()
    return None, b""


OPERATIONS: dict[str, Operation] = {
    "head": _head,
    "get": _get,
    "put": _put,
    "delete": _delete,
    "list": _list,
    "createMultipartUpload": _create_multipart_upload,
    "uploadPart": _upload_part,
    "completeMultipartUpload": _complete,
    "abortMultipartUpload": _abort,
}


# -- JSON ⇄ bindings values ------------------------------------------------------------------------------


def _object(obj: R2Object | None) -> dict[str, Any] | None:
    if obj is None:
        return None
    out: dict[str, Any] = {
        "key": obj.key,
        "version": obj.version,
        "size": obj.size,
        "etag": obj.etag,
        "uploaded": obj.uploaded_ms,
        "httpMetadata": obj.http_metadata.to_json(),
        "customMetadata": dict(obj.custom_metadata),
        "checksums": dict(obj.checksums),
        "storageClass": obj.storage_class,
    }
    if obj.range is not None:
        out["range"] = {"offset": obj.range.offset, "length": obj.range.length}
    return out


def _http_metadata(fields: dict[str, Any] | None) -> R2HTTPMetadata | None:
    return None if fields is None else R2HTTPMetadata.from_json(fields)


def _range(fields: dict[str, Any] | None) -> R2Range | None:
    if fields is None:
        return None
    return R2Range(offset=fields.get("offset"), length=fields.get("length"), suffix=fields.get("suffix"))


def _conditional(fields: dict[str, Any] | None) -> R2Conditional | None:
    """``{headers: {…}}`` from ``onlyIf: Headers``, else an R2Conditional's fields (dates in ms)."""
    if fields is None:
        return None
    headers = fields.get("headers")
    if headers is not None:
        return R2Conditional.from_headers(
            if_match=headers.get("ifMatch"),
            if_none_match=headers.get("ifNoneMatch"),
            if_modified_since_ms=headers.get("ifModifiedSince"),
            if_unmodified_since_ms=headers.get("ifUnmodifiedSince"),
        )
    matches, none_match = fields.get("etagMatches"), fields.get("etagDoesNotMatch")
    return R2Conditional(
        etag_matches=None if matches is None else Etag.from_option(matches),
        etag_does_not_match=None if none_match is None else Etag.from_option(none_match),
        uploaded_before_ms=fields.get("uploadedBefore"),
        uploaded_after_ms=fields.get("uploadedAfter"),
        seconds_granularity=bool(fields.get("secondsGranularity")),
    )
