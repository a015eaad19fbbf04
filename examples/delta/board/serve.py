#!/usr/bin/env python3
"""A dashboard with no runtime of its own (tradeops runtime: none): the host's python3 and
the standard library only. It serves / (an HTML page naming the release) on 127.0.0.1:$PORT;
nginx serves /static/ from the release itself and proxies the rest of the site here."""
from __future__ import annotations

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SHA = os.environ.get("TRADEOPS_SHA", "")


class Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = (f'<!doctype html><html><head><link rel="stylesheet" href="/static/board.css"></head>'
                f'<body><h1>board</h1><p id="sha">{SHA}</p></body></html>').encode()
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:
        print(f"{self.address_string()} {fmt % args}", flush=True)


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8090"))), Page).serve_forever()
