"""python-init: an init written the way the original design describes it,
kept as a faas-bench peer (the `python-init` variant of the `init` scenario).

    /usr/bin/python3 -S python_init.py CONTROL_SOCK HANDLER [ARGS...]

Connects to the control socket, receives the client connection with
SCM_RIGHTS, sets FAAS_CLIENT_FD and execs the handler with the descriptor
inherited.
"""
import os
import socket
import sys


def main():
    if len(sys.argv) < 3:
        sys.stderr.write("usage: python_init.py CONTROL_SOCK HANDLER [ARGS...]\n")
        return 64
    sock_path, argv = sys.argv[1], sys.argv[2:]
    control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    control.connect(sock_path)
    _, fds, _, _ = socket.recv_fds(control, 4096, 1)
    control.close()
    if not fds:
        sys.stderr.write("python-init: no file descriptor received\n")
        return 65
    client = fds[0]
    os.set_inheritable(client, True)
    os.environ["FAAS_CLIENT_FD"] = str(client)
    try:
        os.execv(argv[0], argv)
    except OSError as e:
        sys.stderr.write("python-init: exec %s: %s\n" % (argv[0], e.strerror))
        return 127


sys.exit(main())
