# SPDX-License-Identifier: GPL-3.0-or-later
"""The boot-time model: which file wins, for systemd-sysctl and for procps.

The same layouts run for real against `sysctl --system` and systemd-sysctl in
molecule/sysctl_precedence; these tests pin the model's rules one by one.
"""
import os

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils import sysctl_boot as boot

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


@pytest.mark.parametrize("key,parts", [
    ("net.ipv4.tcp_fin_timeout", ("net", "ipv4", "tcp_fin_timeout")),
    ("net/ipv4/tcp_fin_timeout", ("net", "ipv4", "tcp_fin_timeout")),
    ("net/ipv4/conf/eth0.100/rp_filter", ("net", "ipv4", "conf", "eth0.100", "rp_filter")),
    ("net.ipv4.conf.eth0/100.rp_filter", ("net", "ipv4", "conf", "eth0.100", "rp_filter")),
])
def test_key_forms(key, parts):
    assert boot.key_to_path_parts(key) == parts


def test_canonical_key():
    assert boot.canonical_key(("net", "ipv4", "tcp_fin_timeout")) == "net.ipv4.tcp_fin_timeout"
    assert boot.canonical_key(("net", "ipv4", "conf", "eth0.100", "rp_filter")) == "net/ipv4/conf/eth0.100/rp_filter"


def test_parse_comments_dash_and_non_assignments():
    text = "# c\n; c\n\n-net.ipv4.a = 1\nnet.ipv4.b=2 3\nnot an assignment\n  net/ipv4/c =\t4 \n"
    assert boot.parse_conf(text) == [
        (("net", "ipv4", "a"), "1", True, 4),
        (("net", "ipv4", "b"), "2 3", False, 5),
        (("net", "ipv4", "c"), "4", False, 7),
    ]


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


@pytest.mark.parametrize("applier", [boot.SYSTEMD, boot.PROCPS])
@pytest.mark.parametrize("first,last", [
    ("Z.conf", "a.conf"),          # a case-insensitive sort would put Z.conf last
    ("10-x.conf", "9-x.conf"),     # a natural (numeric) sort would put 10-x.conf last
    ("50-a.conf", "50_a.conf"),    # '-' (0x2d) sorts before '_' (0x5f)
])
def test_names_sort_bytewise(root, applier, first, last):
    # Written in the reverse order, so directory order cannot make it pass.
    write(root, "/etc/sysctl.d/" + last, "net.ipv4.tcp_fin_timeout = 2\n")
    write(root, "/etc/sysctl.d/" + first, "net.ipv4.tcp_fin_timeout = 1\n")
    assert value(applier, root) == ("2", "/etc/sysctl.d/" + last, 1)


def test_globs_do_not_touch_explicit_keys(root):
    write(root, "/etc/sysctl.d/10-a.conf", "net.ipv4.tcp_fin_timeout = 20\n")
    write(root, "/etc/sysctl.d/20-b.conf", "net.ipv4.tcp_fin_* = 99\n")
    assert value(boot.SYSTEMD, root)[0] == "20"


def test_later_file_wins_with_its_source(root):
    write(root, "/etc/sysctl.d/10-a.conf", "net.ipv4.tcp_fin_timeout = 20\n")
    write(root, "/etc/sysctl.d/20-b.conf", "net.ipv4.tcp_fin_timeout = 30\n")
    assert value(boot.SYSTEMD, root) == ("30", "/etc/sysctl.d/20-b.conf", 1)


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
