# SPDX-License-Identifier: GPL-3.0-or-later
"""After converge: the profile's values in /proc/sys and in its file; the
host's own values unchanged. Expected values come from the role defaults."""
import os

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
ROLE = os.environ["KT_ROLE"]


def _defaults(role):
    with open(os.path.join(ROOT, "roles", role, "defaults", "main.yml")) as f:
        return yaml.safe_load(f)


def expected():
    """The parts the profile's header names, in order, then its own settings (read from the defaults files, not
    through the lookup under test)."""
    own = _defaults(ROLE)
    s = {}
    for part in own["__%s_profile" % ROLE]["composed_on"]:
        s.update(_defaults(part)[part + "_settings"])
    s.update(own[ROLE + "_settings"] or {})
    return s


def expect_text(value):
    """The running value a profile value leads to on a fresh container.

    A bound moves a value outside it to the nearest bound. The profiles' bounds
    are one-sided and a fresh container's kernel defaults lie outside every one
    of them (prepare.yml asserts that every key drifts before converge), so the
    value is the bound itself: {min: 8192} gives 8192, {low_max: 10240,
    high_min: 65535} gives "10240 65535".
    """
    if isinstance(value, dict):
        if set(value) == {"low_max", "high_min"}:
            return "%d %d" % (value["low_max"], value["high_min"])
        assert len(value) == 1 and set(value) <= {"min", "max"}, value
        return str(list(value.values())[0])
    return " ".join(str(v) for v in value) if isinstance(value, list) else str(value)


def running(host):
    """Every profile key's running value in one command; None when absent."""
    keys = sorted(expected())
    script = "; ".join(
        "if [ -e /proc/sys/{p} ]; then tr -s ' \\t' ' ' < /proc/sys/{p}; else echo MISSING; fi".format(
            p=k.replace(".", "/")) for k in keys)
    out = host.check_output(script).splitlines()
    return {k: (None if v == "MISSING" else v.strip()) for k, v in zip(keys, out)}


def present(host):
    values = running(host)
    return {k: v for k, v in expected().items() if values[k] is not None}


# Keys that exist only in the initial network namespace (kernel-facts: global
# tcp_mem, tcp_max_orphans, udp_mem, netdev_max_backlog): a container lacks
# them, and the profile roles leave them out (skip_missing). Any other missing
# key is a failure: the test must not pass on a host where nothing was read.
GLOBAL_ONLY = {"net.ipv4.tcp_mem", "net.ipv4.tcp_max_orphans", "net.ipv4.udp_mem", "net.core.netdev_max_backlog"}


def test_running_values(host):
    values = running(host)
    missing = {k for k, v in values.items() if v is None}
    assert missing <= GLOBAL_ONLY, sorted(missing - GLOBAL_ONLY)
    checked = present(host)
    assert len(checked) == len(expected()) - len(missing) > 0
    for key, value in checked.items():
        assert values[key] == expect_text(value), (key, values[key], value)


def test_file_holds_every_present_key(host):
    f = host.file("/etc/sysctl.d/80-kerneltune-%s.conf" % ROLE)
    assert f.exists and f.mode == 0o644 and f.user == "root"
    lines = [line for line in f.content_string.splitlines() if not line.startswith("#")]
    assert lines == ["%s = %s" % (k, expect_text(v)) for k, v in sorted(present(host).items())]


def test_host_values_unchanged():
    snap = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "host-before.txt")
    with open(snap) as f:
        before = dict(line.split(" = ", 1) for line in f.read().splitlines() if " = " in line)
    for key in expected():
        path = "/proc/sys/" + key.replace(".", "/")
        if key in before and os.path.exists(path):
            with open(path) as f:
                assert " ".join(f.read().split()) == " ".join(before[key].split()), key
