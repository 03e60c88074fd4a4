# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_info's aggregation: bounded memory, and the raw netlink fast path equal to the Sock path."""
import os
import socket
import struct

from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import aggregate

from ..sockets.dumps import FIX, parse_all
from .streams import sock


def test_top_counter_is_bounded_and_keeps_heavy_hitters():
    c = aggregate.TopCounter(cap=100)
    for i in range(100000):
        c.add(("d%d" % i, 1))
        if i % 10 == 0:
            c.add("heavy")
    assert len(c.data) <= 200
    assert 10000 - c.error <= c.get("heavy") <= 10000
    exact = aggregate.TopCounter(cap=100)
    for i in range(200):
        exact.add(i, i)
    assert exact.error == 0 and exact.get(199) == 199


def test_memory_is_flat_with_distinct_destinations():
    import tracemalloc

    def peak(n):
        agg = aggregate.Aggregator((32768, 60999))
        tracemalloc.start()
        for i in range(n):
            agg(sock(6 if i % 2 else 1, 32768 + i % 28000, 443, dst=socket.inet_ntoa(struct.pack("!I", 0x0A000000 + i)),
                     inode=0))
        p = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return p
    small, big = peak(10000), peak(100000)
    assert big < 1.5 * small, (small, big)


def test_close_wait_samples_are_capped():
    agg = aggregate.Aggregator((32768, 60999))
    for i in range(5000):
        agg(sock(8, 8080, 30000 + i % 30000, inode=1000 + i))
    assert agg.cw_total == 5000 and len(agg.cw_inodes) == 5000 and len(agg.cw_sample) == aggregate.SAMPLE_CAP


def test_fast_feed_equals_socket_by_socket():
    with open(os.path.join(FIX, "sockdiag_dump.bin"), "rb") as f:
        data = f.read()
    slow = aggregate.Aggregator((32768, 60999))
    for s in parse_all(data):
        slow(s)
    fast = aggregate.Aggregator((32768, 60999))
    off = 0
    import struct
    while off < len(data):  # one chunk per reply, as recv() hands them over
        length = struct.unpack_from("=I", data, off)[0]
        fast.feed(data[off:off + length])
        off += (length + 3) & ~3
    for attr in ("counts", "listeners", "tw_total", "tw_inbound", "tw_local", "cw_total", "cw_sample", "cw_queue"):
        assert getattr(fast, attr) == getattr(slow, attr), attr
    for attr in ("tw_remote", "dest", "dest_tw"):
        assert getattr(fast, attr).data == getattr(slow, attr).data, attr
    assert fast.cw_sample == {587520: "127.0.0.1:8080 -> 127.0.0.1:57766"}
