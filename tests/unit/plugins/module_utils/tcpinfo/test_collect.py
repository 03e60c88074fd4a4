# SPDX-License-Identifier: GPL-3.0-or-later
"""collect() end to end on the sockets of the dump captured from a real kernel."""
import os

from ..sockets.dumps import FIX, parse_all
from .streams import run


def test_counts_from_captured_dump():
    with open(os.path.join(FIX, "sockdiag_dump.bin"), "rb") as f:
        socks = parse_all(f.read())
    r = run(socks, owners=lambda inodes: {587520: (42, "kt-leaky", "python3 leak.py")})
    assert r["counts"] == {
        "listen": {"ipv4": 1, "ipv6": 1, "total": 2},
        "close_wait": {"ipv4": 1, "ipv6": 0, "total": 1},
        "time_wait": {"ipv4": 1, "ipv6": 0, "total": 1},
        "fin_wait2": {"ipv4": 1, "ipv6": 0, "total": 1},
    }
    assert r["total"] == 5
    assert r["listeners"] == [8080, 8443]
    assert r["time_wait"]["outbound"] == 1 and r["time_wait"]["inbound"] == 0
    assert r["close_wait"] == {"total": 1, "processes": [{
        "pid": 42, "command": "kt-leaky", "cmdline": "python3 leak.py", "count": 1,
        "sample": ["127.0.0.1:8080 -> 127.0.0.1:57766"]}], "accept_queue": []}
