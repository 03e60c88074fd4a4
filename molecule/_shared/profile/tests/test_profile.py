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
    if ROLE == "reverse_proxy":
        s = dict(_defaults("web_frontend")["web_frontend_settings"])
        s.update(_defaults("high_outbound_client")["high_outbound_client_settings"])
        s.update(_defaults("reverse_proxy")["reverse_proxy_settings"])
        return s
    return _defaults(ROLE)[ROLE + "_settings"]


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


def test_running_values(host):
    values = running(host)
    for key, value in present(host).items():
        assert values[key] == str(value), key


def test_file_holds_every_present_key(host):
    f = host.file("/etc/sysctl.d/80-kerneltune-%s.conf" % ROLE)
    assert f.exists and f.mode == 0o644 and f.user == "root"
    lines = [line for line in f.content_string.splitlines() if not line.startswith("#")]
    assert lines == ["%s = %s" % (k, v) for k, v in sorted(present(host).items())]


def test_host_values_unchanged():
    snap = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "host-before.txt")
    with open(snap) as f:
        before = dict(line.split(" = ", 1) for line in f.read().splitlines() if " = " in line)
    for key in expected():
        path = "/proc/sys/" + key.replace(".", "/")
        if key in before and os.path.exists(path):
            with open(path) as f:
                assert " ".join(f.read().split()) == " ".join(before[key].split()), key
