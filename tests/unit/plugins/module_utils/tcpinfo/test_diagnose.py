# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_info's findings, word for word, on synthetic streams."""
from .streams import run, sock


def test_port_exhaustion_finding():
    stream = [sock(6, 1000 + i, 5432) for i in range(90)]
    r = run(stream, sysctls={"net.ipv4.ip_local_port_range": "1000 1099"})
    f = r["findings"][0]
    assert f == {
        "id": "port_exhaustion", "severity": "error",
        "message": "90 local ports (90% of the usable ephemeral range 1000-1099) are taken from 10.0.0.2 towards "
                   "10.0.0.5:5432; connect() from that address to it fails with EADDRNOTAVAIL when none are left",
        "remedy": "Pool connections to 10.0.0.5:5432 to open fewer; 90 of these ports sit in TIME_WAIT: "
                  "net.ipv4.tcp_tw_reuse=1 (high_outbound_client profile, TCP timestamps on) lets connect() reuse "
                  "them; spread connections over more source addresses (ports run out per source, destination and "
                  "port); widen net.ipv4.ip_local_port_range"}
    r = run(stream[:60], sysctls={"net.ipv4.ip_local_port_range": "1000 1099"})
    assert r["findings"][0]["severity"] == "warning"


def test_overflow_listen_and_recycle_findings():
    before = {"TcpExtTCPTimeWaitOverflow": 10, "TcpExtListenOverflows": 1}
    r = run([], counters=before, after={"TcpExtTCPTimeWaitOverflow": 12, "TcpExtListenOverflows": 3},
            sysctls={"net.ipv4.tcp_tw_recycle": "1"})
    assert r["counter_deltas"] == {"TcpExtTCPTimeWaitOverflow": 2, "TcpExtListenOverflows": 2}
    assert [(f["id"], f["severity"]) for f in r["findings"]] == [
        ("time_wait_overflow", "warning"), ("listen_overflow", "warning"), ("tw_recycle_on", "warning")]
    assert r["findings"][0]["message"] == (
        "TcpExtTCPTimeWaitOverflow rose by 2 in 1.0 s (12 since the namespace started): connections closing now skip "
        "TIME_WAIT because the TIME_WAIT table is full (net.ipv4.tcp_max_tw_buckets = 8192)")
    assert r["findings"][1]["message"] == ("TcpExtListenOverflows rose by 2 in 1.0 s (3 since the namespace "
                                           "started): accept queues are overflowing now with net.core.somaxconn = 128")


def test_counters_that_stopped_rising_raise_nothing():
    # Overflows long ago: the counters never reset, the findings must not stay forever.
    old = {"TcpExtTCPTimeWaitOverflow": 12, "TcpExtListenOverflows": 84}
    assert run([], counters=old, after=dict(old))["findings"] == []
    assert run([], counters=old, counter_interval=0)["findings"] == []


def test_no_second_reading_without_any_overflow():
    # Both overflow counters at 0: nothing to tell apart, no wait, no deltas.
    r = run([], counters={"TcpExtListenOverflows": 0, "TcpExtTCPTimeWaitOverflow": 0},
            after={"TcpExtListenOverflows": 5, "TcpExtTCPTimeWaitOverflow": 0})
    assert (r["counter_deltas"], r["counter_seconds"], r["counters"]["TcpExtListenOverflows"]) == ({}, 0.0, 0)


def test_close_wait_finding_names_the_process():
    stream = [sock(8, 8080, 50000 + i, inode=100 + i) for i in range(3)]
    r = run(stream, owners=lambda inodes: {i: [(7, "java", "java -jar a.jar")] for i in inodes})
    f = [x for x in r["findings"] if x["id"] == "close_wait_leak"][0]
    assert f["message"] == ("java (pid 7) holds 3 sockets in CLOSE_WAIT: the peer closed and the application never "
                            "called close(); e.g. 10.0.0.2:8080 -> 10.0.0.5:50000")
    assert f["remedy"].startswith("Fix the application's close() on EOF")


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


def test_close_wait_remedy_names_keepalive():
    r = run([sock(8, 8080, 50000, inode=5)], owners=lambda inodes: {5: [(7, "java", "java")]})
    f = [x for x in r["findings"] if x["id"] == "close_wait_leak"][0]
    assert f["remedy"] == (
        "Fix the application's close() on EOF (or restart it). The keepalive timer does run in CLOSE_WAIT, but only "
        "for sockets with SO_KEEPALIVE: the closed peer answers the probe with a RST after "
        "net.ipv4.tcp_keepalive_time; other sockets stay until close(). kerneltune.tcp.tcp_reset can abort these "
        "sockets now")


def test_every_port_held_without_the_probe_says_what_is_unknown():
    stream = [sock(6, 1000 + i, 5432, dst="10.0.%d.5" % (i % 4)) for i in range(100)]
    r = run(stream, sysctls={"net.ipv4.ip_local_port_range": "1000 1099", "net.ipv4.tcp_timestamps": "1"})
    e = r["ephemeral_ports"]
    assert (e["held"], e["free"], e["bound"], e["exhausted"], e["probe"]) == (100, 0, 0, None, None)
    f = [x for x in r["findings"] if x["id"] == "ports_all_held"]
    assert f == [{
        "id": "ports_all_held", "severity": "warning",
        "message": "all 100 usable ephemeral ports (1000-1099) are held by sockets; connect() fails with "
                   "EADDRNOTAVAIL towards a new destination if they were taken by bind() (0 listeners in the range); "
                   "not probed",
        "remedy": "Run tcp_info with port_probe=true to let the kernel tell; set IP_BIND_ADDRESS_NO_PORT on sockets "
                  "that bind(address, 0) before connect() (Linux 4.2+: the port is then chosen by connect(), per "
                  "destination); move listeners out of net.ipv4.ip_local_port_range or list their ports in "
                  "net.ipv4.ip_local_reserved_ports; widen net.ipv4.ip_local_port_range (high_outbound_client "
                  "profile). tcp_tw_reuse cannot help: the kernel skips these ports before it looks at TIME_WAIT"}]
