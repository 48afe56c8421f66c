#!/usr/bin/env python3
"""A stand-in for a node's kubelet: serves the recorded pages in kubelet/ at /metrics,
/metrics/cadvisor and /metrics/probes, over HTTPS when a certificate is given, and only to a
request carrying `Authorization: Bearer <token>` with the token read from TOKEN_FILE at each
request (as the kubelet checks the projected service-account token). Counters that are not zero
advance with time, so rates are not zero. Every request is appended, with its Authorization
header, to SEEN_LOG. The port it bound is written to PORT_FILE.

Usage: stand-in-kubelet.py PORT_FILE TOKEN_FILE SEEN_LOG [CERT KEY]
"""
import http.server
import os
import re
import signal
import ssl
import sys
import threading
import time

signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
PARENT = os.getppid()


def watch_parent():
    # Never outlive the test run that started this process.
    while os.getppid() == PARENT:
        time.sleep(0.5)
    os._exit(0)


threading.Thread(target=watch_parent, daemon=True).start()

PORT_FILE, TOKEN_FILE, SEEN_LOG = sys.argv[1:4]
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kubelet")
PAGES = {"/metrics": "metrics.prom", "/metrics/cadvisor": "cadvisor.prom", "/metrics/probes": "probes.prom"}
START = time.time()
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*_total)(\{.*\})? (\S+)$")


def page(name):
    elapsed = time.time() - START
    lines = []
    with open(os.path.join(HERE, name)) as f:
        for number, line in enumerate(f.read().splitlines()):
            match = SAMPLE.match(line)
            if match and float(match.group(3)) != 0:
                value = float(match.group(3)) + elapsed * (1 + number % 7)
                line = "%s%s %r" % (match.group(1), match.group(2) or "", value)
            lines.append(line)
    return ("\n".join(lines) + "\n").encode()


class Kubelet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        auth = self.headers.get("Authorization") or "-"
        with open(SEEN_LOG, "a") as log:
            log.write("%s %s\n" % (self.path, auth))
        with open(TOKEN_FILE) as f:
            token = f.read().strip()
        path = self.path.split("?")[0]
        if auth != "Bearer " + token:
            body, status = b"Unauthorized\n", 401
        elif path in PAGES:
            body, status = page(PAGES[path]), 200
        else:
            body, status = b"404 page not found\n", 404
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Kubelet)
if len(sys.argv) > 5:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[4], sys.argv[5])
    server.socket = context.wrap_socket(server.socket, server_side=True)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
