#!/usr/bin/python3 -S
"""A faaskit handler in Python, in the original design's shape: the client
connection is FAAS_CLIENT_FD, wrapped with socket.fromfd and served by a
http.server.BaseHTTPRequestHandler for that one connection."""
import http.server
import os
import socket
import sys

BODY = b"hello from faaskit (python)\n"


class Hello(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(BODY)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(BODY)
        self.close_connection = True

    do_HEAD = do_GET
    do_POST = do_GET

    def log_message(self, fmt, *args):  # stderr, with the request id if any
        rid = os.environ.get("FAAS_REQUEST_ID", "-")
        sys.stderr.write("hello.py: %s: %s\n" % (rid, fmt % args))


def client_socket():
    fd = int(os.environ["FAAS_CLIENT_FD"])
    # The gateway passes an accepted TCP connection (AF_INET, AF_INET6) or
    # one end of a socketpair (AF_UNIX): ask the socket for its family.
    sock = socket.fromfd(fd, socket.AF_UNIX, socket.SOCK_STREAM)
    family = sock.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN)
    if family != socket.AF_UNIX:
        sock.close()
        sock = socket.fromfd(fd, family, socket.SOCK_STREAM)
    os.close(fd)  # fromfd duplicated it
    return sock


def main():
    if "FAAS_CLIENT_FD" not in os.environ:
        sys.stderr.write("hello.py: FAAS_CLIENT_FD is not set (run me under faas-init)\n")
        return 64
    conn = client_socket()
    try:
        peer = conn.getpeername() if conn.family != socket.AF_UNIX else ("unix", 0)
    except OSError:
        peer = ("unknown", 0)
    Hello(conn, peer, None)  # handles the one request, then returns
    try:
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
