#!/usr/bin/python3 -S
"""The sending side of faas-init's control socket, in the original design's
shape: one unix stream connection, one sendmsg with SCM_RIGHTS and a payload
(socket.send_fds(conn, [b'x'], [fd])).

usage: fd-sender.py (--serve SOCK | --connect SOCK) [options]

  --serve SOCK        listen on SOCK, accept faas-init's connection (default mode)
  --connect SOCK      connect to a faas-init --listen SOCK (retried until it exists)
  --send KIND         what to pass: socketpair (default), tcp, pipe, none
  --fds N             pass N fds (socketpair: N pairs; the request goes to the first)
  --payload TEXT      the data bytes (default: x)
  --request TEXT      socketpair: write TEXT (\\r and \\n decoded; may be
                      empty) to the first pair, then print what comes back
                      until EOF
  --port-file F       tcp: listen on 127.0.0.1:0, write the port to F, accept one
                      connection and pass it (curl connects to it)
  --replies F         after sending, read the control connection until EOF into F
  --timeout S         give up after S seconds (default 20)
"""
import os
import socket
import sys
import time


def main(argv):
    opts = {"send": "socketpair", "fds": "1", "payload": "x", "timeout": "20"}
    i = 0
    while i < len(argv):
        key = argv[i].lstrip("-")
        if key not in ("serve", "connect", "send", "fds", "payload", "request", "port-file",
                       "replies", "timeout"):
            sys.exit("fd-sender.py: unknown option %s" % argv[i])
        opts[key] = argv[i + 1]
        i += 2
    timeout = float(opts["timeout"])
    socket.setdefaulttimeout(timeout)

    kind, nfds = opts["send"], int(opts["fds"])
    keep, send = [], []
    if kind == "socketpair":
        for _ in range(nfds):
            mine, theirs = socket.socketpair()
            keep.append(mine)
            send.append(theirs)
    elif kind == "tcp":  # listening before the control socket is up
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.bind(("127.0.0.1", 0))
        tcp.listen(1)
        tmp = opts["port-file"] + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(tcp.getsockname()[1]))
        os.rename(tmp, opts["port-file"])
    elif kind == "pipe":
        r, w = os.pipe()
        send.append(os.fdopen(r, "rb"))
        keep.append(os.fdopen(w, "wb"))
    elif kind != "none":
        sys.exit("fd-sender.py: unknown --send %s" % kind)

    if "serve" in opts:
        # Bound and listening under a temporary name, then renamed: once
        # the path exists, a connect succeeds.
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(opts["serve"] + ".tmp")
        srv.listen(1)
        os.rename(opts["serve"] + ".tmp", opts["serve"])
        ctl, _ = srv.accept()
        srv.close()
        os.unlink(opts["serve"])
    else:
        ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + timeout
        while True:  # bounded polling: faas-init may not be listening yet
            try:
                ctl.connect(opts["connect"])
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    if kind == "tcp":
        client, _ = tcp.accept()
        tcp.close()
        send.append(client)

    payload = opts["payload"].encode()
    if send:
        socket.send_fds(ctl, [payload], [s.fileno() for s in send])
    else:
        ctl.sendall(payload)
    for s in send:
        s.close()  # the handler owns them now

    if "request" in opts and keep:
        req = opts["request"].replace("\\r", "\r").replace("\\n", "\n").encode()
        if req:
            keep[0].sendall(req)
        chunks = []
        while True:
            try:
                data = keep[0].recv(65536)
            except ConnectionResetError:  # the handler did not read it all
                break
            if not data:
                break
            chunks.append(data)
        sys.stdout.write(b"".join(chunks).decode("latin1"))
        sys.stdout.flush()

    if "replies" in opts:
        with ctl.makefile("rb") as f, open(opts["replies"], "wb") as out:
            out.write(f.read())
    ctl.close()


if __name__ == "__main__":
    main(sys.argv[1:])
