# SPDX-License-Identifier: GPL-3.0-or-later
"""The boot-time model: which file wins, for systemd-sysctl and for procps.

The same layouts run for real against `sysctl --system` and systemd-sysctl in
molecule/sysctl_precedence; these tests pin the model's rules one by one.
"""
import os

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import boot
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import keys
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import values


K = ("net", "ipv4", "tcp_fin_timeout")


def write(root, path, text):
    full = root + path
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(text)


@pytest.fixture
def root(tmp_path):
    return str(tmp_path)


def value(applier, root, overlay=None, key=K):
    return boot.effective(applier, root, overlay).get(key)


@pytest.mark.parametrize("applier", [boot.SYSTEMD, boot.PROCPS])
def test_last_file_by_name_wins_across_directories(root, applier):
    write(root, "/usr/lib/sysctl.d/80-vendor.conf", "net.ipv4.tcp_fin_timeout = 30\n")
    write(root, "/etc/sysctl.d/50-local.conf", "net.ipv4.tcp_fin_timeout = 20\n")
    assert value(applier, root) == ("30", "/usr/lib/sysctl.d/80-vendor.conf", 1)


@pytest.mark.parametrize("applier", [boot.SYSTEMD, boot.PROCPS])
def test_last_assignment_in_a_file_wins(root, applier):
    write(root, "/etc/sysctl.d/50-a.conf", "net.ipv4.tcp_fin_timeout = 20\nnet/ipv4/tcp_fin_timeout = 21\n")
    assert value(applier, root) == ("21", "/etc/sysctl.d/50-a.conf", 2)


@pytest.mark.parametrize("applier", [boot.SYSTEMD, boot.PROCPS])
def test_etc_masks_same_name_in_usr_lib(root, applier):
    write(root, "/usr/lib/sysctl.d/50-a.conf", "net.ipv4.tcp_fin_timeout = 30\n")
    write(root, "/etc/sysctl.d/50-a.conf", "net.ipv4.tcp_fin_timeout = 20\n")
    assert value(applier, root) == ("20", "/etc/sysctl.d/50-a.conf", 1)
    assert boot.masked_by(applier, "/usr/lib/sysctl.d/50-a.conf", root) == "/etc/sysctl.d/50-a.conf"


@pytest.mark.parametrize("applier", [boot.SYSTEMD, boot.PROCPS])
def test_dev_null_symlink_disables_a_name(root, applier):
    write(root, "/usr/lib/sysctl.d/50-a.conf", "net.ipv4.tcp_fin_timeout = 30\n")
    os.makedirs(root + "/etc/sysctl.d", exist_ok=True)
    os.symlink("/dev/null", root + "/etc/sysctl.d/50-a.conf")
    assert value(applier, root) is None
    assert boot.masked_by(applier, "/usr/lib/sysctl.d/50-a.conf", root) == "/etc/sysctl.d/50-a.conf"


def test_procps_applies_etc_sysctl_conf_last(root):
    write(root, "/etc/sysctl.d/99-z.conf", "net.ipv4.tcp_fin_timeout = 20\n")
    write(root, "/etc/sysctl.conf", "net.ipv4.tcp_fin_timeout = 44\n")
    assert value(boot.PROCPS, root) == ("44", "/etc/sysctl.conf", 1)
    # systemd-sysctl does not read /etc/sysctl.conf by itself.
    assert value(boot.SYSTEMD, root) == ("20", "/etc/sysctl.d/99-z.conf", 1)


def test_debian_symlink_99_sysctl_conf(root):
    write(root, "/etc/sysctl.conf", "net.ipv4.tcp_fin_timeout = 44\n")
    os.makedirs(root + "/etc/sysctl.d", exist_ok=True)
    os.symlink("../sysctl.conf", root + "/etc/sysctl.d/99-sysctl.conf")
    write(root, "/etc/sysctl.d/99-zz.conf", "net.ipv4.tcp_fin_timeout = 20\n")
    # systemd: 99-zz sorts after 99-sysctl; procps: sysctl.conf again at the end.
    assert value(boot.SYSTEMD, root) == ("20", "/etc/sysctl.d/99-zz.conf", 1)
    assert value(boot.PROCPS, root) == ("44", "/etc/sysctl.conf", 1)


def test_lib_sysctl_d_is_read_by_procps_only(root):
    write(root, "/lib/sysctl.d/70-old.conf", "net.ipv4.tcp_fin_timeout = 33\n")
    assert value(boot.PROCPS, root) == ("33", "/lib/sysctl.d/70-old.conf", 1)
    assert value(boot.SYSTEMD, root) is None


def test_overlay_replaces_and_removes_files(root):
    write(root, "/etc/sysctl.d/90-kt.conf", "net.ipv4.tcp_fin_timeout = 20\n")
    assert value(boot.SYSTEMD, root, {"/etc/sysctl.d/90-kt.conf": "net.ipv4.tcp_fin_timeout = 15\n"})[0] == "15"
    assert value(boot.SYSTEMD, root, {"/etc/sysctl.d/90-kt.conf": None}) is None
    assert value(boot.SYSTEMD, root, {"/run/sysctl.d/90-new.conf": "net.ipv4.tcp_fin_timeout = 9\n"})[0] == "9"


def test_only_conf_files_are_read(root):
    write(root, "/etc/sysctl.d/50-a.conf.dpkg-old", "net.ipv4.tcp_fin_timeout = 20\n")
    write(root, "/etc/sysctl.d/README", "net.ipv4.tcp_fin_timeout = 21\n")
    assert value(boot.SYSTEMD, root) is None


def test_names_sort_bytewise(root):
    write(root, "/etc/sysctl.d/Z.conf", "net.ipv4.tcp_fin_timeout = 1\n")
    write(root, "/etc/sysctl.d/a.conf", "net.ipv4.tcp_fin_timeout = 2\n")
    assert value(boot.SYSTEMD, root)[0] == "2"


def test_globs_do_not_touch_explicit_keys(root):
    write(root, "/etc/sysctl.d/10-a.conf", "net.ipv4.tcp_fin_timeout = 20\n")
    write(root, "/etc/sysctl.d/20-b.conf", "net.ipv4.tcp_fin_* = 99\n")
    assert value(boot.SYSTEMD, root)[0] == "20"


def test_detect_applier(root):
    assert boot.detect_applier(root) == boot.PROCPS
    os.makedirs(root + "/run/systemd/system")
    assert boot.detect_applier(root) == boot.SYSTEMD


@pytest.mark.parametrize("applier,path,expected", [
    (boot.SYSTEMD, "/etc/sysctl.d/90-x.conf", True),
    (boot.SYSTEMD, "/lib/sysctl.d/90-x.conf", False),
    (boot.PROCPS, "/lib/sysctl.d/90-x.conf", True),
    (boot.PROCPS, "/etc/sysctl.conf", True),
    (boot.SYSTEMD, "/etc/sysctl.conf", False),
    (boot.SYSTEMD, "/tmp/x.conf", False),
])
def test_reads_directory(applier, path, expected):
    assert boot.reads_directory(applier, path) is expected


# ------------------------------------------------------------ what the real appliers do
# Each case below was seen with the Debian binaries (systemd 247/252/257, procps
# 3.3.17/4.0.2/4.0.4) in molecule/sysctl_precedence; the model must say the same.

P = ("net", "ipv4", "tcp_keepalive_probes")


T = ("net", "ipv4", "tcp_keepalive_time")


KEYS = {K, P, T}


U8 = {P: 255}


def kernel(parts, value):
    """A stand-in for values.kernel_value: base-0 integers, u8 for probes."""
    return values.kernel_value(keys.canonical_key(parts), value)


def model(applier, root, version, key=K):
    return boot.effective(applier, root, None, version, KEYS, kernel).get(key)


V = {boot.SYSTEMD: [(247,), (252,), (257,)], boot.PROCPS: [(3, 3, 17), (4, 0, 2), (4, 0, 4)]}


ALL = [(a, v) for a in V for v in V[a]]


@pytest.mark.parametrize("applier,version", ALL)
def test_dash_key_after_a_value(root, applier, version):
    write(root, "/etc/sysctl.d/10-a.conf", "net.ipv4.tcp_fin_timeout = 20\n")
    write(root, "/etc/sysctl.d/20-b.conf", "-net.ipv4.tcp_fin_timeout\n")
    expected = (None, "/etc/sysctl.d/20-b.conf", 1) if applier == boot.SYSTEMD else \
        ("20", "/etc/sysctl.d/10-a.conf", 1)
    assert model(applier, root, version) == expected


@pytest.mark.parametrize("applier,version", ALL)
def test_later_value_the_kernel_refuses(root, applier, version):
    write(root, "/etc/sysctl.d/10-a.conf", "net.ipv4.tcp_fin_timeout = 20\nnet.ipv4.tcp_keepalive_probes = 5\n")
    write(root, "/etc/sysctl.d/20-b.conf", "net.ipv4.tcp_fin_timeout = abc\nnet.ipv4.tcp_keepalive_probes = 300\n")
    if applier == boot.SYSTEMD:
        # One table entry per key: the refused value took the key's place.
        assert model(applier, root, version) == (None, "/etc/sysctl.d/20-b.conf", 1)
        assert model(applier, root, version, P) == (None, "/etc/sysctl.d/20-b.conf", 2)
    else:
        # Line by line: the earlier value stays.
        assert model(applier, root, version) == ("20", "/etc/sysctl.d/10-a.conf", 1)
        assert model(applier, root, version, P) == ("5", "/etc/sysctl.d/10-a.conf", 2)


@pytest.mark.parametrize("applier,version", ALL)
def test_hidden_files(root, applier, version):
    write(root, "/etc/sysctl.d/.h.conf", "net.ipv4.tcp_fin_timeout = 21\n")
    expected = None if applier == boot.SYSTEMD else ("21", "/etc/sysctl.d/.h.conf", 1)
    assert model(applier, root, version) == expected


@pytest.mark.parametrize("applier,version", ALL)
def test_base_zero_integers(root, applier, version):
    write(root, "/etc/sysctl.d/10-a.conf", "net.ipv4.tcp_fin_timeout = 0100\nnet.ipv4.tcp_keepalive_probes = 0x10\n"
                                           "net.ipv4.tcp_keepalive_time = 08\n")
    assert model(applier, root, version)[0] == "64"
    assert model(applier, root, version, P)[0] == "16"
    assert (model(applier, root, version, T) or (None,))[0] is None


@pytest.mark.parametrize("applier,version", ALL)
def test_globs_and_explicit_exclusion(root, applier, version):
    write(root, "/etc/sysctl.d/10-a.conf", "net.ipv4.tcp_keepalive_probes = 5\n-net.ipv4.tcp_fin_timeout\n")
    write(root, "/etc/sysctl.d/20-b.conf", "net.ipv4.tcp_* = 77\n")
    if applier == boot.PROCPS and version < (4,):
        assert model(applier, root, version, T) is None  # 3.3.x has no globs
    else:
        assert model(applier, root, version, T) == ("77", "/etc/sysctl.d/20-b.conf", 1)
    assert model(applier, root, version, P) == ("5", "/etc/sysctl.d/10-a.conf", 1)
    # "-key" keeps the key out of globs (systemd: and does not set it).
    assert (model(applier, root, version) or (None,))[0] is None


@pytest.mark.parametrize("applier,version", ALL)
def test_repeated_glob_keeps_its_place_in_systemd(root, applier, version):
    write(root, "/etc/sysctl.d/10-a.conf", "net.ipv4.tcp_keepalive_* = 77\n")
    write(root, "/etc/sysctl.d/20-b.conf", "net.ipv4.tcp_keepalive_[pi]* = 66\n")
    write(root, "/etc/sysctl.d/30-c.conf", "net.ipv4.tcp_keepalive_* = 77\n")
    got = model(applier, root, version, P)
    if applier == boot.SYSTEMD:
        assert got == ("66", "/etc/sysctl.d/20-b.conf", 1)
    elif version >= (4,):
        assert got == ("77", "/etc/sysctl.d/30-c.conf", 1)
    else:
        assert got is None


@pytest.mark.parametrize("applier,version", ALL)
def test_dash_glob(root, applier, version):
    write(root, "/etc/sysctl.d/10-a.conf", "net.ipv4.tcp_keepalive_* = 77\n")
    write(root, "/etc/sysctl.d/20-b.conf", "-net.ipv4.tcp_keepalive_*\n")
    expected = ("77", "/etc/sysctl.d/10-a.conf", 1) if applier == boot.PROCPS and version >= (4,) else None
    assert model(applier, root, version, T) == expected


def test_old_procps_reads_run_before_etc(root):
    write(root, "/etc/sysctl.d/50-s.conf", "net.ipv4.tcp_fin_timeout = 22\n")
    write(root, "/run/sysctl.d/50-s.conf", "net.ipv4.tcp_fin_timeout = 23\n")
    assert model(boot.PROCPS, root, (3, 3, 16))[0] == "23"
    assert model(boot.PROCPS, root, (3, 3, 17))[0] == "22"
    assert model(boot.SYSTEMD, root, (247,))[0] == "22"


def test_split_usr_systemd_before_255_reads_lib(root):
    write(root, "/lib/sysctl.d/70-old.conf", "net.ipv4.tcp_fin_timeout = 33\n")
    assert model(boot.SYSTEMD, root, (252,)) == ("33", "/lib/sysctl.d/70-old.conf", 1)
    assert model(boot.SYSTEMD, root, (255,)) is None


@pytest.mark.parametrize("text,version", [
    ("systemd 252 (252.39-1~deb12u2)\n+PAM +AUDIT", (252,)),
    ("systemd 257 (257.13-1~deb13u1)", (257,)),
    ("sysctl from procps-ng 3.3.17\n", (3, 3, 17)),
    ("sysctl from procps-ng 4.0.4\n", (4, 0, 4)),
    ("sysctl (procps-ng) 4.0.5\n", (4, 0, 5)),
    ("nonsense", None),
])
def test_parse_version(text, version):
    assert boot.parse_version(text) == version


LO_RP = ("net", "ipv4", "conf", "lo", "rp_filter")
LO_PS = ("net", "ipv4", "conf", "lo", "promote_secondaries")
ALL_RP = ("net", "ipv4", "conf", "all", "rp_filter")
RHEL9_REDHAT = ("net.ipv4.conf.default.rp_filter = 1\nnet.ipv4.conf.*.rp_filter = 1\n-net.ipv4.conf.all.rp_filter\n"
                "net.ipv4.conf.default.promote_secondaries = 1\nnet.ipv4.conf.*.promote_secondaries = 1\n")


@pytest.mark.parametrize("applier,version", ALL)
def test_interfaces_inherit_a_written_ipv4_default(root, applier, version):
    # RHEL 9's 50-redhat.conf: procps 3.3 ignores the glob, yet lo boots with 1: the kernel copies a write to
    # net.ipv4.conf.default.X to every interface that never had X written (net/ipv4/devinet.c), except for the
    # flushing entries such as promote_secondaries. Checked against the real appliers (molecule
    # sysctl_precedence, distro layouts).
    write(root, "/usr/lib/sysctl.d/50-redhat.conf", RHEL9_REDHAT)
    keys = (LO_RP, LO_PS, ALL_RP)
    got = boot.effective(applier, root, None, version, keys)
    assert got[LO_RP] == ("1", "/usr/lib/sysctl.d/50-redhat.conf", 1 if applier == boot.PROCPS and version < (4,)
                          else 2)
    if applier == boot.PROCPS and version < (4,):
        assert LO_PS not in got  # not copied: promote_secondaries is a flushing entry
    else:
        assert got[LO_PS] == ("1", "/usr/lib/sysctl.d/50-redhat.conf", 5)
    # "all" is no interface: systemd leaves it unset (-key), procps never names it with a value.
    assert (got.get(ALL_RP) or (None,))[0] is None
