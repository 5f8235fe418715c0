"""The pure parts of addons/deadlines.py; the deadlines themselves are tried end to end in
tests/faults/test_floods.py."""

from __future__ import annotations

import resource

import pytest

from emulator.addons.deadlines import _request_line, raise_descriptor_limit


def test_the_open_files_limit_is_raised_to_the_hard_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
    try:
        assert raise_descriptor_limit() == (hard, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        (b"GET http://a.test/x HTTP/1.1\r\nHost: a", ("GET", "http://a.test/x")),
        (b"POST /upload HTTP/1.1\r\n", ("POST", "/upload")),
        (b"GET http://a.test/x HTT", ("", "")),  # the request line is not whole yet
        (b"\x16\x03\x01\x02\x00\x01", ("", "")),  # a ClientHello
        (b"G E T / HTTP/1.1\r\n", ("", "")),  # not a request line
    ],
)
def test_an_incomplete_heads_request_line_is_read_when_whole(first: bytes, expected: tuple[str, str]) -> None:
    assert _request_line(first) == expected
