# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_reset's task on real sockets of the running kernel, in network and pid namespaces made for the test
(unshare --net --pid --mount-proc, as root), so the processes seen are the test's own:

* a run detached as Ansible's async_wrapper detaches it (setsid, double fork, environment replaced: no
  SSH_CONNECTION, no sshd ancestor) still protects the connection of the sshd process of its audit session
  (/proc/PID/sessionid, set here by writing /proc/self/loginuid as pam_loginuid does), and destroys the rest;
* the same detached run with no audit session but ANSIBLE_ASYNC_DIR set refuses ESTABLISHED;
* pid and process filters match every holder of a shared socket, a name longer than 15 characters, and
  CLOSE_WAIT connections still in a listener's accept queue (credited to the listener's holders);
* filters that match nothing warn, naming the filter and what was there.

The host's own sockets and sysctls are never read or changed."""
import json
import os
import subprocess
import sys

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import task

IN_NETNS = r"""
import json, os, socket, subprocess, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import task

subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
BASE = {"states": ["close_wait"], "local": [], "remote": [], "family": "both", "pid": None, "process": None,
        "all": False, "max_sockets": 1000, "sample": 10, "allow_unprotected": False}
R = {}
KEEP = []  # sockets the children hold until they are killed


def run(check=True, **kw):
    try:
        return {"ok": task.run(dict(BASE, **kw), check, os.uname().release)}
    except task.TaskFailed as e:
        return {"failed": e.message, "result": e.result}


def child(body):
    # body() in a child that then waits to be killed; returns its pid once body() is done.
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        body()
        os.write(w, b"x")
        time.sleep(600)
        os._exit(0)
    os.close(w)
    os.read(r, 1)
    return pid


def detached(fn, env):
    # fn() in a grandchild detached as async_wrapper does (setsid, double fork), its environment replaced.
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.setsid()
        middle = os.getpid()
        if os.fork():
            os._exit(0)
        # Once the middle process is gone, as it is long before async_wrapper starts the module: until then it
        # holds what the fork copied (the application's sockets) and is this process's parent.
        while os.getppid() == middle:
            time.sleep(0.01)
        os.environ.clear()
        os.environ.update(env)
        with os.fdopen(w, "wb") as f:
            f.write(json.dumps(fn()).encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    with os.fdopen(r, "rb") as f:
        return json.loads(f.read().decode())


def listener(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    return s


def comm(name):
    with open("/proc/self/comm", "w") as f:
        f.write(name)


# 1. An application connection (ESTABLISHED, both ends here), and a detached async run with no audit session.
app_l = listener(7000)
app_c = socket.create_connection(("127.0.0.1", 7000))
app_a = app_l.accept()[0]
R["async"] = detached(lambda: run(states=["established"], all=True, check=False),
                      {"ANSIBLE_ASYNC_DIR": "/root/.ansible_async"})

# 2. "sshd-session" logs in (a new audit session), holds its connection, starts the detached module.
def sshd():
    for s in (app_l, app_c, app_a):  # inherited from the fork: this login does not hold them
        s.close()
    comm("sshd-session")
    with open("/proc/self/loginuid", "w") as f:
        f.write("0")
    srv = listener(2222)
    cli = socket.create_connection(("127.0.0.1", 2222))
    conn = srv.accept()[0]
    res = detached(lambda: run(states=["established"], all=True, check=False), {"PATH": "/usr/bin:/bin"})
    cli.sendall(b"still here")
    res["echo"] = conn.recv(100).decode()
    res["sessionid"] = int(open("/proc/self/sessionid").read())
    with open(sys.argv[2], "w") as f:
        json.dump(res, f)
sshd_pid = child(sshd)
R["session"] = json.load(open(sys.argv[2]))
try:
    app_a.send(b"x")
    R["app"] = "open"
except OSError as e:
    R["app"] = e.strerror

# 3. A CLOSE_WAIT socket held by a parent and its forked child (comm kt-child).
def parent():
    l = listener(7100)
    peer = socket.create_connection(("127.0.0.1", 7100))
    KEEP.append((l, l.accept()[0]))
    peer_port = peer.getsockname()[1]
    peer.close()
    kid = child(lambda: comm("kt-child"))
    with open(sys.argv[2], "w") as f:
        json.dump({"kid": kid, "peer": "127.0.0.1:%d" % peer_port}, f)
R["parent"] = child(parent)
R.update(json.load(open(sys.argv[2])))
# 4. Three connections never accept()ed by kt-queue, closed by their peers: CLOSE_WAIT in its accept queue.
def queue():
    comm("kt-queue")
    KEEP.append(listener(7200))
R["queue"] = child(queue)
# 5. A process named kerneltune-worker-daemon (comm keeps 15 characters) holding a CLOSE_WAIT socket.
exe = os.path.join(tempfile.mkdtemp(), "kerneltune-worker-daemon")
os.symlink(os.path.realpath(sys.executable), exe)
long = subprocess.Popen([exe, "-c", "import socket, sys, time\n"
    "l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind(('127.0.0.1', 7300))\n"
    "l.listen(4); print('ready', flush=True); a = l.accept()[0]; time.sleep(600)"], stdout=subprocess.PIPE)
long.stdout.readline()
clients = [socket.create_connection(("127.0.0.1", 7200)) for _ in range(3)]
clients.append(socket.create_connection(("127.0.0.1", 7300)))
R["remote_ends"] = sorted(["127.0.0.1:%d" % c.getsockname()[1] for c in clients] + [R["peer"]])
for c in clients:
    c.close()
time.sleep(0.3)
R["long"] = long.pid
R["by_kid_pid"] = run(pid=R["kid"])
R["by_kid_name"] = run(process="kt-child")
R["by_queue_owner"] = run(pid=R["queue"], sample=1)
R["by_long_name"] = run(process="kerneltune-worker-daemon")
R["no_process"] = run(process="nginx", local=[":7100-7200"])
R["no_local"] = run(local=[":9999"])
R["nothing"] = run(states=["last_ack"], remote=["10.0.0.0/8"])
R["comm"] = open("/proc/self/comm").read().strip()
print(json.dumps(R))
"""


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root for unshare --net --pid")
    base = task.__file__
    for _level in range(7):
        base = os.path.dirname(base)
    out_file = str(tmp_path_factory.mktemp("reset") / "out.json")
    out = subprocess.run(["unshare", "--net", "--pid", "--fork", "--mount-proc", sys.executable, "-c", IN_NETNS,
                          base, out_file], stdout=subprocess.PIPE, check=True, timeout=120).stdout
    return json.loads(out.decode().splitlines()[-1])


def test_detached_async_run_without_session_refuses_established(real):
    assert real["async"]["failed"] == (
        "this run is remote (an Ansible async task (ANSIBLE_ASYNC_DIR in the module's environment)) but no socket "
        "of its control connection was found in this network namespace, so it cannot be protected; refusing to "
        "touch ESTABLISHED sockets. Set allow_unprotected: true to go on anyway (the task may cut its own "
        "connection)")
    assert real["async"]["result"]["destroyed"] == 0


def test_detached_run_protects_its_audit_sessions_sshd(real):
    s = real["session"]
    out = s["ok"]
    assert sorted(p["tuple"].split(" -> ")[0].split(":")[1] == "2222" for p in out["protected_sockets"]) == [
        False, True]
    assert out["protected"] == 2 and out["matched"] == 2
    # Destroying one end resets the other: it may be gone when its turn comes.
    assert out["destroyed"] + out["gone"] == 2 and out["destroyed"] >= 1
    assert sorted(x["tuple"].split(" -> ")[0] for x in out["sample"])[1] == "127.0.0.1:7000"
    assert s["echo"] == "still here"  # the control connection survived
    assert s["sessionid"] != 4294967295
    assert real["app"] in ("Software caused connection abort", "Connection reset by peer")


def test_pid_and_process_match_every_holder(real):
    for key in ("by_kid_pid", "by_kid_name"):
        out = real[key]["ok"]
        assert out["matched"] == 1 and out["warnings"] == []
        entry = out["sample"][0]
        assert entry["tuple"].startswith("127.0.0.1:7100 -> ")
        assert (entry["pid"], entry["command"]) == (real["kid"], "kt-child")
        assert [h["pid"] for h in entry["holders"]] == [real["parent"], real["kid"]]


def test_accept_queue_close_wait_matches_the_listeners_owner(real):
    out = real["by_queue_owner"]["ok"]
    assert out["matched"] == 3
    assert out["sample"][0]["accept_queue"] is True
    assert (out["sample"][0]["pid"], out["sample"][0]["command"]) == (real["queue"], "kt-queue")


def test_long_process_name_matches_truncated_comm_and_argv0(real):
    out = real["by_long_name"]["ok"]
    assert out["matched"] == 1
    assert (out["sample"][0]["pid"], out["sample"][0]["command"]) == (real["long"], "kerneltune-work")


def test_filters_that_match_nothing_warn(real):
    assert real["no_process"]["ok"]["matched"] == 0
    assert real["no_process"]["ok"]["warnings"] == [
        "process: nginx matched none of the 4 sockets in close_wait that local: :7100-7200 matched; the processes "
        "holding them: kt-child (pid %d), kt-queue (pid %d), %s (pid %d)"
        % (real["kid"], real["queue"], real["comm"], real["parent"])]
    assert real["no_local"]["ok"]["warnings"] == [
        "local: :9999 matched none of the 5 sockets in close_wait; their local ports include 7100, 7200, 7300; "
        "their remote ends include %s" % ", ".join(real["remote_ends"])]
    assert real["nothing"]["ok"]["warnings"] == [
        "remote: 10.0.0.0/8 matched nothing: no socket is in last_ack in this network namespace"]
