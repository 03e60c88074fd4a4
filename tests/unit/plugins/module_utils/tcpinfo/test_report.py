# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_info's report sections (TIME_WAIT, CLOSE_WAIT, ephemeral ports) on synthetic streams."""
import socket

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import record

from .streams import run, sock


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
        "time_wait_reusable": 0, "bound_ports": 0, "share": round(30 / 28232.0, 4)}


def test_reserved_ports_shrink_the_usable_range():
    stream = [sock(6, 1000 + i, 5432) for i in range(45)]
    r = run(stream, sysctls={"net.ipv4.ip_local_port_range": "1000 1099",
                             "net.ipv4.ip_local_reserved_ports": "1050-1099"})
    assert r["ephemeral_ports"]["usable"] == 50
    assert r["ephemeral_ports"]["busiest_destination"]["share"] == 0.9


def test_port_exhaustion_per_source_and_mapped_destination():
    # Two source addresses x 20,000 ports to one destination: 71% each, not 142%.
    stream = [sock(1, 32768 + i, 443, src="10.0.0.2") for i in range(20000)]
    stream += [record.Sock(socket.AF_INET6, 1, 32768 + i, 443, b"\0" * 10 + b"\xff\xff" + socket.inet_aton("10.0.0.3"),
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


def test_accept_queue_close_wait_attributed_to_the_listener():
    stream = [sock(10, 8080, 0, src="0.0.0.0", dst="0.0.0.0", inode=77)]
    stream += [sock(8, 8080, 40000 + i, src="127.0.0.1", dst="127.0.0.1", inode=0) for i in range(5)]
    stream += [sock(8, 8080, 41000, src="127.0.0.1", dst="127.0.0.1", inode=90)]
    r = run(stream, counters={"TcpExtListenOverflows": 4}, after={"TcpExtListenOverflows": 4},
            owners=lambda inodes: {77: [(5, "nginx", "nginx: master")], 90: [(6, "nginx", "nginx: worker")]})
    assert r["close_wait"]["total"] == 6
    master = {"pid": 5, "command": "nginx", "cmdline": "nginx: master"}
    assert r["close_wait"]["accept_queue"] == [dict(
        master, holders=[master], owner="nginx (pid 5)", listener="0.0.0.0:8080", count=5,
        sample=["127.0.0.1:8080 -> 127.0.0.1:%d" % (40000 + i) for i in range(5)])]
    assert [p["count"] for p in r["close_wait"]["processes"]] == [1]
    f = [x for x in r["findings"] if x["id"] == "close_wait_accept_queue"]
    assert f[0]["message"] == (
        "5 sockets in CLOSE_WAIT wait in the accept queue of 0.0.0.0:8080, owned by nginx (pid 5): the peers gave "
        "up before the application called accept(); TcpExtListenOverflows did not rise during the probe")
    r = run(stream, counters={"TcpExtListenOverflows": 4}, after={"TcpExtListenOverflows": 9},
            owners=lambda inodes: {77: [(5, "nginx", "nginx: master")]})
    f = [x for x in r["findings"] if x["id"] == "close_wait_accept_queue"][0]
    assert f["message"].endswith("; TcpExtListenOverflows rose by 5 in 1.0 s (9 since the namespace started): "
                                 "accept queues are overflowing now")
    # Read once (counter_interval 0): no claim about the queue either way.
    r = run(stream, counters={"TcpExtListenOverflows": 9}, counter_interval=0,
            owners=lambda inodes: {77: [(5, "nginx", "nginx: master")]})
    f = [x for x in r["findings"] if x["id"] == "close_wait_accept_queue"][0]
    assert f["message"].endswith("the peers gave up before the application called accept()")
    r = run(stream, counters={"TcpExtListenOverflows": 0}, owners=lambda inodes: {})
    f = [x for x in r["findings"] if x["id"] == "close_wait_accept_queue"][0]
    assert f["message"] == (
        "5 sockets in CLOSE_WAIT wait in the accept queue of 0.0.0.0:8080, owned by a process outside this pid "
        "namespace or already gone: the peers gave up before the application called accept(); "
        "TcpExtListenOverflows is 0: no accept queue has overflowed")
