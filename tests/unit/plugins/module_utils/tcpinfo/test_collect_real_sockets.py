# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_info's numbers on real sockets of the running kernel, in a network namespace made for the test
(unshare --net, as root): two source addresses to one destination, and CLOSE_WAIT sockets still in a listener's
accept queue. The host's own sockets and sysctls are never read or changed."""
import json
import os
import subprocess
import sys

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import collect

IN_NETNS = r"""
import json, os, socket, subprocess, sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import collect

subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
def sysctl(key, value):
    with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
        f.write(value)
sysctl("net.ipv4.tcp_tw_reuse", "0")           # keep every TIME_WAIT port taken
sysctl("net.ipv4.ip_local_port_range", "40000 40199")   # 200 usable ports

# 1. Two source addresses x 120 ports each towards 127.0.0.9:8080, client closes first (TIME_WAIT).
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.9", 8080))
srv.listen(512)
for src in ("127.0.0.2", "127.0.0.3"):
    pairs = []
    for _ in range(120):
        c = socket.socket()
        c.bind((src, 0))
        c.connect(("127.0.0.9", 8080))
        pairs.append((c, srv.accept()[0]))
    for c, a in pairs:
        c.close()
    for c, a in pairs:
        a.close()

# 2. Five connections that the application never accepts; the peers close: CLOSE_WAIT in the accept queue.
lst = socket.socket()
lst.bind(("127.0.0.1", 9090))
lst.listen(16)
peers = [socket.create_connection(("127.0.0.1", 9090)) for _ in range(5)]
for p in peers:
    p.close()
time.sleep(0.2)

r = collect.collect(source="netlink")
out = subprocess.run(["ss", "-Htan", "state", "close-wait"], stdout=subprocess.PIPE, check=True).stdout
print(json.dumps({"result": r, "ss_close_wait": len(out.decode().splitlines()), "pid": os.getpid(),
                  "comm": open("/proc/self/comm").read().strip()}))
"""


@pytest.fixture(scope="module")
def real():
    if os.geteuid() != 0:
        pytest.skip("needs root for unshare --net")
    # The collection tree the unit tests import from (tests/unit/conftest.py makes it).
    base = collect.__file__
    for _level in range(7):
        base = os.path.dirname(base)
    out = subprocess.run(["unshare", "--net", sys.executable, "-c", IN_NETNS, base],
                         stdout=subprocess.PIPE, check=True, timeout=120).stdout
    return json.loads(out.decode().splitlines()[-1])


def test_ports_run_out_per_source_address(real):
    b = real["result"]["ephemeral_ports"]["busiest_destination"]
    # 120 of 200 usable ports from one source: 60 %, not 120 % for the two sources together.
    assert (b["address"], b["port"], b["local_ports_used"]) == ("127.0.0.9", 8080, 120)
    assert b["source"] in ("127.0.0.2", "127.0.0.3")
    assert b["share"] == 0.6
    assert real["result"]["time_wait"]["total"] == 240


def test_accept_queue_close_wait_counted_and_attributed(real):
    cw = real["result"]["close_wait"]
    assert cw["total"] == real["ss_close_wait"] == 5
    assert len(cw["accept_queue"]) == 1
    q = cw["accept_queue"][0]
    assert (q["listener"], q["count"], q["pid"], q["command"]) == ("127.0.0.1:9090", 5, real["pid"], real["comm"])
    assert cw["processes"] == []
    f = [x for x in real["result"]["findings"] if x["id"] == "close_wait_accept_queue"]
    assert f[0]["message"].startswith("5 sockets in CLOSE_WAIT wait in the accept queue of 127.0.0.1:9090, owned by "
                                      "%s (pid %d): the peers gave up before the application called accept()"
                                      % (real["comm"], real["pid"]))
