"""A handler's answer as the mitmproxy response the sandbox gets (emulator/addons/convert.py)."""

from __future__ import annotations

import gzip

from emulator.addons.convert import make_response


def test_a_handler_body_is_sent_as_it_is_whatever_its_content_encoding() -> None:
    # mitmproxy's content setter would gzip an already gzipped body again (the sandbox then unzips one layer and
    # reads gzip), and drop a Content-Encoding it does not know.
    body = gzip.compress(b"hello")
    response = make_response(200, "", [("content-encoding", "gzip"), ("content-length", "999")], body)
    assert response.raw_content == body
    assert response.headers.fields == ((b"content-encoding", b"gzip"), (b"content-length", str(len(body)).encode()))
    unknown = make_response(520, "Odd", [("content-encoding", "compress")], b"xyz")
    assert (unknown.status_code, unknown.reason, unknown.raw_content) == (520, "Odd", b"xyz")
    assert unknown.headers.fields == ((b"content-encoding", b"compress"), (b"content-length", b"3"))
