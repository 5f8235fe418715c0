"""TLS from sandboxes: decrypt only what production intercepts, with that sandbox's own CA.

At the ClientHello the interception layer's rule applies (decide.route): HTTPS on 443 with an SNI, when the
class has ``interceptHttps`` and its interception mode covers the name. Everything else passes through as
bytes (refused instead when ``enableInternet`` is off); TLS without SNI is never decrypted (contract §3). Each
connection passed through or refused here is one audit record (addons/audit.py). The leaf for an SNI comes
from the sandbox's CA (ca.py), so a sandbox trusts only its own interception.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from mitmproxy import certs
from mitmproxy.proxy import context
from mitmproxy.tls import ClientHelloData

from emulator.addons.audit import Audit
from emulator.addons.state import Connections
from emulator.ca import SandboxCA
from emulator.decide import Destination, route
from emulator.hosts import ip_literal

log = logging.getLogger("outbound")


class Tls:
    def __init__(
        self, connections: Connections, ca_for: Callable[[str], tuple[SandboxCA, Path] | None], audit: Audit
    ) -> None:
        self._connections = connections
        self._audit = audit
        self._ca_for = ca_for  # sandbox id -> (its CA, the CA's PEM file)
        self._entries: dict[tuple[str, str], certs.CertStoreEntry] = {}

    async def tls_clienthello(self, data: ClientHelloData) -> None:
        client = data.context.client
        live = await self._connections.sandbox(client)
        sni = data.client_hello.sni
        if live is None:
            data.ignore_connection = True
            self._connections.refuse(client, "the connection does not belong to a sandbox")
            log.warning(
                "refused TLS for %s from %s: the address belongs to no sandbox",
                sni or "(no SNI)",
                client.peername[0] if client.peername else "?",
            )
            return
        if client.proxy_mode.type_name == "transparent" and client.sockname:
            address, port = client.sockname[0], client.sockname[1]
        else:
            server = data.context.server.address
            address, port = (server[0], server[1]) if server else ("", 443)
        ip = ip_literal(address)
        if route(live.policy, Destination("https", port, sni or None, ip)):
            return
        data.ignore_connection = True
        if not live.policy.instance.enable_internet:
            self._connections.refuse(client, "HTTPS here is not intercepted and enableInternet is false")
        self._audit.tunnel(data.context, live.id, "CONNECT", sni or address, port, counted=False)

    def get_cert(self, conn_context: context.Context) -> certs.CertStoreEntry:
        """Replaces mitmproxy's TlsConfig.get_cert: a leaf for the SNI from the owning sandbox's CA."""
        owner = self._connections.identify.sandbox(conn_context.client)
        found = self._ca_for(owner) if owner else None
        if found is None:
            raise ValueError("TLS from a connection that belongs to no sandbox")
        ca, ca_file = found
        sni = conn_context.client.sni or (conn_context.client.sockname[0] if conn_context.client.sockname else "")
        key = (owner or "", sni)
        entry = self._entries.get(key)
        if entry is None:
            leaf = ca.leaf(sni)
            private_key = load_pem_private_key(leaf.key_pem, None)
            entry = certs.CertStoreEntry(certs.Cert.from_pem(leaf.cert_pem), private_key, ca_file, [])  # type: ignore[arg-type]
            if len(self._entries) > 4096:
                self._entries.clear()
            self._entries[key] = entry
        return entry

    def forget(self, sandbox_id: str) -> None:
        for key in [k for k in self._entries if k[0] == sandbox_id]:
            del self._entries[key]
