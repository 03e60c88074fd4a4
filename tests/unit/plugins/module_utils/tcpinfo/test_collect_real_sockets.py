# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_info's numbers on real sockets of the running kernel, each case in a network namespace made for it
(tests/helpers/netns.py: unshare --net, as root). The host's own sockets and sysctls are never read or changed.
Processes that hold sockets are forked children that name themselves (/proc/self/comm) and wait to be killed."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), *[os.pardir] * 4, "helpers"))
from netns import run_in_netns, skip_unless_root  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.kerneltune.tcp.plugins.plugin_utils.reports import registry  # noqa: E402

# Shared by the snippets: hold(name, socks) forks a child named ``name`` that keeps ``socks`` open (the parent
# closes its copies unless keep=True); close_wait(n) makes n server-side sockets in CLOSE_WAIT.
HELPERS = r"""
import signal, threading
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import collect
CHILDREN = []

def hold(name, socks, keep=False):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        with open("/proc/self/comm", "w") as f:
            f.write(name)
        os.write(w, b"x")
        signal.pause()
        os._exit(0)
    os.read(r, 1)
    CHILDREN.append(pid)
    if not keep:
        for s in socks:
            s.close()
    return pid

def close_wait(n, port):
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", port))
    lst.listen(4096)
    out = []
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", port))
        out.append(lst.accept()[0])
        c.close()
    lst.close()
    return out

def try_connect(dst):
    # What a plain non-blocking connect() to DST says: "ok" (a port was found) or the errno's name.
    import errno
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect(dst)
        return "ok"
    except BlockingIOError:
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
    finally:
        s.close()

def done(obj):
    for pid in CHILDREN:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    emit(obj)
"""


def netns(snippet):
    skip_unless_root()
    return run_in_netns(HELPERS + snippet)


@pytest.fixture(scope="module")
def per_destination():
    """Two source addresses x 120 connections to one destination, ports chosen by connect() (the source address
    bound with IP_BIND_ADDRESS_NO_PORT), client closes first; and five CLOSE_WAIT sockets never accepted."""
    return netns(r"""
sysctl("net.ipv4.tcp_tw_reuse", "0")
sysctl("net.ipv4.ip_local_port_range", "40000 40199")
srv = socket.socket()
srv.bind(("127.0.0.9", 8080))
srv.listen(512)
for src in ("127.0.0.2", "127.0.0.3"):
    pairs = []
    for _ in range(120):
        c = socket.socket()
        c.setsockopt(socket.IPPROTO_IP, 24, 1)  # IP_BIND_ADDRESS_NO_PORT
        c.bind((src, 0))
        c.connect(("127.0.0.9", 8080))
        pairs.append((c, srv.accept()[0]))
    for c, a in pairs:
        c.close()
    for c, a in pairs:
        a.close()
lst = socket.socket()
lst.bind(("127.0.0.1", 9090))
lst.listen(16)
peers = [socket.create_connection(("127.0.0.1", 9090)) for _ in range(5)]
for p in peers:
    p.close()
time.sleep(0.2)
r = collect.collect(source="netlink", counter_interval=0)
out = subprocess.run(["ss", "-Htan", "state", "close-wait"], stdout=subprocess.PIPE, check=True).stdout
done({"result": r, "ss_close_wait": len(out.decode().splitlines()), "pid": os.getpid(),
      "comm": open("/proc/self/comm").read().strip()})
""")


def test_ports_run_out_per_source_address(per_destination):
    e = per_destination["result"]["ephemeral_ports"]
    b = e["busiest_destination"]
    # 120 of 200 usable ports from one source: 60 %, not 120 % for the two sources together.
    assert (b["address"], b["port"], b["local_ports_used"], b["bound_ports"]) == ("127.0.0.9", 8080, 120, 0)
    assert b["source"] in ("127.0.0.2", "127.0.0.3")
    assert b["share"] == 0.6
    # connect() shared the ports between the two sources: at most 200 held, some free, no verdict needed.
    assert e["exhausted"] is False and e["probe"] is None and e["held"] + e["free"] == 200
    assert per_destination["result"]["time_wait"]["total"] == 240


def test_accept_queue_close_wait_counted_and_attributed(per_destination):
    real = per_destination
    cw = real["result"]["close_wait"]
    assert cw["total"] == real["ss_close_wait"] == 5
    assert len(cw["accept_queue"]) == 1
    q = cw["accept_queue"][0]
    assert (q["listener"], q["count"], q["pid"], q["command"]) == ("127.0.0.1:9090", 5, real["pid"], real["comm"])
    assert cw["processes"] == []
    f = [x for x in real["result"]["findings"] if x["id"] == "close_wait_accept_queue"]
    assert f[0]["message"] == ("5 sockets in CLOSE_WAIT wait in the accept queue of 127.0.0.1:9090, owned by "
                               "%s (pid %d): the peers gave up before the application called accept(); "
                               "TcpExtListenOverflows is 0: no accept queue has overflowed" % (real["comm"], real["pid"]))


def test_big_close_wait_leak_every_holder_has_a_sample():
    """3,000 CLOSE_WAIT sockets in one process and 1 in another (the issue's crash), then four small holders
    after a big one with the dump's sample cut to 1 so that all four depend on the second pass."""
    out = netns(r"""
pids = {"kt-big": hold("kt-big", close_wait(3000, 7000))}
pids["kt-small"] = hold("kt-small", close_wait(1, 7001))
r1 = collect.collect(source="netlink", counter_interval=0)
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import aggregate
aggregate.SAMPLE_CAP = 1
for i in range(4):
    pids["kt-s%d" % i] = hold("kt-s%d" % i, close_wait(2, 7100 + i))
r2 = collect.collect(source="netlink", counter_interval=0)
done({"r1": r1, "r2": r2, "pids": pids})
""")
    pids = out["pids"]
    procs = dict((p["command"], p) for p in out["r1"]["close_wait"]["processes"])
    assert (procs["kt-big"]["count"], procs["kt-small"]["count"]) == (3000, 1)
    assert len(procs["kt-big"]["sample"]) == 5
    assert len(procs["kt-small"]["sample"]) == 1
    assert procs["kt-small"]["sample"][0].startswith("127.0.0.1:7001 -> 127.0.0.1:")
    leak = dict((f["message"].split(" holds ")[0], f["message"]) for f in out["r1"]["findings"]
                if f["id"] == "close_wait_leak")
    assert leak["kt-small (pid %d)" % pids["kt-small"]] == (
        "kt-small (pid %d) holds 1 socket in CLOSE_WAIT: the peer closed and the application never called close(); "
        "e.g. %s" % (pids["kt-small"], procs["kt-small"]["sample"][0]))
    procs = dict((p["command"], p) for p in out["r2"]["close_wait"]["processes"])
    for i in range(4):
        p = procs["kt-s%d" % i]
        assert p["count"] == 2 and len(p["sample"]) == 2 and p["holders"] == [
            {"pid": pids["kt-s%d" % i], "command": "kt-s%d" % i, "cmdline": p["cmdline"]}]
        assert all(t.startswith("127.0.0.1:%d -> " % (7100 + i)) for t in p["sample"])


def test_shared_socket_names_every_holder():
    """A CLOSE_WAIT socket held by a parent and its forked child: one socket, both holders named."""
    out = netns(r"""
socks = close_wait(2, 7200)
with open("/proc/self/comm", "w") as f:
    f.write("kt-parent")
child = hold("kt-child", socks, keep=True)  # the parent keeps its copies
r = collect.collect(source="netlink", counter_interval=0)
done({"r": r, "parent": os.getpid(), "child": child})
""")
    procs = out["r"]["close_wait"]["processes"]
    assert len(procs) == 1 and procs[0]["count"] == 2
    assert [(h["pid"], h["command"]) for h in procs[0]["holders"]] == [(out["parent"], "kt-parent"),
                                                                       (out["child"], "kt-child")]
    owner = "kt-parent (pid %d) and kt-child (pid %d)" % (out["parent"], out["child"])
    assert procs[0]["owner"] == owner
    f = [x for x in out["r"]["findings"] if x["id"] == "close_wait_leak"]
    assert f[0]["message"].startswith(owner + " hold 2 sockets in CLOSE_WAIT: ")


# The case: 100 ports of 40000-40099, taken with bind(address, 0) before connect(), tcp_tw_reuse=0; here
# one of them by a listener inside the range. The kernel decides: the next connect() (no bind) to a new
# destination, and the module's probe.
BOUND = r"""
sysctl("net.ipv4.tcp_tw_reuse", "0")
sysctl("net.ipv4.ip_local_port_range", "40000 40099")
srv = socket.socket()
srv.bind(("127.0.0.9", 8080))
srv.listen(512)
inrange = socket.socket()
inrange.bind(("0.0.0.0", 40050))
inrange.listen(8)
clients = []
for i in range(99):
    c = socket.socket()
    if BIND:
        c.bind(("127.0.0.2", 0))
    c.connect(("127.0.0.9", 8080))
    clients.append(c)
    srv.accept()[0].close()
pid = hold("kt-clients", clients)
real_new = try_connect(("127.0.0.20", 9999))
real_same = try_connect(("127.0.0.9", 8080))
r = collect.collect(source="netlink", counter_interval=0)
done({"r": r, "new": real_new, "same": real_same, "pid": pid})
"""


@pytest.fixture(scope="module")
def bound():
    return netns("BIND = True\n" + BOUND)


def test_ports_taken_by_bind_exhaust_every_destination(bound):
    out = bound
    e = out["r"]["ephemeral_ports"]
    assert out["new"] == "EADDRNOTAVAIL"  # the kernel: no port for any destination
    assert (e["held"], e["free"], e["exhausted"], e["probe"]) == (100, 0, True, "EADDRNOTAVAIL")
    assert (e["bound"], e["listeners_in_range"]) == (100, [40050])
    assert e["busiest_destination"]["share"] == 1.0
    assert e["holders"][0]["owner"] == "kt-clients (pid %d)" % out["pid"] and e["holders"][0]["ports"] == 99
    f = out["r"]["findings"]
    assert [x["id"] for x in f if x["severity"] == "error"] == ["ports_bound"]
    assert "time_wait_outbound" not in [x["id"] for x in f]
    listener = e["holders"][1]["owner"]
    assert f[0]["message"] == (
        "connect() fails with EADDRNOTAVAIL towards every destination: all 100 usable ephemeral ports "
        "(40000-40099, 0 reserved) are held by ports taken with bind(), which the kernel's automatic port choice "
        "skips whatever the destination (1 of them by listeners in the range: 40050); held by kt-clients (pid %d): "
        "99 ports; %s: 1 port" % (out["pid"], listener))
    assert f[0]["remedy"] == (
        "set IP_BIND_ADDRESS_NO_PORT on sockets that bind(address, 0) before connect() (Linux 4.2+: the port is "
        "then chosen by connect(), per destination); move listeners out of net.ipv4.ip_local_port_range or list "
        "their ports in net.ipv4.ip_local_reserved_ports; widen net.ipv4.ip_local_port_range (high_outbound_client "
        "profile). tcp_tw_reuse cannot help: the kernel skips these ports before it looks at TIME_WAIT")


def test_ports_taken_by_connect_exhaust_one_destination_only():
    out = netns("BIND = False\n" + BOUND)
    e = out["r"]["ephemeral_ports"]
    # Every port is held, yet connect() to a new destination works: the kernel agrees with the probe.
    assert (out["new"], out["same"]) == ("ok", "EADDRNOTAVAIL")
    assert (e["held"], e["free"], e["exhausted"], e["probe"], e["bound"]) == (100, 0, False, "ok", 1)
    b = e["busiest_destination"]
    assert (b["address"], b["port"], b["local_ports_used"], b["bound_ports"], b["share"]) == (
        "127.0.0.9", 8080, 99, 1, 1.0)
    f = out["r"]["findings"]
    assert [x["id"] for x in f if x["severity"] == "error"] == ["port_exhaustion"]
    assert f[0]["message"] == (
        "99 local ports and 1 more held through bind() for every destination (100%% of the usable ephemeral range "
        "40000-40099) are taken from %s towards 127.0.0.9:8080; connect() from that address to it fails with "
        "EADDRNOTAVAIL when none are left" % b["source"])


def test_listen_queue_full_now_and_overflow_rate():
    """A listener nobody accepts from (backlog 2), clients still arriving during the probe: the queue is full
    now and TcpExtListenOverflows rises; once the clients stop, the counter stays and the rate finding goes."""
    out = netns(r"""
lst = socket.socket()
lst.bind(("127.0.0.1", 7300))
lst.listen(2)
pid = hold("kt-slow", [lst], keep=True)
lst.close()
def connect_some(n):
    for _ in range(n):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", 7300))
        except BlockingIOError:
            pass
        CLIENTS.append(c)
CLIENTS = []
connect_some(5)  # 3 fill the queue (backlog 2), the SYNs of 2 more overflow it: the counter is above 0
time.sleep(0.2)
t = threading.Timer(0.1, connect_some, (5,))
t.start()
busy = collect.collect(source="netlink", counter_interval=0.6)
t.join()
for c in CLIENTS[3:]:
    c.close()
time.sleep(1.5)
quiet = collect.collect(source="netlink", counter_interval=0.3)
done({"busy": busy, "quiet": quiet, "pid": pid})
""")
    q = out["busy"]["listen_queues"][0]
    assert (q["listener"], q["queued"], q["backlog"], q["full"], q["owner"]) == (
        "127.0.0.1:7300", 3, 2, True, "kt-slow (pid %d)" % out["pid"])
    f = dict((x["id"], x) for x in out["busy"]["findings"])
    assert f["listen_queue_full"]["message"] == (
        "the accept queue of 127.0.0.1:7300 is full now (3 connections wait for accept(), backlog 2), held by "
        "kt-slow (pid %d): new connections are dropped or get SYN cookies" % out["pid"])
    d = out["busy"]["counter_deltas"]["TcpExtListenOverflows"]
    assert d > 0
    assert f["listen_overflow"]["message"] == (
        "TcpExtListenOverflows rose by %d in %.1f s (%d since the namespace started): accept queues are overflowing "
        "now" % (d, out["busy"]["counter_seconds"], out["busy"]["counters"]["TcpExtListenOverflows"]))
    quiet = dict((x["id"], x) for x in out["quiet"]["findings"])
    assert out["quiet"]["counters"]["TcpExtListenOverflows"] > 0
    assert "listen_overflow" not in quiet and "listen_queue_full" in quiet


def test_reports_name_the_cause_and_every_socket(bound):
    """The controller's reports on the real result: the exhausted range instead of a 1 % destination, the
    source address, the CLOSE_WAIT column adding up (99 client sockets held, none queued), remedies shown."""
    files = registry.build("diagnose", {"h1": bound["r"]}, ["h1"])["files"]
    md, html = files["markdown"], files["html"]
    assert "| h1 | 0 (0/0) | 99 | every destination: all 100 usable ports held through bind() | error ports\\_bound" \
        in md
    assert "CLOSE_WAIT: 99; held by kt-clients (pid %d): 99, e.g. 127.0.0.2:" % bound["pid"] in md
    assert "<details" not in html and "Remedy: set IP_BIND_ADDRESS_NO_PORT on sockets" in html


def test_owner_outside_the_pid_namespace():
    """tcp_info in its own pid namespace (its own /proc) while the holder lives outside it: what is known is
    said (the socket's uid), never "None (pid None)"; the accept queue counts in the CLOSE_WAIT column."""
    out = netns(r"""
socks = close_wait(3, 7400)
pid = hold("kt-outside", socks)
lst = socket.socket()
lst.bind(("127.0.0.1", 7401))
lst.listen(8)
for _ in range(2):
    socket.create_connection(("127.0.0.1", 7401)).close()
time.sleep(0.2)
code = ("import sys, json; sys.path.insert(0, sys.argv[1]); "
        "from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import collect; "
        "print(json.dumps(collect.collect(source='netlink', counter_interval=0)))")
r = json.loads(subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", code,
                               COLLECTION], stdout=subprocess.PIPE, check=True).stdout)
done({"r": r})
""")
    cw = out["r"]["close_wait"]
    p = cw["processes"][0]
    assert (p["pid"], p["holders"], p["count"], p["uid"]) == (None, [], 3, 0)
    assert p["owner"] == "a process outside this pid namespace or already gone (socket uid 0)"
    assert len(p["sample"]) == 3
    f = [x["message"] for x in out["r"]["findings"] if x["id"] == "close_wait_leak"]
    assert f == ["a process outside this pid namespace or already gone (socket uid 0) holds 3 sockets in CLOSE_WAIT: "
                 "the peer closed and the application never called close(); e.g. %s" % p["sample"][0]]
    files = registry.build("diagnose", {"h1": out["r"]}, ["h1"])["files"]
    assert "None" not in files["markdown"] and "None" not in files["html"]
    q = cw["accept_queue"][0]
    assert (q["listener"], q["count"]) == ("127.0.0.1:7401", 2)
    assert ("CLOSE_WAIT: 5; held by a process outside this pid namespace or already gone (socket uid 0): 3, e.g. "
            in files["markdown"])
    assert ("; held by accept queue of 127.0.0.1:7401 (%s): 2, e.g. 127.0.0.1:7401 -\\> " % q["owner"]
            in files["markdown"])
    assert "<br>accept queue of 127.0.0.1:7401 (%s): 2</td>" % q["owner"] in files["html"]


# A partial fill (issue 23): 90 of the 100 ports of 40000-40099 held by ESTABLISHED clients of one destination,
# tcp_tw_reuse=0. MODE "bind": bind(address, 0) then connect(), so every later connect() skips those 90 ports
# whatever the destination; "connect": plain connect(); "no_port": bind(address, 0) with IP_BIND_ADDRESS_NO_PORT
# first, which INET_DIAG_SOCKOPT exports. The kernel is asked with real connect() calls to another destination (a
# port with no listener: the SYN meets a RST, no TIME_WAIT), before and after 10 more clients fill the range.
PARTIAL = r"""
sysctl("net.ipv4.tcp_tw_reuse", "0")
sysctl("net.ipv4.ip_local_port_range", "40000 40099")
srv = socket.socket()
srv.bind(("127.0.0.9", 8080))
srv.listen(512)
accepted = []

def clients(n):
    out = []
    for _ in range(n):
        c = socket.socket()
        if MODE == "no_port":
            c.setsockopt(socket.IPPROTO_IP, 24, 1)  # IP_BIND_ADDRESS_NO_PORT
        if MODE in ("bind", "no_port"):
            c.bind(("127.0.0.2", 0))
        c.connect(("127.0.0.9", 8080))
        accepted.append(srv.accept()[0])
        out.append(c)
    return out


pid = hold("kt-binders", clients(90))
r = collect.collect(source="netlink", counter_interval=0)
other = try_connect(("127.0.0.20", 9))
hold("kt-binders-2", clients(10))
full = collect.collect(source="netlink", counter_interval=0)
other_full = try_connect(("127.0.0.20", 9))
done({"r": r, "full": full, "other": other, "other_full": other_full, "pid": pid})
"""

HELD_RANGE_REMEDY = (
    "Confirm with a test connect() to a destination these sockets do not use: it still succeeds, and fails with "
    "EADDRNOTAVAIL once the remaining ports are gone (a dump cannot tell a port bind() took from one connect() "
    "took). Where clients bind(address, 0) before connect(), set IP_BIND_ADDRESS_NO_PORT before bind() (Linux 4.2+: "
    "the port is then chosen by connect(), per destination); move listeners out of net.ipv4.ip_local_port_range or "
    "list their ports in net.ipv4.ip_local_reserved_ports; widen net.ipv4.ip_local_port_range (high_outbound_client "
    "profile). tcp_tw_reuse cannot help: the kernel skips ports bind() took before it looks at TIME_WAIT")


def _by_id(findings):
    return dict((f["id"], f) for f in findings)


def _partial(mode):
    return netns("MODE = %r\n" % mode + PARTIAL)


def _destination_finding(src):
    return {
        "id": "port_exhaustion", "severity": "error",
        "message": "90 local ports (90%% of the usable ephemeral range 40000-40099) are taken from %s towards "
                   "127.0.0.9:8080; connect() from that address to it fails with EADDRNOTAVAIL when none are left"
                   % src,
        "remedy": "Pool and reuse connections to 127.0.0.9:8080 with keep-alive: 90 of these ports are held by open "
                  "connections (ESTABLISHED or closing, not TIME_WAIT), which tcp_tw_reuse cannot free; spread "
                  "connections over more source addresses (ports run out per source, destination and port); widen "
                  "net.ipv4.ip_local_port_range"}


@pytest.mark.parametrize("mode", ["bind", "connect"])
def test_partial_fill_whole_range_share_and_its_finding(mode):
    out = _partial(mode)
    e = out["r"]["ephemeral_ports"]
    assert (e["held"], e["free"], e["bound"], e["connect_chosen"], e["held_share"], e["maybe_bound_share"],
            e["left_if_bound"], e["exhausted"], e["probe"]) == (90, 10, 0, 0, 0.9, 0.9, 10, False, None)
    f = _by_id(out["r"]["findings"])
    assert sorted(f) == ["port_exhaustion", "ports_held_range"]
    assert f["ports_held_range"] == {
        "id": "ports_held_range", "severity": "warning",
        "message": "90 of the 100 usable ephemeral ports (40000-40099) are held by sockets whatever their destination "
                   "(90%%); if these ports were taken by bind() (clients that bind a source address before connect(), "
                   "0 listeners in the range) only 10 ports remain for every destination; held by kt-binders "
                   "(pid %d): 90 ports" % out["pid"],
        "remedy": HELD_RANGE_REMEDY}
    # The per-destination finding stays right, with the remedy for open connections (not tcp_tw_reuse).
    src = e["busiest_destination"]["source"]
    assert src == ("127.0.0.2" if mode == "bind" else "127.0.0.1")
    assert f["port_exhaustion"] == _destination_finding(src)
    # What the finding says, by the kernel: another destination still gets one of the 10 free ports.
    assert out["other"] == "ok"
    full = out["full"]["ephemeral_ports"]
    if mode == "bind":
        # All 100 taken by bind(): no port for any destination; the module's probe and a real connect() agree.
        assert (out["other_full"], full["exhausted"], full["probe"]) == ("EADDRNOTAVAIL", True, "EADDRNOTAVAIL")
        assert [x["id"] for x in out["full"]["findings"] if x["severity"] == "error"] == ["ports_bound"]
    else:
        # Ports connect() took are shared by every other destination.
        assert (out["other_full"], full["exhausted"], full["probe"]) == ("ok", False, "ok")


def test_partial_fill_with_bind_address_no_port_is_told_apart():
    out = _partial("no_port")
    e = out["r"]["ephemeral_ports"]
    # INET_DIAG_SOCKOPT (Linux 5.10+) says connect() chose these 90 ports: none can be a bind() port.
    assert (e["held"], e["free"], e["connect_chosen"], e["maybe_bound_share"], e["left_if_bound"]) == (
        90, 10, 90, 0.0, 100)
    f = _by_id(out["r"]["findings"])
    assert sorted(f) == ["port_exhaustion"]
    assert f["port_exhaustion"] == _destination_finding("127.0.0.2")
    assert (out["other"], out["other_full"]) == ("ok", "ok")


def test_bound_unconnected_sockets_are_bound_ports_not_connections():
    # The kernel dumps a bound-but-unconnected socket (asked with bit 13, TCP_BOUND_INACTIVE) in its own state,
    # TCP_CLOSE: its port is a bind() port, and it is no connection towards 0.0.0.0:0.
    out = netns(r"""
sysctl("net.ipv4.ip_local_port_range", "40000 40003")
keep = []
for port in (40000, 40001):
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    keep.append(s)
s = socket.socket(socket.AF_INET6)
s.bind(("::1", 40002))
keep.append(s)
r = collect.collect(source="netlink", counter_interval=0)
done({"r": r})
""")
    e = out["r"]["ephemeral_ports"]
    assert (e["held"], e["free"], e["bound"], e["left_if_bound"]) == (3, 1, 3, 1)
    assert e["busiest_destination"] is None
    assert out["r"]["counts"] == {}
    assert out["r"]["findings"] == []  # no port_exhaustion "towards 0.0.0.0:0"


def test_odd_sized_range_connect_never_takes_its_highest_port():
    # __inet_hash_connect rounds the ports it scans down to an even number: in 40000-40002 with 40000 and 40001
    # bound, 40002 is free but connect() fails; the module counts 2 usable ports and its probe agrees.
    out = netns(r"""
sysctl("net.ipv4.ip_local_port_range", "40000 40002")
keep = []
for port in (40000, 40001):
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    keep.append(s)
r = collect.collect(source="netlink", counter_interval=0)
real = try_connect(("127.0.0.20", 9))
done({"r": r, "real": real})
""")
    e = out["r"]["ephemeral_ports"]
    assert (e["size"], e["usable"], e["held"], e["free"], e["exhausted"], e["probe"], out["real"]) == (
        3, 2, 2, 0, True, "EADDRNOTAVAIL", "EADDRNOTAVAIL")


def test_proc_source_cannot_see_bound_ports_so_the_kernel_is_asked():
    # /proc/net/tcp lists no socket that only holds a port: three bind()-only sockets in 40000-40003 and a listener
    # look like one held port and three free. Under source=proc the module asks the kernel anyway, and its answer
    # is connect()'s: EADDRNOTAVAIL, the range exhausted, the ports_bound error.
    out = netns(r"""
sysctl("net.ipv4.ip_local_port_range", "40000 40003")
keep = []
for port in (40000, 40002, 40003):
    s = socket.socket(socket.AF_INET6)
    s.bind(("::1", port))
    keep.append(s)
s = socket.socket(socket.AF_INET6)
s.bind(("::", 40001))
s.listen(5)
keep.append(s)
r = collect.collect(source="proc", counter_interval=0)
n = collect.collect(source="netlink", counter_interval=0)
real = try_connect(("127.0.0.20", 9))
done({"r": r, "n": n, "real": real})
""")
    assert out["real"] == "EADDRNOTAVAIL"
    e = out["r"]["ephemeral_ports"]
    assert out["r"]["source"] == "proc"
    assert (e["held"], e["free"], e["probe"], e["exhausted"]) == (1, 3, "EADDRNOTAVAIL", True)
    assert [f["id"] for f in out["r"]["findings"] if f["id"].startswith("ports")] == ["ports_bound"]
    assert out["n"]["ephemeral_ports"]["exhausted"] is True


def test_proc_source_probe_ok_keeps_the_partial_fill_warning():
    # Under source=proc the probe runs whatever the count; when connect() still finds a port, the range-wide
    # warning for a partial fill stays (it says "if"), as under netlink.
    out = netns(r"""
sysctl("net.ipv4.ip_local_port_range", "40000 40009")
sysctl("net.ipv4.tcp_tw_reuse", "0")
srv = socket.socket()
srv.bind(("127.0.0.9", 8080))
srv.listen(64)
keep = []
for i in range(9):
    c = socket.socket()
    c.bind(("127.0.0.1", 0))
    c.connect(("127.0.0.9", 8080))
    keep.append(c)
    keep.append(srv.accept()[0])
r = collect.collect(source="proc", counter_interval=0)
done({"r": r})
""")
    e = out["r"]["ephemeral_ports"]
    assert (e["held"], e["free"], e["probe"], e["exhausted"]) == (9, 1, "ok", False)
    assert "ports_held_range" in [f["id"] for f in out["r"]["findings"]]
