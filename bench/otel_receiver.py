#!/usr/bin/env python3
"""A stand-in OTLP/HTTP collector for benchmarks: answers every POST with 200.

Usage: otel_receiver.py PORT [stall]   (stall: accept requests and never answer)
Binds 127.0.0.1 only and stops by itself after 10 minutes.
"""
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer

STALL = len(sys.argv) > 2 and sys.argv[2] == "stall"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if STALL:
            time.sleep(30)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


# One connection at a time answers fastest (no thread per connection); hooks run in turn.
# The stalling one must keep accepting while earlier requests hang.
server = (ThreadingHTTPServer if STALL else HTTPServer)(("127.0.0.1", int(sys.argv[1])), Handler)
server.daemon_threads = True
threading.Timer(600, server.shutdown).start()
server.serve_forever()
