# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_reset's ``namespace`` on real sockets of the running kernel, as root, inside network, pid and mount
namespaces made for the test (unshare --net --pid --fork --mount-proc): /run/netns is a tmpfs of that mount
namespace, so ``ip netns add`` there leaves the machine's /run/netns alone.

Three network namespaces hold the same sockets on the same ports (an ESTABLISHED pair on 7000, a CLOSE_WAIT
socket on 7100, a TIME_WAIT one on 7200): A, the test's own; B, named ``blue`` with ip netns; C, unnamed, made by
a process that called unshare(CLONE_NEWNET). Checked:

* each accepted form (name, inode, net:[inode], pid:N) destroys the matches of that namespace only: the other two
  keep theirs; check mode lists them and destroys nothing; the result names the namespace;
* unknown names, inodes and pids, malformed values, a plain file in /run/netns and a namespace that is gone fail
  with their message word for word, nothing destroyed; without CAP_SYS_ADMIN the task cannot enter and says so;
* the control connection (an "sshd-session" ancestor's sockets) living in the target namespace stays protected,
  its client end held by another process too (by its four-tuple); living in the module's own namespace, it is
  listed in namespace.control_outside and ESTABLISHED may be reset in the target; found in neither (an async
  run), ESTABLISHED is refused with both namespaces named.

The host's own sockets, sysctls and /run/netns are never read or changed."""
import json
import os
import subprocess
import sys

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import task

PRELUDE = r"""
import ctypes, json, os, socket, subprocess, sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import netlink, netns
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import states as st
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import task

for k in ("SSH_CONNECTION", "ANSIBLE_ASYNC_DIR"):
    os.environ.pop(k, None)
BASE = {"states": ["close_wait"], "local": [], "remote": [], "family": "both", "pid": None, "process": None,
        "all": True, "max_sockets": 1000, "sample": 10, "allow_unprotected": False}
libc = ctypes.CDLL(None, use_errno=True)


def run(check=True, **kw):
    try:
        return {"ok": task.run(dict(BASE, **kw), check, os.uname().release)}
    except task.TaskFailed as e:
        return {"failed": e.message, "result": e.result}


def setns(path):
    fd = os.open(path, os.O_RDONLY)
    assert libc.setns(fd, netns.CLONE_NEWNET) == 0, os.strerror(ctypes.get_errno())
    os.close(fd)


def listener(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    return s


def comm(name):
    with open("/proc/self/comm", "w") as f:
        f.write(name)


def forked(fn):
    # fn() in a forked child; its JSON result.
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            data = json.dumps(fn()).encode()
        except BaseException as e:
            data = json.dumps({"crash": repr(e)}).encode()
        with os.fdopen(w, "wb") as f:
            f.write(data)
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    return json.loads(data.decode())
"""

MAIN = PRELUDE + r"""
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
# A private /run/netns: a tmpfs in this mount namespace (unshare made its mounts private).
if os.path.isdir("/run/netns"):
    subprocess.run(["mount", "-t", "tmpfs", "kt-netns", "/run/netns"], check=True)
else:
    subprocess.run(["mount", "-t", "tmpfs", "kt-run", "/run"], check=True)
    os.mkdir("/run/netns")
subprocess.run(["ip", "netns", "add", "blue"], check=True)
open("/run/netns/plain", "w").close()
KEEP = []


def sockets():
    # The same sockets in whatever namespace this runs in: ESTABLISHED on 7000, CLOSE_WAIT on 7100, TIME_WAIT
    # on 7200 (the client's end, after both closed).
    l0, l1, l2 = listener(7000), listener(7100), listener(7200)
    c0 = socket.create_connection(("127.0.0.1", 7000))
    a0 = l0.accept()[0]
    c1 = socket.create_connection(("127.0.0.1", 7100))
    a1 = l1.accept()[0]
    c1.close()
    c2 = socket.create_connection(("127.0.0.1", 7200))
    a2 = l2.accept()[0]
    c2.close()
    time.sleep(0.05)
    a2.close()
    KEEP.extend([l0, l1, l2, c0, a0, a1])


def holder(enter):
    # A process that enters a namespace (enter()), makes the sockets there and waits to be killed.
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        enter()
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        sockets()
        os.write(w, b"x")
        time.sleep(600)
        os._exit(0)
    os.close(w)
    os.read(r, 1)
    return pid


def unshare_net():
    assert libc.unshare(netns.CLONE_NEWNET) == 0


def counts(path=None):
    # {state: [local ports]} of the test's sockets (ports 7000-7200) in the namespace at PATH (None: here).
    def fn():
        out = {}
        def keep(s):
            if 7000 <= s.sport <= 7200 or 7000 <= s.dport <= 7200:
                if s.state in (st.TCP_ESTABLISHED, st.TCP_CLOSE_WAIT, st.TCP_TIME_WAIT):
                    out.setdefault(st.state_name(s.state), []).append(s.sport)
        netlink.dump(keep, st.state_mask(["established", "close_wait", "time_wait"]))
        return {k: sorted(v) for k, v in sorted(out.items())}
    if path is None:
        return fn()
    value, why = netns.run_in(path, fn)
    return value if why is None else why


sockets()
b_holder = holder(lambda: setns("/run/netns/blue"))
c_holder = holder(unshare_net)
d_holder = holder(unshare_net)
R = {"a": os.stat("/proc/self/ns/net").st_ino, "b": os.stat("/run/netns/blue").st_ino,
     "c": os.stat("/proc/%d/ns/net" % c_holder).st_ino, "d": os.stat("/proc/%d/ns/net" % d_holder).st_ino,
     "b_holder": b_holder, "c_holder": c_holder, "d_holder": d_holder}
C = "/proc/%d/ns/net" % c_holder
R["before"] = {"a": counts(), "b": counts("/run/netns/blue"), "c": counts(C)}

# Namespaces that are not there, or not network namespaces; and D, gone after its process was killed.
os.kill(d_holder, 9)
os.waitpid(d_holder, 0)
R["errors"] = {spec: run(namespace=spec) for spec in (
    "nosuch", "4026531000", "1", "pid:99999", "a/b", "pid:x", "", "plain", "net:[%d]" % R["d"],
    "pid:%d" % d_holder)}
R["errors"]["bool"] = run(namespace=True)
# Without CAP_SYS_ADMIN: setns refuses, nothing is destroyed.
R["nocap"] = json.loads(subprocess.run(
    ["setpriv", "--bounding-set=-sys_admin", "--inh-caps=-sys_admin", sys.executable, "-c",
     sys.argv[2] + "print(json.dumps(run(check=False, namespace='blue')))", sys.argv[1]],
    stdout=subprocess.PIPE, check=True).stdout.decode())
R["nocap_counts"] = counts("/run/netns/blue")

# Check mode, by name: what would go in blue, nothing destroyed.
R["check_blue"] = run(namespace="blue", states=["established", "close_wait", "time_wait"])
# The module's own namespace named (by pid 1, this process): acts here, as without the option.
R["self"] = run(namespace="pid:1", states=["last_ack"], remote=["10.0.0.0/8"], all=False)
R["self_nothing_in_blue"] = run(namespace="blue", states=["last_ack"], remote=["10.0.0.0/8"], all=False)

# The control connection in the module's own namespace A ("sshd-session" holds both ends): ESTABLISHED may go in
# C; check mode.
R["outside"] = json.loads(subprocess.run([sys.executable, "-c", sys.argv[2] + sys.argv[3], sys.argv[1], "outside",
                                          str(R["c"])], stdout=subprocess.PIPE, check=True).stdout.decode())
# Real runs, one per form.
R["by_name"] = run(check=False, namespace="blue", states=["close_wait"])
R["by_inode"] = run(check=False, namespace=str(R["c"]), states=["established"])
R["by_net"] = run(check=False, namespace="net:[%d]" % R["b"], states=["time_wait"])
R["by_pid"] = run(check=False, namespace="pid:%d" % c_holder, states=["time_wait"])
R["after"] = {"a": counts(), "b": counts("/run/netns/blue"), "c": counts(C)}
# The control connection inside blue: protected there, both ends; blue's 7000 pair goes.
R["inside"] = json.loads(subprocess.run([sys.executable, "-c", sys.argv[2] + sys.argv[3], sys.argv[1], "inside",
                                         "blue"], stdout=subprocess.PIPE, check=True).stdout.decode())
R["after_inside"] = counts("/run/netns/blue")
# An async run whose control connection is nowhere: ESTABLISHED refused, in another namespace as in its own.
def async_run(spec):
    os.environ["ANSIBLE_ASYNC_DIR"] = "/root/.ansible_async"
    return run(check=False, namespace=spec, states=["established"])
R["async_elsewhere"] = forked(lambda: async_run("pid:%d" % c_holder))
R["async_self"] = forked(lambda: async_run("net:[%d]" % R["a"]))
R["final_a"] = counts()
print(json.dumps(R))
"""

# An "sshd-session" process holding a control connection (in its own namespace, or in the namespace argv[3]
# names); a module run forked below it acts in namespace argv[3]. The client end is held by another process (the
# controller), so only its four-tuple protects it.
SSHD = r"""
comm("sshd-session")
mode, spec = sys.argv[2], sys.argv[3]
home = os.open("/proc/self/ns/net", os.O_RDONLY)
if mode == "inside":
    setns("/run/netns/" + spec)
srv = listener(2222)
cli = socket.create_connection(("127.0.0.1", 2222))
conn = srv.accept()[0]
go_r, go_w = os.pipe()
controller = os.fork()
if controller == 0:
    srv.close()
    conn.close()
    comm("ssh")
    os.read(go_r, 1)
    cli.sendall(b"still here")
    time.sleep(5)
    os._exit(0)
cli.close()
assert libc.setns(home, netns.CLONE_NEWNET) == 0
res = forked(lambda: run(check=mode == "outside", namespace=spec, states=["established"]))
os.write(go_w, b"x")
conn.settimeout(5)
res["echo"] = conn.recv(100).decode()
res["sshd"] = os.getpid()
os.kill(controller, 9)
print(json.dumps(res))
"""


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root for unshare --net --pid --mount")
    base = task.__file__
    for _level in range(7):
        base = os.path.dirname(base)
    proc = subprocess.run(["unshare", "--net", "--pid", "--fork", "--mount-proc", sys.executable, "-c", MAIN, base,
                           PRELUDE, SSHD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    return json.loads(proc.stdout.decode().splitlines()[-1])


def test_sockets_in_three_namespaces(real):
    for ns in "abc":
        got = real["before"][ns]
        assert sorted(got) == ["close_wait", "established", "time_wait"], ns
        assert got["close_wait"] == [7100] and len(got["established"]) == 2 and len(got["time_wait"]) == 1, ns
        assert 7000 in got["established"]
    assert len({real["a"], real["b"], real["c"]}) == 3


FORMS = ("an inode (4026532281 or net:[4026532281]), pid:PID, or a name in /run/netns (NAME or name:NAME)")


def test_unknown_or_malformed_namespaces_fail_word_for_word(real):
    e = real["errors"]
    want = {
        "nosuch": "namespace: no network namespace named nosuch: /run/netns/nosuch does not exist (ip netns list "
                  "names them)",
        "4026531000": "namespace: 4026531000: no network namespace has inode 4026531000 (none of /proc/*/ns/net or "
                      "/run/netns)",
        "1": "namespace: 1: no network namespace has inode 1 (none of /proc/*/ns/net or /run/netns); a bare number is "
             "an inode: write pid:1 for the namespace of process 1",
        "pid:99999": "namespace: pid:99999: no process 99999 (it is not running, or has exited)",
        "a/b": "namespace: 'a/b' is not " + FORMS,
        "pid:x": "namespace: 'pid:x' is not " + FORMS,
        "": "namespace: '' is not " + FORMS,
        "bool": "namespace: True is not " + FORMS,
        "plain": "namespace: /run/netns/plain is not a network namespace (nothing of nsfs is mounted on it)",
        # D's last process was killed: its inode and its pid are gone.
        "net:[%d]" % real["d"]: "namespace: %d: no network namespace has inode %d (none of /proc/*/ns/net or "
                                "/run/netns)" % (real["d"], real["d"]),
        "pid:%d" % real["d_holder"]: "namespace: pid:%d: no process %d (it is not running, or has exited)"
                                     % (real["d_holder"], real["d_holder"]),
    }
    assert sorted(e) == sorted(want)
    for spec, msg in want.items():
        assert e[spec]["failed"] == msg, spec
        assert e[spec]["result"]["destroyed"] == 0 and "namespace" not in e[spec]["result"]


def test_without_cap_sys_admin_nothing_is_entered(real):
    assert real["nocap"]["failed"] == (
        "namespace: cannot enter network namespace blue (inode %d): entering another network namespace needs "
        "CAP_SYS_ADMIN (setns(2) said: Operation not permitted); run as root (become: true); nothing was destroyed"
        % real["b"])
    assert real["nocap"]["result"]["destroyed"] == 0
    assert real["nocap"]["result"]["namespace"]["inode"] == real["b"]
    assert real["nocap_counts"] == real["before"]["b"]


def test_check_mode_lists_the_namespaces_matches(real):
    out = real["check_blue"]["ok"]
    assert out["matched"] == 4 and out["destroyed"] == 0 and out["changed"] is True
    assert sorted(x["state"] for x in out["sample"]) == ["close_wait", "established", "established", "time_wait"]
    ns = out["namespace"]
    assert (ns["inode"], ns["name"], ns["names"], ns["self"], ns["control_outside"]) == (
        real["b"], "blue", ["blue"], False, [])
    assert [p["pid"] for p in ns["owner"]["processes"]] == [real["b_holder"]]
    assert ns["owner"]["container_id"] is None


def test_own_namespace_named_acts_here(real):
    out = real["self"]["ok"]
    assert out["namespace"]["self"] is True and out["namespace"]["inode"] == real["a"]
    assert out["warnings"] == [
        "remote: 10.0.0.0/8 matched nothing: no socket is in last_ack in this network namespace"]
    assert real["self_nothing_in_blue"]["ok"]["warnings"] == [
        "remote: 10.0.0.0/8 matched nothing: no socket is in last_ack in network namespace blue (inode %d)"
        % real["b"]]


def test_each_form_destroys_in_its_namespace_only(real):
    name, inode, net, pid = (real[k]["ok"] for k in ("by_name", "by_inode", "by_net", "by_pid"))
    assert (name["matched"], name["destroyed"], name["namespace"]["name"]) == (1, 1, "blue")
    assert inode["matched"] == 2 and inode["destroyed"] + inode["gone"] == 2 and inode["destroyed"] >= 1
    assert (inode["namespace"]["inode"], inode["namespace"]["name"]) == (real["c"], None)
    assert (net["matched"], net["destroyed"], net["namespace"]["inode"]) == (1, 1, real["b"])
    assert (pid["matched"], pid["destroyed"], pid["namespace"]["inode"]) == (1, 1, real["c"])
    assert pid["namespace"]["owner"]["processes"][0]["pid"] == real["c_holder"]
    before, after = real["before"], real["after"]
    assert after["a"] == before["a"]  # the module's own namespace: untouched
    assert after["b"] == {"established": before["b"]["established"]}
    assert after["c"] == {"close_wait": [7100]}


def test_control_connection_inside_the_target_stays_protected(real):
    res = real["inside"]
    out = res["ok"]
    assert sorted(p["tuple"] for p in out["protected_sockets"])[0].startswith("127.0.0.1:2222 -> ")
    assert len([p for p in out["protected_sockets"] if ":2222" in p["tuple"]]) == 2
    assert out["protected"] == 2 and out["matched"] == 2
    assert out["destroyed"] + out["gone"] == 2 and out["destroyed"] >= 1
    assert sorted(x["tuple"].split(" -> ")[0] for x in out["sample"])[1] == "127.0.0.1:7000"
    assert out["namespace"]["control_outside"] == []
    assert res["echo"] == "still here"
    assert real["after_inside"] == {}


def test_control_connection_in_the_own_namespace_lets_established_go_elsewhere(real):
    out = real["outside"]["ok"]
    assert out["matched"] == 2 and out["destroyed"] == 0 and out["protected"] == 0
    assert sorted(x["tuple"] for x in out["namespace"]["control_outside"])[0].startswith("127.0.0.1:2222 -> ")
    assert {x["state"] for x in out["namespace"]["control_outside"]} == {"established"}
    assert real["outside"]["echo"] == "still here"


def test_control_connection_found_nowhere_refuses_established(real):
    assert real["async_elsewhere"]["failed"] == (
        "this run is remote (an Ansible async task (ANSIBLE_ASYNC_DIR in the module's environment)) but no socket "
        "of its control connection was found, neither in the module's own network namespace nor in network "
        "namespace of pid %d (inode %d), so it cannot be protected; refusing to touch ESTABLISHED sockets. Set "
        "allow_unprotected: true to go on anyway (the task may cut its own connection)"
        % (real["c_holder"], real["c"]))
    assert real["async_elsewhere"]["result"]["destroyed"] == 0
    assert real["async_self"]["failed"] == (
        "this run is remote (an Ansible async task (ANSIBLE_ASYNC_DIR in the module's environment)) but no socket "
        "of its control connection was found in this network namespace, so it cannot be protected; refusing to "
        "touch ESTABLISHED sockets. Set allow_unprotected: true to go on anyway (the task may cut its own "
        "connection)")
    assert real["final_a"] == real["before"]["a"]
