#!/usr/bin/env python3
"""Endpoints for the http.probe tests: one HTTP and one HTTPS port.

usage: http_probe_server.py HTTP_PORT HTTPS_PORT CERT KEY

  /ok           200, "hello world" (Content-Length 11)
  /status/N     status N, empty body
  /redirect     302 to /ok
  /loop         302 to /loop (a redirect loop)
  /hang         reads the request and never answers
  /slow         answers after 300 ms
Any query string is ignored (tests use it to make distinct resource ids).
"""
import http.server
import socketserver
import ssl
import sys
import threading
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/ok":
            self.reply(200, b"hello world", [("Content-Type", "text/plain")])
        elif path.startswith("/status/"):
            self.reply(int(path[8:]))
        elif path == "/redirect":
            self.reply(302, b"", [("Location", "/ok")])
        elif path == "/loop":
            self.reply(302, b"", [("Location", "/loop")])
        elif path == "/hang":
            threading.Event().wait()
        elif path == "/slow":
            time.sleep(0.3)
            self.reply(200, b"slow")
        else:
            self.reply(404, b"no such path")

    do_HEAD = do_GET


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def main():
    http_port, https_port, cert, key = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    plain = Server(("127.0.0.1", http_port), Handler)
    secure = Server(("127.0.0.1", https_port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    secure.socket = ctx.wrap_socket(secure.socket, server_side=True)
    threading.Thread(target=secure.serve_forever, daemon=True).start()
    plain.serve_forever()


if __name__ == "__main__":
    main()
