"""R2's errors, one class per v4code, with the production messages Miniflare reproduces (errors.worker.ts).

A handler sees them as workerd throws them (r2-rpc.c++ ``throwIfError``): a plain ``Error`` whose message is
``<action>: <message> (<v4code>)``, e.g. ``get: The requested range is not satisfiable (10039)``. The store
raises them without an action; ``R2Bucket`` names the operation once, at its boundary (``action``).

R2Error                 base: status, v4code, message
├── InternalError       10001  also what an unknown upload id gives complete() and abort()
│   └── DiskFull        10001  local only: the disk holding the bucket is full (R2 itself never is)
├── NoSuchKey           10007  head/get answer null and delete ignores it, so handlers never see it
├── EntityTooSmall      10011  a multipart part other than the last is below the minimum part size
├── MetadataTooLarge    10012  customMetadata above 2048 (serialised length)
├── InvalidObjectName   10020  key above 1024 UTF-8 bytes
├── InvalidMaxKeys      10022  list limit outside 1..1000
├── NoSuchUpload        10024  upload completed or aborted (or another key's, for uploadPart)
├── InvalidPart         10025  a part number / etag pair that was not uploaded (or was replaced)
├── PreconditionFailed  10031  onlyIf did not hold: get answers the object without a body, put answers null
├── BadDigest           10037  the md5/sha* given to put does not match the body
├── InvalidRange        10039  a range object outside the object
├── BadUpload           10048  parts of unequal size, or a last part larger than the others
└── EntityTooLarge      100100 a single put above 5 GiB - 5 MiB
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

from bindings.errors import BindingError, StorageFull


class R2Error(BindingError):
    """An R2 operation failed as R2 fails it; ``str()`` is what the handler's ``Error`` says."""

    status: ClassVar[int] = 500
    v4code: ClassVar[int] = 10001
    text: ClassVar[str] = ""

    def __init__(self, detail: str | None = None, *, action: str = "") -> None:
        self.detail = self.text if detail is None else detail
        self.action = action
        super().__init__(self._render(), js_name="Error")

    def _render(self) -> str:
        prefix = f"{self.action}: " if self.action else ""
        return f"{prefix}{self.detail} ({self.v4code})"

    def __str__(self) -> str:
        return self._render()


@contextmanager
def action(name: str) -> Iterator[None]:
    """Name the operation in any R2Error raised inside (workerd adds it client side)."""
    try:
        yield
    except R2Error as error:
        if not error.action:
            error.action = name
            error.args = (error._render(),)
        raise
    except StorageFull as error:
        raise DiskFull(str(error), action=name) from error


class InternalError(R2Error):
    """An unknown upload id given to complete() or abort(), or a part number given twice to complete()."""

    status, v4code, text = 500, 10001, "We encountered an internal error. Please try again."


class DiskFull(InternalError):
    """The bucket's disk is full: R2's internal-error shape, with words saying so and what to do instead of
    R2's "Please try again" (contract §4.2 has no such error; a handler can still catch it by its 10001)."""


class NoSuchKey(R2Error):
    """The key does not exist."""

    status, v4code, text = 404, 10007, "The specified key does not exist."


class EntityTooSmall(R2Error):
    """A part other than the last (in the order complete() was given them) is below the minimum size."""

    status, v4code, text = 400, 10011, "Your proposed upload is smaller than the minimum allowed object size."


class MetadataTooLarge(R2Error):
    """customMetadata is larger than the limit."""

    status, v4code, text = 400, 10012, "Your metadata headers exceed the maximum allowed metadata size."


class InvalidObjectName(R2Error):
    """The key is longer than the limit (UTF-8 bytes)."""

    status, v4code, text = 400, 10020, "The specified object name is not valid."


class InvalidMaxKeys(R2Error):
    """list() was given a limit outside 1..1000."""

    status, v4code, text = 400, 10022, "MaxKeys params must be positive integer <= 1000."


class NoSuchUpload(R2Error):
    """The multipart upload was completed or aborted (or, for uploadPart, does not exist for this key)."""

    status, v4code, text = 400, 10024, "The specified multipart upload does not exist."


class InvalidPart(R2Error):
    """complete() named a part number and etag that were not uploaded, or were replaced since."""

    status, v4code, text = 400, 10025, "One or more of the specified parts could not be found."


class PreconditionFailed(R2Error):
    """onlyIf did not hold."""

    status, v4code, text = 412, 10031, "At least one of the pre-conditions you specified did not hold."


class BadDigest(R2Error):
    """The checksum given to put() does not match the bytes received."""

    status, v4code = 400, 10037

    def __init__(self, algorithm: str, provided: bytes, actual: bytes) -> None:
        super().__init__(
            f"The {algorithm} checksum you specified did not match what we received.\n"
            f"You provided a {algorithm} checksum with value: {provided.hex()}\n"
            f"Actual {algorithm} was: {actual.hex()}"
        )


class InvalidRange(R2Error):
    """The range lies outside the object, or asks for no bytes."""

    status, v4code, text = 416, 10039, "The requested range is not satisfiable"


class BadUpload(R2Error):
    """The parts (in part-number order) are not all the same size, or the last is larger than the others."""

    status, v4code, text = 500, 10048, "There was a problem with the multipart upload."


class EntityTooLarge(R2Error):
    """A single put is larger than the limit."""

    status, v4code, text = 400, 100100, "Your proposed upload exceeds the maximum allowed object size."
