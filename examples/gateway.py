#!/usr/bin/python3 -S
"""A minimal TCP gateway in the original design's shape, for the demo.

Accepts HTTP connections on 127.0.0.1 and hands each accepted socket to a
warm `faas-init --listen SOCK --loop` over its control socket (SCM_RIGHTS),
with a JSON payload naming the request. faas-init forks the handler, which
answers the client directly; the gateway only logs faas-init's replies
({"pid": P} then {"status": S}). faas-invoke's `serve` mode replaces this.

usage: gateway.py CONTROL_SOCK PORT_FILE [MAX_REQUESTS]
"""
import json
import os
import socket
import sys

control, port_file = sys.argv[1], sys.argv[2]
max_requests = int(sys.argv[3]) if len(sys.argv) > 3 else 0

srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))  # loopback only, a free port
srv.listen(64)
tmp = port_file + ".tmp"
with open(tmp, "w") as f:
    f.write(str(srv.getsockname()[1]))
os.rename(tmp, port_file)

served = 0
while max_requests == 0 or served < max_requests:
    client, _ = srv.accept()
    served += 1
    ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ctl.connect(control)
    payload = json.dumps({"request_id": "demo-%d" % served, "deadline_ms": 1000})
    socket.send_fds(ctl, [payload.encode()], [client.fileno()])
    client.close()  # the handler owns the connection now
    replies = ctl.makefile("r").read().split()
    ctl.close()
    print("gateway: request demo-%d: faas-init replied %s" % (served, " ".join(replies)),
          file=sys.stderr, flush=True)
