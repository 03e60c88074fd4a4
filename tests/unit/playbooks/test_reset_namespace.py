# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/reset.yml passes kt_reset_namespace through: a real ansible-playbook run (connection local) inside
network, pid and mount namespaces made for the test, where /run/netns is a private tmpfs holding ``blue`` (ip netns
add) with a CLOSE_WAIT socket in it and another in the run's own namespace. Check mode first, then
kt_reset_confirm=true: blue's socket goes, the own namespace's stays. Needs root; the host's sockets and /run/netns
are never touched."""
import json
import os
import subprocess
import sys

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import task

SCRIPT = r"""
import ctypes, json, os, socket, subprocess, sys, time
libc = ctypes.CDLL(None, use_errno=True)
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
if os.path.isdir("/run/netns"):
    subprocess.run(["mount", "-t", "tmpfs", "kt-netns", "/run/netns"], check=True)
else:
    subprocess.run(["mount", "-t", "tmpfs", "kt-run", "/run"], check=True)
    os.mkdir("/run/netns")
subprocess.run(["ip", "netns", "add", "blue"], check=True)


def close_wait():
    l = socket.socket()
    l.bind(("127.0.0.1", 7100))
    l.listen(4)
    c = socket.create_connection(("127.0.0.1", 7100))
    a = l.accept()[0]
    c.close()
    return [l, a]


def count():
    return subprocess.run(["ss", "-tanH", "state", "close-wait"], stdout=subprocess.PIPE, check=True).stdout.count(
        b"7100")


here = close_wait()
r, w = os.pipe()
if os.fork() == 0:
    fd = os.open("/run/netns/blue", os.O_RDONLY)
    assert libc.setns(fd, 0x40000000) == 0
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    there = close_wait()
    os.write(w, b"x")
    time.sleep(600)
    os._exit(0)
os.read(r, 1)
time.sleep(0.2)
env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=sys.argv[1], NO_COLOR="1", ANSIBLE_FORCE_COLOR="0",
           ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
env.pop("SSH_CONNECTION", None)
R = {}
for confirm in (False, True):
    extra = {"kt_reset_states": ["close_wait"], "kt_reset_all": True, "kt_reset_namespace": "blue",
             "kt_reset_confirm": confirm, "ansible_python_interpreter": sys.executable}
    p = subprocess.run([sys.argv[2], "-i", "localhost,", "-c", "local", "kerneltune.tcp.reset", "-e",
                        json.dumps(extra)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    res = json.loads(p.stdout.decode())
    R[str(confirm)] = {"rc": p.returncode, "stderr": p.stderr.decode()[-2000:],
                       "tasks": [t["hosts"]["localhost"] for t in res["plays"][0]["tasks"]]}
R["here"] = count()
fd = os.open("/run/netns/blue", os.O_RDONLY)
assert libc.setns(fd, 0x40000000) == 0
R["blue"] = count()
R["inode"] = os.fstat(fd).st_ino
print(json.dumps(R))
"""


def test_reset_playbook_in_a_named_namespace():
    if os.geteuid() != 0:
        pytest.skip("needs root for unshare --net --pid --mount")
    base = task.__file__
    for _level in range(7):
        base = os.path.dirname(base)
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    proc = subprocess.run(["unshare", "--net", "--pid", "--fork", "--mount-proc", sys.executable, "-c", SCRIPT, base,
                           playbook], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    r = json.loads(proc.stdout.decode().splitlines()[-1])
    for confirm, destroyed in (("False", 0), ("True", 1)):
        run = r[confirm]
        assert run["rc"] == 0, run["stderr"]
        result = run["tasks"][1]
        assert (result["matched"], result["destroyed"], result["namespace"]["name"]) == (1, destroyed, "blue")
        assert result["namespace"]["inode"] == r["inode"]
        assert run["tasks"][2]["msg"].startswith("in network namespace %d (blue): 1 matched, %d destroyed, "
                                                 % (r["inode"], destroyed))
    assert (r["here"], r["blue"]) == (1, 0)
