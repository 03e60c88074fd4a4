# SPDX-License-Identifier: GPL-3.0-or-later
"""The boot model (module_utils/sysctl, plan.plan) against the real appliers, on many layouts.

Runs inside the test container. For each layout it writes the files, asks the
model for `persisted_before` (our file absent) and `persisted` (our file
present) for both appliers, then runs `sysctl --system` and systemd-sysctl,
each in a fresh network namespace, with and without our file, and compares key
by key. A key the model says is left unset must show the kernel's default.

The caller keeps /proc/sys/{kernel,fs,vm} read-only, so only net.* can be
written, and only in the namespaces this script makes and deletes.

Distribution layouts (distro/, see distro/layouts.json and each file's header for where its text came from): the
files RHEL 8/9 and Ubuntu 22.04/24.04 ship, put over this image's own (whose non-net files stay masked), with
the keys they set compared as well; our file then sets each of those keys to a value of its own.

Usage: precedence.py MODULE_UTILS_DIR SEED COUNT  (prints a JSON summary)
"""
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kt_driver import import_library, layout, put, sh  # noqa: E402  (molecule/_shared/files, copied beside this file)

OUR = "/etc/sysctl.d/60-kt.conf"
SETTINGS = {
    "net.ipv4.tcp_fin_timeout": "15",
    "net.ipv4.tcp_keepalive_time": "600",
    "net.ipv4.tcp_keepalive_intvl": "30",
    "net.ipv4.tcp_keepalive_probes": "4",
    "net.core.somaxconn": "3000",
    "net.ipv4.ip_local_port_range": "10240 65535",
}
KEYS = list(SETTINGS)
APPLIERS = {"procps": ["sysctl", "--system"], "systemd-sysctl": ["/lib/systemd/systemd-sysctl"]}

# Every layout feature, one family each (names say what they show).
FAMILIES = [
    ("a later file wins", {"/etc/sysctl.d/99-local.conf": "net.ipv4.tcp_fin_timeout = 30\n"}),
    ("sysctl.conf last for procps, 99-zz after the 99-sysctl.conf symlink for systemd",
     {"/etc/sysctl.conf": "net.ipv4.tcp_keepalive_time = 700\n",
      "/etc/sysctl.d/99-zz.conf": "net.ipv4.tcp_keepalive_time = 800\n"}),
    ("masking by name across directories",
     {"/usr/lib/sysctl.d/70-vendor.conf": "net.ipv4.tcp_keepalive_intvl = 40\n",
      "/etc/sysctl.d/70-vendor.conf": "@null",
      "/run/sysctl.d/80-run.conf": "net.core.somaxconn = 1000\n",
      "/usr/lib/sysctl.d/80-run.conf": "net.core.somaxconn = 2000\n",
      "/usr/local/lib/sysctl.d/75-local.conf": "net.ipv4.tcp_fin_timeout = 20\n",
      "/usr/lib/sysctl.d/90-empty.conf": "net.ipv4.tcp_fin_timeout = 21\n",
      "/etc/sysctl.d/90-empty.conf": ""}),
    ("/run masks the same name in /usr/lib, /etc masks /run",
     {"/run/sysctl.d/60-kt.conf": "net.ipv4.tcp_fin_timeout = 23\n",
      "/run/sysctl.d/70-r.conf": "net.ipv4.tcp_fin_timeout = 24\n",
      "/etc/sysctl.d/70-r.conf": "net.ipv4.tcp_keepalive_probes = 6\n"}),
    ("comments, dash prefix, slash keys, duplicates, tabs",
     {"/etc/sysctl.d/85-syntax.conf": "; a comment\n# another\n-net.ipv4.tcp_keepalive_time = 650\n"
                                      "net/ipv4/tcp_keepalive_intvl=45\nnet.ipv4.tcp_keepalive_intvl = 46\n"
                                      " net.ipv4.ip_local_port_range =\t20000   60001\n-net.ipv4.does_not_exist = 1\n"}),
    ("-key without = after our file",
     {"/etc/sysctl.d/70-dash.conf": "-net.ipv4.tcp_fin_timeout\n"}),
    ("-key without = before our file", {"/etc/sysctl.d/10-dash.conf": "-net.ipv4.tcp_fin_timeout\n"}),
    ("a glob after our file", {"/etc/sysctl.d/70-glob.conf": "net.ipv4.tcp_keepalive_* = 77\n"}),
    ("a glob with an explicit exclusion",
     {"/etc/sysctl.d/70-glob.conf": "net.ipv4.tcp_keepalive_* = 77\n-net.ipv4.tcp_keepalive_intvl\n",
      "/etc/sysctl.d/10-base.conf": "net.core.somaxconn = 0x200\n"}),
    ("a glob removed by -glob", {"/etc/sysctl.d/10-glob.conf": "net.ipv4.tcp_keepalive_* = 77\n",
                                 "/etc/sysctl.d/20-glob.conf": "-net.ipv4.tcp_keepalive_*\n"}),
    ("globs in order, a repeated glob keeps its place in systemd",
     {"/etc/sysctl.d/10-g.conf": "net.ipv4.tcp_keepalive_* = 77\n", "/etc/sysctl.d/20-g.conf":
      "net.ipv4.tcp_keepalive_[pi]* = 66\n", "/etc/sysctl.d/70-g.conf": "net.ipv4.tcp_keepalive_* = 77\n"}),
    ("a later value the kernel refuses",
     {"/etc/sysctl.d/70-bad.conf": "net.ipv4.tcp_fin_timeout = abc\nnet.ipv4.tcp_keepalive_probes = 300\n"
                                   "net.core.somaxconn =\n"}),
    ("a refused value before a good one in the same file",
     {"/etc/sysctl.d/70-bad.conf": "net.ipv4.tcp_fin_timeout = abc\nnet.ipv4.tcp_fin_timeout = 25\n"}),
    ("a hidden file", {"/etc/sysctl.d/.hidden.conf": "net.ipv4.tcp_fin_timeout = 21\n"}),
    ("base-0 integers",
     {"/etc/sysctl.d/70-oct.conf": "net.ipv4.tcp_fin_timeout = 0100\nnet.ipv4.tcp_keepalive_probes = 0x10\n"
                                   "net.ipv4.tcp_keepalive_time = 08\n"}),
    ("a file not ending in .conf", {"/etc/sysctl.d/70-x": "net.ipv4.tcp_fin_timeout = 33\n"}),
]

DISTRO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "distro")
# The value our file gives each key a distribution layout sets: never the layout's own, so the winner shows.
OURS_BY_SUFFIX = {"rp_filter": "0", "accept_source_route": "1", "promote_secondaries": "0",
                  "ping_group_range": "0 1000", "use_tempaddr": "1", "tcp_syncookies": "2", "accept_redirects": "1",
                  "secure_redirects": "0", "send_redirects": "1", "ip_forward": "1",
                  "icmp_echo_ignore_broadcasts": "0", "log_martians": "0"}
GLOBAL_PREFIXES = ("kernel.", "fs.", "vm.", "net.core.default_qdisc", "net.core.optmem_max")


def assert_net_only(path, text):
    """Refuse a fixture that would make a real applier write a key outside this network namespace."""
    for line in text.splitlines():
        s = line.strip().lstrip("-").replace("/", ".")
        if s and s[0] not in "#;" and s.startswith(GLOBAL_PREFIXES):
            raise SystemExit("%s: %r sets a global key; comment it out" % (path, line))


def distro_layouts():
    """[(name, files, extra settings)] from distro/: the files under distro/NAME/ by their path on the host."""
    with open(os.path.join(DISTRO, "layouts.json")) as f:
        meta = json.load(f)
    out = []
    for name in sorted(meta):
        top = os.path.join(DISTRO, name)
        files = {}
        for d, _subdirs, names in os.walk(top):
            for n in names:
                src = os.path.join(d, n)
                with open(src) as f:
                    text = f.read()
                assert_net_only(src, text)
                files["/" + os.path.relpath(src, top)] = text
        for path, target in meta[name]["links"].items():
            files[path] = "@link:" + target
        extra = dict((k, OURS_BY_SUFFIX[k.rsplit(".", 1)[1]]) for k in meta[name]["keys"])
        out.append(("%s: %s" % (name, meta[name]["title"]), files, extra))
    return out


DIRS = ["/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d"]
NAMES = ["10-a.conf", "60-kt.conf", "70-b.conf", "99-z.conf", ".h.conf", "99-sysctl.conf"]
VALUES = ["20", "7", "010", "0x1f", "abc", "", "300", "1000", "08"]
LINE_KEYS = KEYS[:-1] + ["net.ipv4.tcp_keepalive_*", "net.ipv4.tcp_keepalive_[pi]*", "net/ipv4/tcp_fin_timeout"]


def random_layout(rng, i):
    files = {}
    for _file in range(rng.randint(1, 5)):
        if rng.random() < 0.15:
            path = "/etc/sysctl.conf"
        else:
            path = rng.choice(DIRS) + "/" + rng.choice(NAMES)
        if path == OUR:
            continue
        if rng.random() < 0.1:
            files[path] = rng.choice(["@null", ""])
            continue
        lines = []
        for _line in range(rng.randint(1, 4)):
            key = rng.choice(LINE_KEYS)
            kind = rng.random()
            if kind < 0.15:
                lines.append("-%s" % key)
            elif kind < 0.25:
                lines.append("-%s = %s" % (key, rng.choice(VALUES)))
            else:
                lines.append("%s = %s" % (key, rng.choice(VALUES)))
        files[path] = "\n".join(lines) + "\n"
    return ("random %d" % i, files)


def real(argv, keys=None):
    """Values of keys (KEYS by default) in a fresh namespace after running argv there (None: nothing run)."""
    keys = keys or KEYS
    ns = "kt-precedence"
    sh(["ip", "netns", "del", ns], check=False)
    sh(["ip", "netns", "add", ns])
    try:
        if argv:
            sh(["ip", "netns", "exec", ns] + argv, check=False)
        out = sh(["ip", "netns", "exec", ns, "sysctl", "-n"] + keys).stdout.splitlines()
    finally:
        sh(["ip", "netns", "del", ns])
    return {k: " ".join(v.split()) for k, v in zip(keys, out)}


def main():
    import_library(sys.argv[1])
    from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import plan as plan_lib
    from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import render

    seed, count = int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    layouts = [(n, f, {}) for n, f in FAMILIES] + distro_layouts() + [
        random_layout(rng, i) + ({},) for i in range(count)]
    distro_keys = sorted(set(k for _n, _f, extra in layouts for k in extra))
    defaults = real(None, KEYS + distro_keys)
    mismatches = []
    appliers = {}
    checks = 0
    for name, files, extra in layouts:
        settings = dict(SETTINGS, **extra)
        keys = KEYS + sorted(extra)
        with layout(files):
            reality = {}
            for with_ours in (False, True):
                if with_ours:
                    put(OUR, render.render(settings))
                elif os.path.lexists(OUR):
                    os.unlink(OUR)
                for applier, argv in APPLIERS.items():
                    reality[(applier, with_ours)] = real(argv, keys)
            os.unlink(OUR)
            for applier in APPLIERS:
                r = plan_lib.plan(plan_lib.Request(settings, OUR, apply=False, applier=applier, nat_result={},
                                                   listeners=[], owners={}))
                appliers[applier] = r["applier"]
                for e in r["entries"]:
                    for field, with_ours in (("persisted_before", False), ("persisted", True)):
                        checks += 1
                        want = reality[(applier, with_ours)][e["key"]]
                        got = e[field] if e[field] is not None else defaults[e["key"]]
                        if got != want:
                            mismatches.append({"layout": name, "files": files, "applier": r["applier"],
                                               "key": e["key"], "field": field, "model": e[field], "real": want})
                if applier == "procps":
                    said = sorted(f["key"] for f in r["findings"] if f["rule"] == "applier_disagree")
                    seen = sorted(k for k in keys
                                  if reality[("procps", True)][k] != reality[("systemd-sysctl", True)][k])
                    if said != seen:
                        mismatches.append({"layout": name, "files": files, "field": "applier_disagree",
                                           "model": said, "real": seen})
    print(json.dumps({"seed": seed, "layouts": len(layouts), "appliers": appliers,
                      "checks": checks, "distro_layouts": [n for n, _f, e in layouts if e],
                      "mismatches": mismatches[:20], "mismatch_count": len(mismatches)}, indent=1))


if __name__ == "__main__":
    main()
