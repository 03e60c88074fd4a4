# SPDX-License-Identifier: GPL-3.0-or-later
"""The kernel's TCP counters from /proc/net, on a fake /proc."""
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import readers


def test_read_counters(tmp_path):
    (tmp_path / "net").mkdir()
    (tmp_path / "net/netstat").write_text(
        "TcpExt: SyncookiesSent TW TWRecycled TCPTimeWaitOverflow ListenOverflows\n"
        "TcpExt: 0 120 3 0 7\n"
        "IpExt: InNoRoutes\nIpExt: 0\n")
    (tmp_path / "net/snmp").write_text("Tcp: RtoAlgorithm ActiveOpens CurrEstab\nTcp: 1 50 2\n")
    (tmp_path / "net/sockstat").write_text("sockets: used 5\nTCP: inuse 1 orphan 0 tw 8001 alloc 2 mem 461\n")
    assert readers.read_counters(str(tmp_path)) == {
        "TcpExtTW": 120, "TcpExtTWRecycled": 3, "TcpExtTCPTimeWaitOverflow": 0, "TcpExtListenOverflows": 7,
        "TcpActiveOpens": 50, "TcpCurrEstab": 2, "sockstat_tcp_inuse": 1, "sockstat_tcp_orphan": 0,
        "sockstat_tcp_tw": 8001, "sockstat_tcp_alloc": 2, "sockstat_tcp_mem": 461}
