"""A mitmproxy flow as the emulator's SandboxRequest, and the handler's answer back as a mitmproxy response.

The only module that knows both sides. The URL a handler sees follows contract §2.2: an origin-form request
becomes ``scheme://`` + its Host header (else the destination ``ip:port``) + path; an absolute-form request
(explicit proxy) keeps its URL.
"""

from __future__ import annotations

from dataclasses import dataclass

import ada_url
from mitmproxy import http

from emulator.decide import Destination
from emulator.exchange import SandboxRequest
from emulator.hosts import DEFAULT_PORTS, ip_literal, normalize_hostname


def destination(flow: http.HTTPFlow) -> Destination:
    """Where the sandbox's connection went, as the interception layer sees it."""
    client = flow.client_conn
    scheme = "https" if client.tls_established else "http"
    if flow.client_conn.proxy_mode.type_name == "transparent" and client.sockname:
        address, port = client.sockname[0], client.sockname[1]
    else:
        address, port = flow.request.host, flow.request.port
    hint = client.sni if scheme == "https" else flow.request.host_header
    return Destination(scheme=scheme, port=port, hint=hint or None, ip=ip_literal(address))  # type: ignore[arg-type]


def handler_url(flow: http.HTTPFlow, scheme: str) -> str:
    request = flow.request
    # HTTP/1 absolute-form (an explicit proxy's plain HTTP) keeps its URL; HTTP/2's :authority reads as
    # "absolute" to mitmproxy but is the Host header's counterpart (host_header returns it).
    if request.first_line_format == "absolute" and not request.is_http2:
        return request.url
    host = request.host_header
    if not host:
        address = flow.client_conn.sockname
        host = _authority(address[0], address[1], scheme) if address else request.host
    return f"{scheme}://{host}{request.path}"


def _authority(ip: str, port: int, scheme: str) -> str:
    host = f"[{ip}]" if ":" in ip else ip
    return host if DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"


@dataclass(frozen=True)
class Target:
    """What the decision needs, read once from the request's headers."""

    destination: Destination
    url: str  # as the handler sees it
    hostname: str | None  # normalised, as ContainerProxy compares it; None when the URL is not valid
    port: int  # the URL's port


def target_of(flow: http.HTTPFlow) -> Target:
    where = destination(flow)
    url = handler_url(flow, where.scheme)
    try:
        parsed = ada_url.URL(url)
    except ValueError:
        return Target(where, url, None, where.port)
    port = int(parsed.port) if parsed.port else DEFAULT_PORTS[where.scheme]
    return Target(where, url, normalize_hostname(parsed.hostname), port)


def sandbox_request(flow: http.HTTPFlow, target: Target | None = None) -> SandboxRequest:
    target = target or target_of(flow)
    url, hostname = target.url, target.hostname
    headers = tuple(
        (name.decode("latin-1"), value.decode("utf-8", "replace")) for name, value in flow.request.headers.fields
    )
    body = flow.request.raw_content if flow.request.raw_content else None
    return SandboxRequest(
        method=flow.request.method,
        url=url,
        headers=headers,
        body=body,
        destination=target.destination,
        dial_url=flow.request.url,
        hostname=hostname,
    )


def make_response(status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> http.Response:
    """A response with ``body`` sent as it is. The body is already as its Content-Encoding says: mitmproxy's
    ``content`` setter (which ``Response.make`` uses) would encode a gzip body a second time, and drop a
    Content-Encoding it does not know."""
    response = http.Response.make(status)
    response.headers = http.Headers([(n.encode("latin-1"), v.encode()) for n, v in headers])
    response.raw_content = body
    if "transfer-encoding" not in response.headers:
        response.headers["content-length"] = str(len(body))
    if reason:
        response.reason = reason
    return response
