# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_info namespaces=all and sockets/netns.py on real namespaces of the running kernel, made for the test by
molecule/_shared/files/make_namespaces.py inside private network, pid and mount namespaces (unshare --net --pid
--fork --mount-proc, a tmpfs on /run/netns, as root): discovery sees the test's own namespaces only, never the
host's other containers, and the host's sysctls are never read or changed.

* discover() finds each namespace once (by inode), with its /run/netns name and its processes;
* run_in() reads /proc/self/net and /proc/sys/net of the namespace entered;
* diagnose_all() gives each namespace the counts `nsenter --net=PATH ss -tan` shows, its findings (CLOSE_WAIT
  leak, exhausted destination), worst first;
* without CAP_SYS_ADMIN every other namespace is skipped with the reason, and one warning names them;
* a namespace that goes between discovery and diagnosis (its holder killed, its bind mount deleted) is listed in
  namespaces_skipped with the reason, and the others are diagnosed.
"""
import json
import os
import subprocess
import sys

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import namespaces as ns_lib

HERE = os.path.dirname(os.path.abspath(__file__))
MAKER = os.path.join(HERE, *[os.pardir] * 5, "molecule", "_shared", "files", "make_namespaces.py")

SNIPPET = r"""
import json, os, subprocess, sys
sys.path.insert(0, sys.argv[1])
maker, out_file = sys.argv[2], sys.argv[3]
subprocess.run(["mount", "--make-rprivate", "/"], check=True)
os.makedirs("/run/netns", exist_ok=True)
subprocess.run(["mount", "-t", "tmpfs", "kt-netns", "/run/netns"], check=True)
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import netns
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import namespaces as ns_lib

subprocess.run([sys.executable, maker, "up", "/tmp/kt-ns-state.json", "--time-wait", "150"], check=True,
               stdout=subprocess.DEVNULL)
made = json.load(open("/tmp/kt-ns-state.json"))["namespaces"]
R = {"made": made}


def ss(path):
    lines = subprocess.run(["nsenter", "--net=" + path, "ss", "-Htan"], stdout=subprocess.PIPE, check=True,
                           universal_newlines=True).stdout.splitlines()
    out = {}
    for line in lines:
        state = line.split()[0].lower()
        state = {"estab": "established", "fin-wait-1": "fin_wait1", "fin-wait-2": "fin_wait2"}.get(
            state, state.replace("-", "_"))
        out[state] = out.get(state, 0) + 1
    return out


spaces, unreadable = netns.discover()
R["discover"] = [{"inode": n.inode, "names": n.names, "pids": n.pids, "self": n.is_self, "path": n.path}
                 for n in spaces]
R["ss"] = dict((str(n.inode), ss(n.path)) for n in spaces if not n.is_self)
R["run_in"] = [netns.run_in(n, lambda: (os.stat("/proc/self/ns/net").st_ino,
                                        open("/proc/sys/net/ipv4/ip_local_port_range").read().split()))[0]
               for n in spaces]
opts = {"counter_interval": 0, "top": 3}
R["all"] = ns_lib.diagnose_all(opts)
NOCAP = ("import json, sys; sys.path.insert(0, sys.argv[1]); "
         "from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import namespaces as n; "
         "d, s, c = n.diagnose_all({'counter_interval': 0}); print(json.dumps([d, s, c, n.skipped_warning(s)]))")
R["nocap"] = json.loads(subprocess.run(
    ["setpriv", "--inh-caps=-sys_admin", "--bounding-set=-sys_admin", sys.executable, "-c", NOCAP, sys.argv[1]],
    stdout=subprocess.PIPE, check=True).stdout.decode())

# Gone during the scan: discovered, then the holder of the CLOSE_WAIT namespace killed and kt-empty deleted.
snapshot = netns.discover()
cw = [m for m in made if m["kind"] == "close_wait"][0]
os.kill(cw["pid"], 9)
subprocess.run(["ip", "netns", "delete", "kt-empty"], check=True)
import time
for _ in range(100):
    if not os.path.exists("/proc/%d" % cw["pid"]):
        break
    time.sleep(0.05)
R["gone"] = ns_lib.diagnose_all(opts, discover=lambda *a: snapshot)
subprocess.run([sys.executable, maker, "down", "/tmp/kt-ns-state.json"], check=True)
with open(out_file, "w") as f:
    json.dump(R, f)
print("ok")
"""


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    if os.geteuid() != 0 or subprocess.run(["unshare", "--net", "--pid", "--fork", "--mount-proc", "true"],
                                           check=False).returncode:
        pytest.skip("needs root for unshare --net --pid --mount-proc")
    base = ns_lib.__file__
    for _level in range(7):
        base = os.path.dirname(base)
    out_file = str(tmp_path_factory.mktemp("ns") / "out.json")
    proc = subprocess.run(["unshare", "--net", "--pid", "--fork", "--mount-proc", sys.executable, "-c", SNIPPET,
                           base, os.path.abspath(MAKER), out_file], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    with open(out_file) as f:
        return json.load(f)


def _made(real, kind):
    return [m for m in real["made"] if m["kind"] == kind][0]


def test_discover_finds_each_namespace_once_with_names_and_pids(real):
    by_inode = dict((d["inode"], d) for d in real["discover"])
    assert len(by_inode) == len(real["discover"]) == 5  # the test's own and the four made
    assert [d["self"] for d in real["discover"]] == [True, False, False, False, False]
    assert by_inode[_made(real, "time_wait")["inode"]]["names"] == ["kt-tw"]
    assert _made(real, "time_wait")["pid"] in by_inode[_made(real, "time_wait")["inode"]]["pids"]
    assert by_inode[_made(real, "close_wait")["inode"]]["names"] == []
    assert by_inode[_made(real, "close_wait")["inode"]]["pids"] == [_made(real, "close_wait")["pid"]]
    empty = by_inode[_made(real, "empty")["inode"]]
    assert (empty["names"], empty["pids"], empty["path"]) == (["kt-empty"], [], "/run/netns/kt-empty")


def test_run_in_reads_the_namespace_entered(real):
    got = dict((inode, ports) for inode, ports in real["run_in"])
    assert sorted(got) == sorted(d["inode"] for d in real["discover"])
    assert got[_made(real, "exhausted")["inode"]] == ["40000", "40009"]
    assert got[_made(real, "time_wait")["inode"]] == ["10000", "65000"]
    assert got[_made(real, "empty")["inode"]] == ["32768", "60999"]


def test_counts_equal_ss_in_each_namespace(real):
    spaces, skipped, scan = real["all"]
    assert skipped == []
    assert (scan["found"], scan["diagnosed"], scan["skipped"]) == (5, 4, 0)
    for ns in spaces:
        assert dict((k, v["total"]) for k, v in ns["counts"].items()) == real["ss"][str(ns["inode"])], ns["inode"]
    by_inode = dict((ns["inode"], ns) for ns in spaces)
    assert by_inode[_made(real, "time_wait")["inode"]]["counts"]["time_wait"]["total"] == 150
    assert by_inode[_made(real, "close_wait")["inode"]]["close_wait"]["total"] == 3
    assert by_inode[_made(real, "empty")["inode"]]["total"] == 0


def test_worst_first_with_findings_and_holders(real):
    spaces = real["all"][0]
    ids = [(ns["inode"], [f["id"] for f in ns["findings"]]) for ns in spaces]
    assert ids == [
        (_made(real, "exhausted")["inode"], ["port_exhaustion"]),
        (_made(real, "close_wait")["inode"], ["close_wait_leak"]),
        (_made(real, "time_wait")["inode"], []),
        (_made(real, "empty")["inode"], []),
    ]
    ports = spaces[0]["findings"][0]
    assert ports["severity"] == "error"
    assert ports["message"] == (
        "10 local ports (100% of the usable ephemeral range 40000-40009) are taken from 127.0.0.1 towards "
        "127.0.0.1:5000; connect() from that address to it fails with EADDRNOTAVAIL when none are left")
    cw = spaces[1]["findings"][0]
    pid = _made(real, "close_wait")["pid"]
    assert cw["message"].startswith("kt-close_wait (pid %d) holds 3 sockets in CLOSE_WAIT: the peer closed and the "
                                    "application never called close(); e.g. 127.0.0.1:7100 -> 127.0.0.1:" % pid)
    assert [h["pid"] for h in spaces[1]["close_wait"]["processes"][0]["holders"]] == [pid]
    assert spaces[0]["name"] == "kt-ports" and spaces[1]["name"] is None
    assert "kernel" not in spaces[0] and "nat" not in spaces[0]


def test_namespace_gone_during_the_scan_is_skipped_not_fatal(real):
    spaces, skipped, scan = real["gone"]
    assert sorted((s["inode"], s["name"], s["reason"]) for s in skipped) == sorted([
        (_made(real, "close_wait")["inode"], None,
         "the namespace is gone (its last process exited, or its bind mount was removed, during the scan)"),
        (_made(real, "empty")["inode"], "kt-empty",
         "the namespace is gone (its last process exited, or its bind mount was removed, during the scan)"),
    ])
    assert sorted(ns["inode"] for ns in spaces) == sorted([_made(real, "exhausted")["inode"],
                                                          _made(real, "time_wait")["inode"]])
    assert (scan["found"], scan["diagnosed"], scan["skipped"]) == (5, 2, 2)


def test_without_cap_sys_admin_each_namespace_is_skipped_with_why(real):
    spaces, skipped, scan, warning = real["nocap"]
    why = ("entering another network namespace needs CAP_SYS_ADMIN (setns(2) said: Operation not permitted); run as "
           "root (become: true)")
    assert spaces == []
    assert sorted((s["inode"], s["reason"]) for s in skipped) == sorted(
        (m["inode"], why) for m in real["made"])
    assert (scan["diagnosed"], scan["skipped"]) == (0, 4)
    named = ", ".join("%d%s" % (s["inode"], " (%s)" % s["name"] if s["name"] else "") for s in skipped)
    assert warning == "could not read 4 network namespaces (%s): %s" % (named, why)
