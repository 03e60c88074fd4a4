# SPDX-License-Identifier: GPL-3.0-or-later
"""Network namespaces with real sockets, owned by processes in cgroups named as container runtimes name theirs.

  make_namespaces.py up STATE [--cgroups] [--time-wait N]   make them; STATE gets what was made (JSON)
  make_namespaces.py bench STATE COUNT SOCKETS [FIRST]      COUNT more `ip netns` namespaces (kt-bench-FIRST...),
                                                            SOCKETS ESTABLISHED sockets each (held open: they
                                                            do not expire as TIME_WAIT does after 60 s)
  make_namespaces.py down STATE                             kill the holders, delete the namespaces and cgroups

`up` makes four namespaces (run it as root, in a privileged container or in private pid and mount namespaces:
it changes net.* keys inside the namespaces it makes only, never the caller's):

* kt-tw (ip netns add): N TIME_WAIT sockets (tcp_tw_reuse=0 in it), the listener held by a process in a
  Docker cgroup (system.slice/docker-<64 hex>.scope);
* an `unshare --net` namespace (no name): 3 sockets in CLOSE_WAIT held by a process in a kubepods cgroup
  (kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid with underscores>.slice/
  cri-containerd-<64 hex>.scope);
* kt-ports (ip netns add): ip_local_port_range 40000 40009, ten connections to 127.0.0.1:5000 held open (the
  destination is exhausted), by a process in a nested cgroup (a podman container inside a Docker one:
  system.slice/docker-<outer>.scope/libpod_parent/libpod-<inner>.scope);
* kt-empty (ip netns add): nothing in it, no process.

With --cgroups the holders are moved into those cgroups under the caller's own cgroup v2 path (a cgroup2 tree is
mounted at /run/kt-cgroup2 when none is); without it they stay where they are and own nothing. Each holder
names itself kt-KIND (/proc/self/comm) and sleeps until `down` (or SIGTERM). Python 3.9+, standard library only (runs in the test containers).
"""
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time

CLONE_NEWNET = 0x40000000
CGROUP2 = "/run/kt-cgroup2"
DOCKER_ID = "d0c4e7" + "1" * 58
CRI_ID = "c7a1" + "2" * 60
POD_UID = "5f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
OUTER_ID = "0be7" + "3" * 60
INNER_ID = "1a2b" + "4" * 60
KINDS = {
    "docker": {"cgroup": "system.slice/docker-%s.scope" % DOCKER_ID,
               "owner": {"runtime": "docker", "container_id": DOCKER_ID, "pod_uid": None}},
    "kubepods": {"cgroup": "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s.slice/"
                           "cri-containerd-%s.scope" % (POD_UID.replace("-", "_"), CRI_ID),
                 "owner": {"runtime": "containerd", "container_id": CRI_ID, "pod_uid": POD_UID}},
    "nested": {"cgroup": "system.slice/docker-%s.scope/libpod_parent/libpod-%s.scope" % (OUTER_ID, INNER_ID),
               "owner": {"runtime": "podman", "container_id": INNER_ID, "pod_uid": None}},
}
LIBC = ctypes.CDLL(None, use_errno=True)


def sh(*argv):
    subprocess.run(list(argv), check=True, stdout=subprocess.DEVNULL)


def sysctl(key, value):
    with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
        f.write(value)


def enter(path=None):
    """This process into the namespace at PATH (setns), or into a new one (unshare); loopback up."""
    if path is None:
        rc = LIBC.unshare(CLONE_NEWNET)
    else:
        fd = os.open(path, os.O_RDONLY)
        rc = LIBC.setns(fd, CLONE_NEWNET)
        os.close(fd)
    if rc != 0:
        raise OSError(ctypes.get_errno(), "setns/unshare failed")
    sh("ip", "link", "set", "lo", "up")


def cgroup_base():
    """(mount point of a cgroup2 tree, this process's path in it)."""
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split(" - ")[0].split()[4] for line in f if " - cgroup2 " in line]
    if mounts:
        root = mounts[0]
    else:
        os.makedirs(CGROUP2, exist_ok=True)
        sh("mount", "-t", "cgroup2", "none", CGROUP2)
        root = CGROUP2
    with open("/proc/self/cgroup") as f:
        path = [line.strip().split(":", 2)[2] for line in f if line.startswith("0::")][0]
    return root, path


def place(kind, base):
    """Move this process into the cgroup KIND names, under BASE; the cgroup's path."""
    root, path = base
    rel = os.path.join(path.lstrip("/"), KINDS[kind]["cgroup"])
    full = os.path.join(root, rel)
    os.makedirs(full, exist_ok=True)
    with open(os.path.join(full, "cgroup.procs"), "w") as f:
        f.write(str(os.getpid()))
    return full


def time_wait(n, port):
    """N TIME_WAIT sockets (client side, client closes first); the listener, which the caller keeps."""
    sysctl("net.ipv4.tcp_tw_reuse", "0")
    sysctl("net.ipv4.tcp_max_tw_buckets", "400000")
    sysctl("net.ipv4.ip_local_port_range", "10000 65000")
    lst = socket.socket()
    lst.bind(("127.0.0.1", port))
    lst.listen(4096)
    for _i in range(n):
        c = socket.create_connection(("127.0.0.1", port))
        s = lst.accept()[0]
        c.close()
        s.close()
    return [lst]


def close_wait(n, port):
    lst = socket.socket()
    lst.bind(("127.0.0.1", port))
    lst.listen(64)
    keep = []
    for _i in range(n):
        c = socket.create_connection(("127.0.0.1", port))
        keep.append(lst.accept()[0])
        c.close()
    return keep + [lst]


def established(n, port):
    """N sockets held open: n/2 connections over loopback, both ends, and the listener."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", port))
    lst.listen(4096)
    keep = [lst]
    for _i in range(n // 2):
        c = socket.create_connection(("127.0.0.1", port))
        keep += [c, lst.accept()[0]]
    return keep


def exhausted(port):
    sysctl("net.ipv4.ip_local_port_range", "40000 40009")
    lst = socket.socket()
    lst.bind(("127.0.0.1", port))
    lst.listen(64)
    keep = [lst]
    for _i in range(10):
        c = socket.create_connection(("127.0.0.1", port))
        keep += [c, lst.accept()[0]]
    return keep


def holder(spec, base):
    """Fork a process that goes into spec's cgroup and namespace, makes its sockets and sleeps; (pid, info)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the holder
        code = 0
        try:
            os.close(r)
            os.setsid()
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            info = {"pid": os.getpid(), "kind": spec["kind"], "name": spec.get("name"),
                    "command": ("kt-" + spec["kind"])[:15]}
            with open("/proc/self/comm", "w") as f:
                f.write(info["command"])
            if base is not None and spec.get("cgroup"):
                info["cgroup_dir"] = place(spec["cgroup"], base)
                info["cgroup"] = spec["cgroup"]
                info["owner"] = KINDS[spec["cgroup"]]["owner"]
            enter(("/run/netns/%s" % spec["name"]) if spec.get("name") else None)
            info["inode"] = os.stat("/proc/self/ns/net").st_ino
            # Held until the process is killed.
            keep = spec["make"]()  # noqa: F841  pylint: disable=unused-variable
            os.write(w, json.dumps(info).encode())
            os.close(w)
            signal.signal(signal.SIGTERM, lambda *_a: os._exit(0))
            while True:
                signal.pause()
        except BaseException as e:  # pylint: disable=broad-except
            try:
                os.write(w, json.dumps({"error": "%s: %s" % (type(e).__name__, e)}).encode())
            except OSError:
                pass
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        info = json.loads(f.read().decode() or '{"error": "the holder died"}')
    if "error" in info:
        raise SystemExit("make_namespaces.py: %s: %s" % (spec["kind"], info["error"]))
    return info


def add_netns(name):
    subprocess.run(["ip", "netns", "delete", name], stderr=subprocess.DEVNULL, check=False)
    sh("ip", "netns", "add", name)
    return os.stat("/run/netns/%s" % name).st_ino


def up(state, cgroups, n_tw):
    base = cgroup_base() if cgroups else None
    made = []
    for name in ("kt-tw", "kt-ports", "kt-empty"):
        add_netns(name)
    specs = [
        {"kind": "time_wait", "name": "kt-tw", "cgroup": "docker", "make": lambda: time_wait(n_tw, 7000)},
        {"kind": "close_wait", "name": None, "cgroup": "kubepods", "make": lambda: close_wait(3, 7100)},
        {"kind": "exhausted", "name": "kt-ports", "cgroup": "nested", "make": lambda: exhausted(5000)},
    ]
    for spec in specs:
        made.append(holder(spec, base))
    made.append({"pid": None, "kind": "empty", "name": "kt-empty", "inode": os.stat("/run/netns/kt-empty").st_ino})
    with open(state, "w") as f:
        json.dump({"namespaces": made}, f, indent=1)
    print(json.dumps({"namespaces": made}))


def bench(state, count, sockets, first=0):
    try:
        with open(state) as f:
            made = json.load(f)["namespaces"]
    except (OSError, ValueError):
        made = []
    for i in range(first, first + count):
        name = "kt-bench-%d" % i
        add_netns(name)
        made.append(holder({"kind": "established", "name": name, "make": lambda: established(sockets, 7000)}, None))
    with open(state, "w") as f:
        json.dump({"namespaces": made}, f, indent=1)
    print(json.dumps({"made": len(made)}))


def down(state):
    try:
        with open(state) as f:
            made = json.load(f)["namespaces"]
    except (OSError, ValueError):
        return
    for ns in made:
        if ns.get("pid"):
            try:
                os.kill(ns["pid"], signal.SIGTERM)
            except OSError:
                pass
    time.sleep(0.2)
    for ns in made:
        if ns.get("name"):
            subprocess.run(["ip", "netns", "delete", ns["name"]], stderr=subprocess.DEVNULL, check=False)
        d = ns.get("cgroup_dir")
        for _level in range(len(KINDS[ns["cgroup"]]["cgroup"].split("/")) if d else 0):
            try:
                os.rmdir(d)  # the kind's own directories only, innermost first; shared parents stay if used
            except OSError:
                break
            d = os.path.dirname(d)
    os.unlink(state)


def main(argv):
    if len(argv) >= 2 and argv[0] == "up":
        n = int(argv[argv.index("--time-wait") + 1]) if "--time-wait" in argv else 200
        up(argv[1], "--cgroups" in argv, n)
    elif len(argv) in (4, 5) and argv[0] == "bench":
        bench(argv[1], int(argv[2]), int(argv[3]), int(argv[4]) if len(argv) == 5 else 0)
    elif len(argv) == 2 and argv[0] == "down":
        down(argv[1])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
