# SPDX-License-Identifier: GPL-3.0-or-later
"""Make real TCP sockets on loopback, inside a test container or namespace.

  make_sockets.py time_wait N PORT[:W] ...     N TIME_WAIT sockets (client closes
                                               first), spread over the ports (W: weight,
                                               default 1) and over source addresses 127.0.x.y
  make_sockets.py established N PORT           N loopback connections held open (2N
                                               ESTABLISHED sockets); prints "established N"
                                               and waits until killed
  make_sockets.py spread_tw N PORT             N TIME_WAIT sockets, each towards its own
                                               destination address 127.1.0.1 + i
  make_sockets.py spread_estab N PORT          N/2 connections held open (N ESTABLISHED
                                               sockets), each client towards its own
                                               destination, over worker processes (fd
                                               limits); prints "spread_estab N", waits
  make_sockets.py close_wait PORT              a CLOSE_WAIT socket held open by this
                                               process (comm "kt-leaky"); prints its
                                               pid and tuple, then waits until its
                                               connection is aborted or it is killed

Run with tcp_tw_reuse=0 in the namespace, or the kernel reuses loopback
TIME_WAIT ports and the count stays low. Never run it on a host: only in a
container or network namespace made for the test.
"""
import ctypes
import os
import socket
import sys
import time

IP_BIND_ADDRESS_NO_PORT = 24


def listener(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(4096)
    return s


def time_wait(n, specs):
    by_port = {}
    servers = []
    for spec in specs:
        port, _sep, weight = spec.partition(":")
        if port not in by_port:
            by_port[port] = listener(int(port))
        servers.extend([by_port[port]] * int(weight or 1))
    made = 0
    src = 0
    while made < n:
        batch = []
        for _unused in range(min(2000, n - made)):
            i = made + len(batch)
            c = socket.socket()
            c.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            # A new source address every 20,000 connections keeps clear of
            # the ephemeral range's limit per (source, destination).
            c.bind(("127.0.%d.%d" % (1 + src // 250, 1 + src % 250), 0))
            if i % 20000 == 19999:
                src += 1
            srv = servers[i % len(servers)]
            c.connect(srv.getsockname())
            a, _peer = srv.accept()
            batch.append((c, a))
        made += _close_client_first(batch)
    for s in by_port.values():
        s.close()
    print("time_wait %d" % made, flush=True)


def _close_client_first(batch):
    """Close each (client, accepted) pair client first, so the client's side goes to TIME_WAIT.

    The server side closes only once it has read the client's FIN (end of file): closing both
    at once, as a loaded machine can schedule it, is a simultaneous close, and then both sides
    enter TIME_WAIT (one socket too many for the tests that count them)."""
    for c, _a in batch:
        c.close()
    for _c, a in batch:
        a.settimeout(10)
        try:
            a.recv(1)
        except OSError:
            pass
        a.close()
    return len(batch)


def _dest(i):
    return socket.inet_ntoa((0x7F010001 + i).to_bytes(4, "big"))


def spread_tw(n, port, first=0):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(4096)
    made = 0
    while made < n:
        batch = []
        for _unused in range(min(2000, n - made)):
            c = socket.socket()
            c.connect((_dest(first + made + len(batch)), port))
            a, _peer = srv.accept()
            batch.append((c, a))
        made += _close_client_first(batch)
    srv.close()
    print("spread_tw %d" % made, flush=True)


def _hold(first, count, port, ready):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(4096)
    held = []
    for i in range(count):
        c = socket.socket()
        c.connect((_dest(first + i), port))
        a, _peer = srv.accept()
        held.append((c, a))
    srv.close()
    os.write(ready, b"x")
    os.close(ready)  # the parent sees end-of-file once every worker has written or died
    while True:
        time.sleep(3600)


def spread_estab(n, port):
    pairs = n // 2
    per = 8000  # 16,000 fds per worker, under the containers' nofile limit
    r, w = os.pipe()
    workers = 0
    for k, first in enumerate(range(0, pairs, per)):
        if os.fork() == 0:
            os.close(r)
            _hold(first, min(per, pairs - first), port + k, w)
            os._exit(0)
        workers += 1
    os.close(w)
    ready = 0
    while ready < workers:
        got = os.read(r, workers)
        if not got:  # every worker has exited or written: one that died never wrote
            sys.exit("spread_estab: %d of %d workers failed (see their errors above)" % (workers - ready, workers))
        ready += len(got)
    print("spread_estab %d" % (pairs * 2), flush=True)
    while True:
        time.sleep(3600)


def close_wait(port):
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(15, b"kt-leaky", 0, 0, 0)  # PR_SET_NAME
    except OSError:
        pass
    srv = listener(port)
    c = socket.socket()
    c.connect(("127.0.0.1", port))
    a, _peer = srv.accept()
    srv.close()
    c.close()  # the peer closes; our accepted socket `a` sits in CLOSE_WAIT
    print("close_wait pid=%d %s:%d -> %s:%d" % ((os.getpid(),) + a.getsockname() + a.getpeername()), flush=True)
    # Never call close(): the leak. Watch for the socket's error without
    # sending anything (a send would draw a RST and end CLOSE_WAIT by itself).
    while True:
        time.sleep(0.2)
        err = a.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            print("aborted: %s" % os.strerror(err), flush=True)
            with open("/tmp/kt-leaky.result", "w") as f:
                f.write(os.strerror(err) + "\n")
            return


def established(n, port):
    srv = listener(port)
    held = []
    for _unused in range(n):
        c = socket.socket()
        c.connect(("127.0.0.1", port))
        a, _peer = srv.accept()
        held.append((c, a))
    srv.close()  # no LISTEN socket left: only the pairs
    print("established %d" % n, flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "time_wait":
        time_wait(int(sys.argv[2]), sys.argv[3:])
    elif mode == "spread_tw":
        spread_tw(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 0)
    elif mode == "spread_estab":
        spread_estab(int(sys.argv[2]), int(sys.argv[3]))
    elif mode == "established":
        established(int(sys.argv[2]), int(sys.argv[3]))
    elif mode == "close_wait":
        close_wait(int(sys.argv[2]))
    else:
        sys.exit("unknown mode %s" % mode)
