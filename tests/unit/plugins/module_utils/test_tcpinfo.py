# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_info's aggregation and findings, on sockets from the captured dump and
on synthetic streams."""
import os
import socket
import struct

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
        "sample": ["127.0.0.1:8080 -> 127.0.0.1:57766"]}], "accept_queue": []}


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
        "source": "10.0.0.2", "address": "10.0.0.5", "port": 5432, "local_ports_used": 30, "time_wait": 30,
        "time_wait_reusable": 0, "share": round(30 / 28232.0, 4)}


def test_port_exhaustion_finding():
    stream = [sock(6, 1000 + i, 5432) for i in range(90)]
    r = run(stream, sysctls={"net.ipv4.ip_local_port_range": "1000 1099"})
    f = r["findings"][0]
    assert f == {
        "id": "port_exhaustion", "severity": "error",
        "message": "90 local ports (90% of the usable ephemeral range 1000-1099) are taken from 10.0.0.2 towards "
                   "10.0.0.5:5432; connect() from that address to it fails with EADDRNOTAVAIL when none are left",
        "remedy": "Pool and reuse connections to 10.0.0.5:5432; spread them over more source addresses (ports run "
                  "out per source, destination and port); apply the high_outbound_client profile (wider "
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


def test_kernel_support_reads_capeff_and_config_and_sends_nothing(tmp_path, monkeypatch):
    (tmp_path / "self").mkdir()
    (tmp_path / "self/status").write_text("Name:\tpython3\nCapEff:\t000001ffffffffff\n")
    boot = tmp_path / "boot"
    boot.mkdir()
    (boot / "config-6.18.4-x").write_text("CONFIG_INET_DIAG=y\nCONFIG_INET_DIAG_DESTROY=y\n")

    def no_netlink(*a, **kw):
        raise AssertionError("tcp_info must send no destroy request")
    monkeypatch.setattr(sockdiag, "open_socket", no_netlink)
    monkeypatch.setattr(sockdiag, "probe_destroy", no_netlink)
    yes = tcpinfo.kernel_support({"net.ipv4.tcp_tw_reuse_delay": "1000", "net.ipv4.tcp_tw_recycle": None},
                                 "6.18.4-x", str(tmp_path), str(boot))
    assert yes == {"release": "6.18.4-x", "tcp_tw_recycle": False, "tcp_tw_reuse_delay": True,
                   "cap_net_admin": True, "sock_destroy": True, "sock_destroy_reason": None,
                   "time_wait_destroyable": True}
    old = tcpinfo.kernel_support({}, "5.15.0-91-generic", str(tmp_path), str(boot))
    assert old["time_wait_destroyable"] is False and old["sock_destroy"] is True
    assert old["sock_destroy_reason"] == ("CONFIG_INET_DIAG_DESTROY not readable in /boot or /proc/config.gz: "
                                          "tcp_reset tells for sure")
    (tmp_path / "self/status").write_text("Name:\tpython3\nCapEff:\t000001ffffffefff\n")  # bit 12 clear
    no = tcpinfo.kernel_support({}, "6.18.4-x", str(tmp_path), str(boot))
    assert (no["cap_net_admin"], no["sock_destroy"], no["time_wait_destroyable"]) == (False, False, False)
    assert no["sock_destroy_reason"] == ("this process lacks CAP_NET_ADMIN (CapEff bit 12 is clear in "
                                         "/proc/self/status); run it as root (become: true)")
    (boot / "config-6.18.4-x").write_text("# CONFIG_INET_DIAG_DESTROY is not set\n")
    off = tcpinfo.kernel_support({}, "6.18.4-x", str(tmp_path), str(boot))
    assert off["sock_destroy_reason"] == "kernel built without CONFIG_INET_DIAG_DESTROY"


def test_state_mask_has_no_bound_inactive_bit():
    assert sockdiag.ALL_STATES == 0x1FFE
    assert not sockdiag.ALL_STATES & (1 << 13)


def test_port_exhaustion_per_source_and_mapped_destination():
    # Two source addresses x 20,000 ports to one destination: 71% each, not 142%.
    stream = [sock(1, 32768 + i, 443, src="10.0.0.2") for i in range(20000)]
    stream += [sockdiag.Sock(socket.AF_INET6, 1, 32768 + i, 443, b"\0" * 10 + b"\xff\xff" + socket.inet_aton("10.0.0.3"),
                             b"\0" * 10 + b"\xff\xff" + socket.inet_aton("10.0.0.5"), 0, 0, None)
               for i in range(19000)]
    stream += [sock(1, 52768 + i, 443, src="10.0.0.3") for i in range(2000)]  # same pair as the mapped ones
    r = run(stream)
    b = r["ephemeral_ports"]["busiest_destination"]
    assert (b["source"], b["address"], b["port"], b["local_ports_used"]) == ("10.0.0.3", "10.0.0.5", 443, 21000)
    assert b["share"] == round(21000 / 28232.0, 4)


def test_reusable_time_wait_reported_apart():
    stream = [sock(6, 32768 + i, 443) for i in range(15000)] + [sock(1, 50000 + i, 443) for i in range(1000)]
    on = run(stream, sysctls={"net.ipv4.tcp_tw_reuse": "1", "net.ipv4.tcp_timestamps": "1"})
    b = on["ephemeral_ports"]["busiest_destination"]
    assert (b["local_ports_used"], b["time_wait"], b["time_wait_reusable"]) == (1000, 15000, 15000)
    assert not [f for f in on["findings"] if f["id"] in ("port_exhaustion", "time_wait_outbound")]
    off = run(stream, sysctls={"net.ipv4.tcp_tw_reuse": "1", "net.ipv4.tcp_timestamps": "0"})
    b = off["ephemeral_ports"]["busiest_destination"]
    assert (b["local_ports_used"], b["time_wait_reusable"]) == (16000, 0)
    assert off["findings"][0]["message"].startswith("16000 local ports (57% of the usable ephemeral range "
                                                    "32768-60999) are taken from 10.0.0.2 towards 10.0.0.5:443")
    # tcp_tw_reuse=2 reuses loopback only.
    lo = run([sock(6, 32768 + i, 443, src="127.0.0.1", dst="127.0.0.1") for i in range(15000)],
             sysctls={"net.ipv4.tcp_tw_reuse": "2", "net.ipv4.tcp_timestamps": "1"})
    assert lo["ephemeral_ports"]["busiest_destination"]["time_wait_reusable"] == 15000


def test_tw_reuse_finding_only_when_it_would_help():
    stream = [sock(6, 32768 + i, 443) for i in range(5000)]

    def ids(**sysctls):
        return [f["id"] for f in run(stream, sysctls=sysctls)["findings"]]
    assert ids(**{"net.ipv4.tcp_tw_reuse": "0", "net.ipv4.tcp_timestamps": "1"}) == ["time_wait_outbound"]
    assert ids(**{"net.ipv4.tcp_tw_reuse": "2", "net.ipv4.tcp_timestamps": "1"}) == ["time_wait_outbound"]
    assert ids(**{"net.ipv4.tcp_tw_reuse": "1", "net.ipv4.tcp_timestamps": "1"}) == []
    assert ids(**{"net.ipv4.tcp_tw_reuse": "0", "net.ipv4.tcp_timestamps": "0"}) == []
    loop = [sock(6, 32768 + i, 443, src="127.0.0.1", dst="127.0.0.1") for i in range(5000)]
    assert [f["id"] for f in run(loop, sysctls={"net.ipv4.tcp_tw_reuse": "2", "net.ipv4.tcp_timestamps": "1"})[
        "findings"]] == []


def test_accept_queue_close_wait_attributed_to_the_listener():
    stream = [sock(10, 8080, 0, src="0.0.0.0", dst="0.0.0.0", inode=77)]
    stream += [sock(8, 8080, 40000 + i, src="127.0.0.1", dst="127.0.0.1", inode=0) for i in range(5)]
    stream += [sock(8, 8080, 41000, src="127.0.0.1", dst="127.0.0.1", inode=90)]
    r = run(stream, counters={"TcpExtListenOverflows": 0},
            owners=lambda inodes: {77: (5, "nginx", "nginx: master"), 90: (6, "nginx", "nginx: worker")})
    assert r["close_wait"]["total"] == 6
    assert r["close_wait"]["accept_queue"] == [{
        "listener": "0.0.0.0:8080", "count": 5, "pid": 5, "command": "nginx", "cmdline": "nginx: master",
        "sample": ["127.0.0.1:8080 -> 127.0.0.1:%d" % (40000 + i) for i in range(5)]}]
    assert [p["count"] for p in r["close_wait"]["processes"]] == [1]
    f = [x for x in r["findings"] if x["id"] == "close_wait_accept_queue"]
    assert f[0]["message"] == (
        "5 sockets in CLOSE_WAIT wait in the accept queue of 0.0.0.0:8080, owned by nginx (pid 5): the peers gave "
        "up before the application called accept(); TcpExtListenOverflows is 0: the queue has not overflowed (yet)")
    r = run(stream, counters={"TcpExtListenOverflows": 9},
            owners=lambda inodes: {77: (5, "nginx", "nginx: master")})
    f = [x for x in r["findings"] if x["id"] == "close_wait_accept_queue"][0]
    assert f["message"].endswith("; TcpExtListenOverflows is 9: the queue has overflowed too")


def test_close_wait_remedy_names_keepalive():
    r = run([sock(8, 8080, 50000, inode=5)], owners=lambda inodes: {5: (7, "java", "java")})
    f = [x for x in r["findings"] if x["id"] == "close_wait_leak"][0]
    assert f["remedy"] == (
        "Fix the application's close() on EOF (or restart it). The keepalive timer does run in CLOSE_WAIT, but only "
        "for sockets with SO_KEEPALIVE: the closed peer answers the probe with a RST after "
        "net.ipv4.tcp_keepalive_time; other sockets stay until close(). kerneltune.tcp.tcp_reset can abort these "
        "sockets now")


def test_top_counter_is_bounded_and_keeps_heavy_hitters():
    c = tcpinfo.TopCounter(cap=100)
    for i in range(100000):
        c.add(("d%d" % i, 1))
        if i % 10 == 0:
            c.add("heavy")
    assert len(c.data) <= 200
    assert 10000 - c.error <= c.get("heavy") <= 10000
    exact = tcpinfo.TopCounter(cap=100)
    for i in range(200):
        exact.add(i, i)
    assert exact.error == 0 and exact.get(199) == 199


def test_memory_is_flat_with_distinct_destinations():
    import tracemalloc

    def peak(n):
        agg = tcpinfo.Aggregator((32768, 60999))
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
    agg = tcpinfo.Aggregator((32768, 60999))
    for i in range(5000):
        agg(sock(8, 8080, 30000 + i % 30000, inode=1000 + i))
    assert agg.cw_total == 5000 and len(agg.cw_inodes) == 5000 and len(agg.cw_sample) == tcpinfo.SAMPLE_CAP


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
    for attr in ("counts", "listeners", "tw_total", "tw_inbound", "tw_local", "cw_total", "cw_sample", "cw_queue"):
        assert getattr(fast, attr) == getattr(slow, attr), attr
    for attr in ("tw_remote", "dest", "dest_tw"):
        assert getattr(fast, attr).data == getattr(slow, attr).data, attr
    assert fast.cw_sample == {587520: "127.0.0.1:8080 -> 127.0.0.1:57766"}
