# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs inside a benchmark container: time our library against `ss`.

  runner.py info   [netlink|proc]     collect() as tcp_info does; prints JSON {seconds, maxrss_kb, sockets}
  runner.py reset  PORT               dump TIME_WAIT towards 127.0.0.1:PORT and destroy them, as tcp_reset does
  runner.py ss     ARGS...            run ss with ARGS; prints JSON {seconds, maxrss_kb}

Each measurement runs in a child process so its peak memory is its own.
The collection is mounted at /src; the library is imported the way Ansible
does, as ansible_collections.kerneltune.tcp.
"""
import json
import os
import resource
import subprocess
import sys
import tempfile
import time


def _import_path():
    base = tempfile.mkdtemp(prefix="kt-bench-")
    os.makedirs(os.path.join(base, "ansible_collections", "kerneltune"))
    os.symlink(os.environ.get("KT_SRC", "/src"), os.path.join(base, "ansible_collections", "kerneltune", "tcp"))
    sys.path.insert(0, base)


def child(mode, arg):
    _import_path()
    from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import netlink, states
    from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import collect
    from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import filters, selection
    t = time.perf_counter()
    if mode == "info":
        r = collect.collect(source=arg, nat={}, kernel={}, owners=lambda inodes: {})
        n = r["total"]
        extra = {"time_wait": r["time_wait"]["total"]}
    else:
        sel = selection.Selector([], [filters.parse_spec("remote", "127.0.0.1:%s" % arg)], "ipv4", None)
        netlink.dump(sel, states.state_mask(["time_wait"]), families=sel.families)
        sel.finish()
        res = netlink.destroy(sel.matched)
        n = len(sel.matched)
        extra = {"destroyed": res.destroyed, "failed": len(res.failed), "error": res.error}
    dt = time.perf_counter() - t
    print(json.dumps(dict(seconds=dt, sockets=n, **extra)))


def measure(argv):
    t = time.perf_counter()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True)
    dt = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return dt, rss, p.stdout


def main():
    mode = sys.argv[1]
    if mode == "child":
        child(sys.argv[2], sys.argv[3])
        return
    if mode in ("info", "reset"):
        dt, rss, out = measure([sys.executable, os.path.abspath(__file__), "child", mode, sys.argv[2]])
        inner = json.loads(out.decode())
        # Wall time of the whole process (interpreter start included), like ss's.
        print(json.dumps(dict(inner, seconds=dt, inner_seconds=inner["seconds"], maxrss_kb=rss)))
    elif mode == "ss":
        dt, rss, out = measure(["ss"] + sys.argv[2:])
        print(json.dumps({"seconds": dt, "maxrss_kb": rss, "lines": out.count(b"\n")}))
    else:
        sys.exit("unknown mode %s" % mode)


if __name__ == "__main__":
    main()
