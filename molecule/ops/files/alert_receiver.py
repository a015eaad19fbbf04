#!/usr/bin/env python3
"""Test-only alert receiver: records every webhook/Telegram POST and every SMTP message.

HTTP on 127.0.0.1:9099 (any path), SMTP on 127.0.0.1:2525 (no TLS, no auth). Each request
is one JSON line in the record file: {"channel": "http"|"smtp", "path", "body"}.
"""
from __future__ import annotations

import json
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RECORD = sys.argv[1] if len(sys.argv) > 1 else "/var/tmp/alert-receiver.jsonl"
LOCK = threading.Lock()


def record(entry: dict) -> None:
    with LOCK, open(RECORD, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")


class Http(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = body
        record({"channel": "http", "path": self.path, "body": parsed})
        out = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args) -> None:
        pass


class Smtp(socketserver.StreamRequestHandler):
    def reply(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self) -> None:
        self.reply("220 receiver ready")
        mail: dict = {"rcpt": []}
        while True:
            line = self.rfile.readline().decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                return
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 receiver")
            elif verb == "MAIL":
                mail = {"from": line[10:], "rcpt": []}
                self.reply("250 ok")
            elif verb == "RCPT":
                mail["rcpt"].append(line[8:])
                self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 end with .")
                data = []
                while True:
                    chunk = self.rfile.readline().decode("utf-8", "replace")
                    if chunk.rstrip("\r\n") == "." or not chunk:
                        break
                    data.append(chunk)
                record({"channel": "smtp", "path": "", "body": {**mail, "data": "".join(data)}})
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")


def main() -> None:
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    smtp = socketserver.ThreadingTCPServer(("127.0.0.1", 2525), Smtp)
    threading.Thread(target=smtp.serve_forever, daemon=True).start()
    ThreadingHTTPServer(("127.0.0.1", 9099), Http).serve_forever()


if __name__ == "__main__":
    main()
