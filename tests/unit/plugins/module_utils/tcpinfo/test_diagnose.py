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
        "remedy": "Pool and reuse connections to 10.0.0.5:5432; spread them over more source addresses (ports run "
                  "out per source, destination and port); apply the high_outbound_client profile (wider "
                  "ip_local_port_range, tcp_tw_reuse=1)"}
    r = run(stream[:60], sysctls={"net.ipv4.ip_local_port_range": "1000 1099"})
    assert r["findings"][0]["severity"] == "warning"


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
    r = run([sock(8, 8080, 50000, inode=5)], owners=lambda inodes: {5: (7, "java", "java")})
    f = [x for x in r["findings"] if x["id"] == "close_wait_leak"][0]
    assert f["remedy"] == (
        "Fix the application's close() on EOF (or restart it). The keepalive timer does run in CLOSE_WAIT, but only "
        "for sockets with SO_KEEPALIVE: the closed peer answers the probe with a RST after "
        "net.ipv4.tcp_keepalive_time; other sockets stay until close(). kerneltune.tcp.tcp_reset can abort these "
        "sockets now")
