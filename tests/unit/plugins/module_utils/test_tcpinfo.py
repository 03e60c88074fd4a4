# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_info's aggregation and findings, on sockets from the captured dump and
on synthetic streams."""
import os
import socket

from ansible_collections.kerneltune.tcp.plugins.module_utils import sockdiag
from ansible_collections.kerneltune.tcp.plugins.module_utils import tcpinfo

from .test_sockdiag import parse_all

FIX = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "fixtures")
SYSCTLS = {"net.ipv4.ip_local_port_range": "32768 60999", "net.ipv4.ip_local_reserved_ports": "",
           "net.ipv4.tcp_tw_reuse": "2", "net.ipv4.tcp_max_tw_buckets": "8192", "net.core.somaxconn": "128",
           "net.ipv4.tcp_tw_recycle": None}


def sock(state, sport, dport, dst="10.0.0.5", src="10.0.0.2", inode=0):
    return sockdiag.Sock(socket.AF_INET, state, sport, dport, socket.inet_aton(src) + b"\0" * 12,
                         socket.inet_aton(dst) + b"\0" * 12, inode, 0, None)


def run(stream, sysctls=None, counters=None, owners=None, **kw):
    def dumper(agg, states):
        for s in stream:
            agg(s)
    return tcpinfo.collect(dumper=dumper, sysctls=dict(SYSCTLS, **(sysctls or {})), counters=counters or {},
                           owners=owners or (lambda inodes: {}), nat={"detected": False}, kernel={}, **kw)


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
        "sample": ["127.0.0.1:8080 -> 127.0.0.1:57766"]}]}


def test_time_wait_split_and_tops():
    stream = [sock(10, 80, 0, dst="0.0.0.0")]
    stream += [sock(6, 40000 + i, 5432) for i in range(30)]
    stream += [sock(6, 41000 + i, 443, dst="10.0.0.6") for i in range(10)]
    stream += [sock(6, 80, 50000 + i, dst="192.0.2.%d" % (i % 3)) for i in range(6)]
    r = run(stream, top=2)
    tw = r["time_wait"]
    assert (tw["total"], tw["outbound"], tw["inbound"]) == (46, 40, 6)
    assert tw["top_remote"] == [{"address": "10.0.0.5", "port": 5432, "count": 30},
                                {"address": "10.0.0.6", "port": 443, "count": 10}]
    assert tw["top_local_ports"] == [{"port": 80, "count": 6}, {"port": 40000, "count": 1}]
    assert r["ephemeral_ports"]["busiest_destination"] == {
        "address": "10.0.0.5", "port": 5432, "local_ports_used": 30, "share": round(30 / 28232.0, 4)}


def test_port_exhaustion_finding():
    stream = [sock(6, 1000 + i, 5432) for i in range(90)]
    r = run(stream, sysctls={"net.ipv4.ip_local_port_range": "1000 1099"})
    f = r["findings"][0]
    assert f == {
        "id": "port_exhaustion", "severity": "error",
        "message": "90 local ports (90% of the usable ephemeral range 1000-1099) are tied up towards 10.0.0.5:5432; "
                   "connect() to it fails with EADDRNOTAVAIL when none are left",
        "remedy": "Pool and reuse connections to 10.0.0.5:5432; apply the high_outbound_client profile (wider "
                  "ip_local_port_range, tcp_tw_reuse=1)"}
    r = run(stream[:60], sysctls={"net.ipv4.ip_local_port_range": "1000 1099"})
    assert r["findings"][0]["severity"] == "warning"


def test_reserved_ports_shrink_the_usable_range():
    stream = [sock(6, 1000 + i, 5432) for i in range(45)]
    r = run(stream, sysctls={"net.ipv4.ip_local_port_range": "1000 1099",
                             "net.ipv4.ip_local_reserved_ports": "1050-1099"})
    assert r["ephemeral_ports"]["usable"] == 50
    assert r["ephemeral_ports"]["busiest_destination"]["share"] == 0.9


def test_overflow_listen_and_recycle_findings():
    r = run([], counters={"TcpExtTCPTimeWaitOverflow": 12, "TcpExtListenOverflows": 3},
            sysctls={"net.ipv4.tcp_tw_recycle": "1"})
    assert [(f["id"], f["severity"]) for f in r["findings"]] == [
        ("time_wait_overflow", "warning"), ("listen_overflow", "warning"), ("tw_recycle_on", "warning")]
    assert r["findings"][0]["message"] == (
        "TcpExtTCPTimeWaitOverflow is 12: connections closed while the TIME_WAIT table was full skipped TIME_WAIT "
        "(net.ipv4.tcp_max_tw_buckets = 8192)")
    assert r["findings"][1]["message"] == "TcpExtListenOverflows is 3: accept queues overflowed with net.core.somaxconn = 128"


def test_close_wait_finding_names_the_process():
    stream = [sock(8, 8080, 50000 + i, inode=100 + i) for i in range(3)]
    r = run(stream, owners=lambda inodes: {i: (7, "java", "java -jar a.jar") for i in inodes})
    f = [x for x in r["findings"] if x["id"] == "close_wait_leak"][0]
    assert f["message"] == ("java (pid 7) holds 3 sockets in CLOSE_WAIT: the peer closed and the application never "
                            "called close(); e.g. 10.0.0.2:8080 -> 10.0.0.5:50000")
    assert f["remedy"].startswith("Fix the application's close() on EOF")


def test_read_counters(tmp_path):
    (tmp_path / "net").mkdir()
    (tmp_path / "net/netstat").write_text(
        "TcpExt: SyncookiesSent TW TWRecycled TCPTimeWaitOverflow ListenOverflows\n"
        "TcpExt: 0 120 3 0 7\n"
        "IpExt: InNoRoutes\nIpExt: 0\n")
    (tmp_path / "net/snmp").write_text("Tcp: RtoAlgorithm ActiveOpens CurrEstab\nTcp: 1 50 2\n")
    (tmp_path / "net/sockstat").write_text("sockets: used 5\nTCP: inuse 1 orphan 0 tw 8001 alloc 2 mem 461\n")
    assert tcpinfo.read_counters(str(tmp_path)) == {
        "TcpExtTW": 120, "TcpExtTWRecycled": 3, "TcpExtTCPTimeWaitOverflow": 0, "TcpExtListenOverflows": 7,
        "TcpActiveOpens": 50, "TcpCurrEstab": 2, "sockstat_tcp_inuse": 1, "sockstat_tcp_orphan": 0,
        "sockstat_tcp_tw": 8001, "sockstat_tcp_alloc": 2, "sockstat_tcp_mem": 461}


def test_kernel_support():
    yes = tcpinfo.kernel_support({"net.ipv4.tcp_tw_reuse_delay": "1000", "net.ipv4.tcp_tw_recycle": None},
                                 "6.18.4-x", lambda: {"supported": True, "reason": None})
    assert yes == {"release": "6.18.4-x", "tcp_tw_recycle": False, "tcp_tw_reuse_delay": True, "sock_destroy": True,
                   "sock_destroy_reason": None, "time_wait_destroyable": True}
    old = tcpinfo.kernel_support({}, "5.15.0-91-generic", lambda: {"supported": True, "reason": None})
    assert old["time_wait_destroyable"] is False and old["sock_destroy"] is True


def test_fast_feed_equals_socket_by_socket():
    with open(os.path.join(FIX, "sockdiag_dump.bin"), "rb") as f:
        data = f.read()
    slow = tcpinfo.Aggregator((32768, 60999))
    for s in parse_all(data):
        slow(s)
    fast = tcpinfo.Aggregator((32768, 60999))
    off = 0
    import struct
    while off < len(data):  # one chunk per reply, as recv() hands them over
        length = struct.unpack_from("=I", data, off)[0]
        fast.feed(data[off:off + length])
        off += (length + 3) & ~3
    for attr in ("counts", "listeners", "tw_total", "tw_inbound", "tw_remote", "tw_local", "dest", "close_wait"):
        assert getattr(fast, attr) == getattr(slow, attr), attr
    assert fast.close_wait == {587520: "127.0.0.1:8080 -> 127.0.0.1:57766"}
