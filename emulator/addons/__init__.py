"""mitmproxy addons, one concern each; ``server.py`` orders them around mitmproxy's defaults:

Identify      client_connected, http_connect, requestheaders: which sandbox owns this connection
Ports         next_layer: ports other than 80/443 pass through as raw TCP, or are refused
Tls           tls_clienthello: decrypt or pass through; tls_start_client: a leaf from the sandbox's CA
(mitmproxy's defaults: next-layer detection, TLS config, proxy server, …)
Outbound      requestheaders/request: decide(), then answer 520, pass through, or run the handler
Audit         response/error, client_disconnected: one audit record per request or connection
Dial          server_connect: where a passthrough goes (connect_to, synthetic DNS names), and with which SNI
"""
