#!/usr/bin/env python3
"""scrape_server.py DIR PORT[,PORT...]: the exporter stand-in of the scrape tests.

Serves DIR's files on 127.0.0.1:PORT (every PORT listed: test_cluster_scrape's
many exporters are one process), one thread per connection:
  *.om        as application/openmetrics-text; version=1.0.0
  *.prom      as text/plain; version=0.0.4
  *.gz.*      the file's bytes gzip-compressed, with Content-Encoding: gzip
  /bomb       16 MiB of text gzip-compressed (about 16 KiB on the wire)
  /hang       accepts and never answers (until the test stops the server)
"""
import gzip
import http.server
import os
import sys
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, body, ctype, encoding=None):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        name = self.path.lstrip("/")
        if name == "hang":
            threading.Event().wait()
        if name == "bomb":
            line = b"a 1\n"
            self.send(gzip.compress(line * (16 * 1024 * 1024 // len(line))),
                      "text/plain; version=0.0.4", "gzip")
            return
        path = os.path.join(sys.argv[1], os.path.basename(name))
        if not os.path.isfile(path):
            self.send_error(404)
            return
        with open(path, "rb") as f:
            body = f.read()
        ctype = ("application/openmetrics-text; version=1.0.0; charset=utf-8"
                 if name.endswith(".om") else "text/plain; version=0.0.4; charset=utf-8")
        if ".gz." in name:
            self.send(gzip.compress(body), ctype, "gzip")
        else:
            self.send(body, ctype)


servers = []
for port in sys.argv[2].split(","):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), Handler)
    server.daemon_threads = True
    servers.append(server)
for server in servers[1:]:
    threading.Thread(target=server.serve_forever, daemon=True).start()
servers[0].serve_forever()
