#!/usr/bin/env python3
"""Stand-in app for the web scenario: GET /api/health answers {"ok": true, "port": N};
any other request is echoed back as JSON (path, method, port, headers)."""
from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keepalive, as nginx's upstream keepalive expects

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path == "/api/health":
            body = {"ok": True, "port": PORT}
        else:
            body = {"path": self.path, "method": self.command, "port": PORT, "headers": dict(self.headers)}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _reply

    def log_message(self, *args: object) -> None:
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Echo).serve_forever()
