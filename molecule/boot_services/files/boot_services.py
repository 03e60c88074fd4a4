# SPDX-License-Identifier: GPL-3.0-or-later
"""The boot model with ufw and tuned (module_utils/sysctl/services.py) against Debian's real packages.

Runs inside the test container. For each case it writes the files, asks the
planner for `persisted_before` (our file absent) and `persisted` (our file
present), then runs the boot sequence for real in a fresh network namespace,
with and without our file: systemd-sysctl, then ufw's boot script
(/lib/ufw/ufw-init start quiet, what ufw.service runs), then tuned in one-shot
mode (daemon = 0 in tuned-main.conf, no D-Bus), and compares key by key. A key
the model leaves unset must show the kernel's default.

The caller keeps /proc/sys/{kernel,fs,vm} read-only, so only net.* can be
written, and only in the namespaces this script makes and deletes. The tuned
profiles written here hold [main] and [sysctl] only, and every tuned run's
debug log must show the sysctl plugin and no other.

Usage: boot_services.py MODULE_UTILS_DIR  (prints a JSON summary)
"""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kt_driver  # noqa: E402  (molecule/_shared/files, copied beside this file)
from kt_driver import import_library, layout, put  # noqa: E402

SETTINGS = {
    "net.ipv4.tcp_fin_timeout": "15",
    "net.ipv4.tcp_keepalive_time": "600",
    "net.core.somaxconn": "3000",
    "net.ipv4.conf.all.log_martians": "1",
}
KEYS = list(SETTINGS)
ETC = "/etc/sysctl.d/60-kt.conf"
LOCAL = "/usr/local/lib/sysctl.d/60-kt.conf"
TUNED_LINK = "/etc/systemd/system/multi-user.target.wants/tuned.service"
UFW_LINK = "/etc/systemd/system/multi-user.target.wants/ufw.service"
UFW_STOCK = "/etc/ufw/sysctl.conf"
NS = "kt-boot-services"
TUNED_LOG = "/tmp/kt-tuned.log"
# tuned 2.23 and later (trixie) keep profiles in /etc/tuned/profiles and /usr/lib/tuned/profiles.
PROFILES = "/etc/tuned/profiles" if os.path.isdir("/usr/lib/tuned/profiles") else "/etc/tuned"


def profile(sysctl, include=None, variables=None):
    text = "[main]\nsummary=kerneltune.tcp test profile\n"
    if include:
        text += "include=%s\n" % include
    if variables:
        text += "\n[variables]\n" + "".join("%s=%s\n" % kv for kv in variables.items())
    return text + "\n[sysctl]\n" + "".join("%s=%s\n" % kv for kv in sysctl.items())


def tuned_files(prof, reapply, extra=None):
    files = {"/etc/tuned/tuned-main.conf": "daemon = 0\ndynamic_tuning = 0\nreapply_sysctl = %d\n" % reapply,
             "/etc/tuned/active_profile": "kt-test\n", "/etc/tuned/profile_mode": "manual\n",
             PROFILES + "/kt-test/tuned.conf": prof, "/etc/tuned/post_loaded_profile": "",
             TUNED_LINK: "@link:/lib/systemd/system/tuned.service"}
    files.update(extra or {})
    return files


def ufw_files(enabled="yes", ipt=UFW_STOCK):
    return {UFW_LINK: "@link:/lib/systemd/system/ufw.service",
            "/etc/ufw/ufw.conf": "ENABLED=%s\nLOGLEVEL=low\n" % enabled,
            "/etc/default/ufw": 'IPV6=yes\nDEFAULT_INPUT_POLICY="DROP"\nDEFAULT_OUTPUT_POLICY="ACCEPT"\n'
                                'DEFAULT_FORWARD_POLICY="DROP"\nDEFAULT_APPLICATION_POLICY="SKIP"\n'
                                'MANAGE_BUILTINS=no\nIPT_SYSCTL=%s\nIPT_MODULES=""\n' % ipt}


KA = {"net.ipv4.tcp_keepalive_time": "300"}
BASE = profile({"net.ipv4.tcp_keepalive_time": "${ka}", "net.ipv4.tcp_fin_timeout": "33"}, variables={"ka": "900"})
CASES = [
    # (name, our path, files)
    ("ufw enabled, stock sysctl.conf (log_martians=0)", ETC, ufw_files()),
    ("ufw disabled (ENABLED=no)", ETC, ufw_files("no")),
    ("ufw enabled, IPT_SYSCTL empty", ETC, ufw_files(ipt="")),
    ("ufw enabled, IPT_SYSCTL names a missing file", ETC, ufw_files(ipt="/etc/ufw/none.conf")),
    ("ufw enabled, IPT_SYSCTL elsewhere", ETC,
     dict(ufw_files(ipt="/etc/ufw/kt.conf"), **{"/etc/ufw/kt.conf": "net.core.somaxconn = 2500\n"})),
    ("tuned only key, reapply 1", ETC, tuned_files(profile(KA), 1)),
    ("tuned only key, reapply 0", ETC, tuned_files(profile(KA), 0)),
    ("tuned over /usr/lib/sysctl.d, reapply 1", ETC,
     tuned_files(profile({"net.ipv4.tcp_fin_timeout": "25"}), 1,
                 {"/usr/lib/sysctl.d/50-vendor.conf": "net.ipv4.tcp_fin_timeout = 50\n"})),
    ("tuned over /usr/lib/sysctl.d, reapply 0", ETC,
     tuned_files(profile({"net.ipv4.tcp_fin_timeout": "25"}), 0,
                 {"/usr/lib/sysctl.d/50-vendor.conf": "net.ipv4.tcp_fin_timeout = 50\n"})),
    ("tuned and /etc/sysctl.d, reapply 1", ETC,
     tuned_files(profile({"net.core.somaxconn": "1500"}), 1,
                 {"/etc/sysctl.d/95-local.conf": "net.core.somaxconn = 2000\n"})),
    ("tuned and /etc/sysctl.d, reapply 0", ETC,
     tuned_files(profile({"net.core.somaxconn": "1500"}), 0,
                 {"/etc/sysctl.d/95-local.conf": "net.core.somaxconn = 2000\n"})),
    ("tuned, our file in /usr/local/lib (not re-applied), reapply 1", LOCAL,
     tuned_files(profile({"net.ipv4.tcp_fin_timeout": "25", "net.core.somaxconn": "1500"}), 1,
                 {"/etc/sysctl.d/95-local.conf": "net.core.somaxconn = 2000\n"})),
    ("tuned re-apply: /run/sysctl.d wins a name, /etc/sysctl.conf last", ETC,
     tuned_files(profile({"net.ipv4.tcp_fin_timeout": "25"}), 1,
                 {"/run/sysctl.d/95-x.conf": "net.ipv4.tcp_fin_timeout = 31\n",
                  "/etc/sysctl.d/95-x.conf": "net.ipv4.tcp_fin_timeout = 32\nnet.core.somaxconn = 1800\n",
                  "/etc/sysctl.conf": "net.ipv4.tcp_keepalive_time = 450\n"})),
    ("tuned include and variables, reapply 0", ETC,
     tuned_files(profile({"net.ipv4.tcp_fin_timeout": "\"44\""}, include="kt-base"), 0,
                 {PROFILES + "/kt-base/tuned.conf": BASE})),
    ("ufw then tuned, reapply 0", ETC,
     dict(ufw_files(), **tuned_files(profile({"net.ipv4.conf.all.log_martians": "1"}), 0))),
    ("ufw then tuned, reapply 1", ETC,
     dict(ufw_files(), **tuned_files(profile({"net.ipv4.tcp_fin_timeout": "25"}), 1))),
    ("ufw ENABLED=\"yes\" with a comment", ETC,
     dict(ufw_files(), **{"/etc/ufw/ufw.conf": 'ENABLED="yes" # on\nLOGLEVEL=low\n'})),
    ("ufw ENABLED in /etc/default/ufw only", ETC,
     dict(ufw_files(), **{"/etc/ufw/ufw.conf": "LOGLEVEL=low\n",
                          "/etc/default/ufw": ufw_files()["/etc/default/ufw"] + "ENABLED=yes\n"})),
    ("ufw, /etc/default/ufw empty (the boot script aborts)", ETC,
     dict(ufw_files(), **{"/etc/default/ufw": "", "/etc/ufw/ufw.conf": "ENABLED=yes\nIPT_SYSCTL=%s\n" % UFW_STOCK})),
    ("ufw then tuned without [sysctl] (no re-apply), reapply 1", ETC,
     dict(ufw_files(), **tuned_files("[main]\nsummary=kerneltune.tcp test profile\n", 1))),
    ("ufw then tuned with [sysctl] enabled=false, reapply 1", ETC,
     dict(ufw_files(), **tuned_files("[main]\nsummary=x\n\n[sysctl]\nenabled=false\nnet.core.somaxconn=1234\n", 1))),
    ("ufw then tuned in manual mode with no profile, reapply 1", ETC,
     dict(ufw_files(), **dict(tuned_files(profile({}), 1), **{"/etc/tuned/active_profile": ""}))),
    ("ufw IPT_SYSCTL with a blank: split into files", ETC,
     dict(ufw_files(ipt='"/etc/ufw/kt 2.conf"'),
          **{"/etc/ufw/kt 2.conf": "net.core.somaxconn = 2500\n", "/etc/ufw/kt": "net.core.somaxconn = 2600\n"})),
    ("tuned [DEFAULT] options in [sysctl], reapply 0", ETC,
     tuned_files("[DEFAULT]\nnet.core.somaxconn=1118\n[main]\nsummary=x\n[sysctl]\nnet.ipv4.tcp_fin_timeout=24\n", 0)),
    ("tuned variables in the merged order, reapply 0", ETC,
     tuned_files("[main]\ninclude=kt-base\n[variables]\nx=22\n[sysctl]\nnet.ipv4.tcp_fin_timeout=${y}\n", 0,
                 {PROFILES + "/kt-base/tuned.conf": "[main]\nsummary=b\n[variables]\nx=11\ny=${x}\n"
                                                    "[sysctl]\nnet.core.somaxconn=1111\n"})),
]


def sh(argv, check=True):
    return kt_driver.sh(argv, check=check, stderr=subprocess.STDOUT, timeout=120)


def boot(files):
    """KEYS in a fresh namespace after the boot sequence; the tuned plugins seen ([] when tuned did not run)."""
    sh(["ip", "netns", "del", NS], check=False)
    sh(["ip", "netns", "add", NS])
    plugins = []
    try:
        run = ["ip", "netns", "exec", NS]
        sh(run + ["/lib/systemd/systemd-sysctl"], check=False)
        if os.path.lexists(UFW_LINK):
            sh(run + ["/lib/ufw/ufw-init", "start", "quiet"], check=False)
        if os.path.lexists(TUNED_LINK):
            if os.path.exists(TUNED_LOG):
                os.unlink(TUNED_LOG)
            p = sh(run + ["timeout", "60", "tuned", "--no-dbus", "--debug", "-l", TUNED_LOG],
                   check=False)
            log = open(TUNED_LOG).read() if os.path.exists(TUNED_LOG) else p.stdout
            active = files["/etc/tuned/active_profile"].strip()
            # no active profile in manual mode: tuned applies nothing
            if active and "static tuning from profile '%s' applied" % active not in log:
                raise RuntimeError("tuned did not apply its profile (rc %d): %s" % (p.returncode, log[-2000:]))
            plugins = sorted(set(re.findall(r"creating '[^']*' \((\w+)\)", log)))
        out = sh(run + ["sysctl", "-n"] + KEYS).stdout.splitlines()
    finally:
        sh(["ip", "netns", "del", NS])
    return {k: " ".join(v.split()) for k, v in zip(KEYS, out)}, plugins


def main():
    import_library(sys.argv[1])
    from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import plan as plan_lib
    from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import render

    defaults, _p = boot({})
    mismatches, results, plugins_seen = [], [], set()
    for name, our, files in CASES:
        with layout(files):
            reality = {}
            for with_ours in (False, True):
                if with_ours:
                    put(our, render.render(SETTINGS))
                elif os.path.lexists(our):
                    os.unlink(our)
                reality[with_ours], plugins = boot(files)
                plugins_seen.update(plugins)
            os.unlink(our)
            r = plan_lib.plan(plan_lib.Request(SETTINGS, our, apply=False, applier="systemd-sysctl", nat_result={},
                                               listeners=[], owners={}))
            row = {"case": name}
            for e in r["entries"]:
                row[e["key"]] = [e["persisted_before"], e["persisted"], e["status"]]
                for field, with_ours in (("persisted_before", False), ("persisted", True)):
                    want = reality[with_ours][e["key"]]
                    got = e[field] if e[field] is not None else defaults[e["key"]]
                    if got != want or e.get("persisted_unknown"):
                        mismatches.append({"case": name, "key": e["key"], "field": field, "model": e[field],
                                           "source": e["source" if with_ours else "source_before"],
                                           "unknown": e.get("persisted_unknown"), "real": want})
            row["real"] = reality
            results.append(row)
    print(json.dumps({"cases": len(CASES), "checks": len(CASES) * len(KEYS) * 2, "tuned_plugins": sorted(plugins_seen),
                      "mismatches": mismatches[:20], "mismatch_count": len(mismatches), "results": results},
                     indent=1))


if __name__ == "__main__":
    main()
