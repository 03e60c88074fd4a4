# SPDX-License-Identifier: GPL-3.0-or-later
"""Where the managed file may go: confinement, foreign files, package owners.

A temporary directory stands in for /proc/sys and for the root of the sysctl.d tree where
needed; messages are asserted word for word.
"""
import os

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import errors
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import paths
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import render


def _file(root, path, text):
    os.makedirs(os.path.dirname(root + path), exist_ok=True)
    with open(root + path, "w") as f:
        f.write(text)


def test_foreign_file_is_neither_replaced_nor_removed(tmp_path):
    root = str(tmp_path)
    path = "/etc/sysctl.d/99-local.conf"
    _file(root, path, "vm.swappiness = 10\nnet.core.somaxconn = 65535\n")
    with pytest.raises(errors.SysctlError) as e:
        paths.check_path(path, root=root, info_dir="/nonexistent")
    assert e.value.message == (
        "path: /etc/sysctl.d/99-local.conf exists and was not written by kerneltune.tcp.tcp_sysctl (its first line "
        "is not the module's header); refusing to replace or remove it. Move its settings into settings and delete "
        "it yourself, or choose another path")
    with open(root + path) as f:
        assert f.read() == "vm.swappiness = 10\nnet.core.somaxconn = 65535\n"


def test_our_own_and_empty_files_are_accepted(tmp_path):
    root = str(tmp_path)
    _file(root, "/etc/sysctl.d/90-ours.conf", render.HEADER + "net.core.somaxconn = 4096\n")
    _file(root, "/etc/sysctl.d/91-empty.conf", "")
    assert paths.check_path("/etc/sysctl.d/90-ours.conf", root=root, info_dir="/nonexistent") == \
        "/etc/sysctl.d/90-ours.conf"
    assert paths.check_path("/etc/sysctl.d/91-empty.conf", root=root, info_dir="/nonexistent") == \
        "/etc/sysctl.d/91-empty.conf"


def test_a_name_that_would_hide_a_distribution_file_is_refused(tmp_path):
    root = str(tmp_path)
    _file(root, "/usr/lib/sysctl.d/99-protect-links.conf", "fs.protected_symlinks = 1\n")
    with pytest.raises(errors.SysctlError) as e:
        paths.check_path("/etc/sysctl.d/99-protect-links.conf", root=root, info_dir="/nonexistent")
    assert e.value.message == (
        "path: /etc/sysctl.d/99-protect-links.conf has the name of /usr/lib/sysctl.d/99-protect-links.conf, which "
        "the appliers would then skip (they read one file per name, the first of /etc/sysctl.d, /run/sysctl.d, "
        "/usr/local/lib/sysctl.d, /usr/lib/sysctl.d, /lib/sysctl.d); choose another name")
    assert not os.path.exists(root + "/etc/sysctl.d/99-protect-links.conf")


def test_package_owner_lookup_that_runs_out_of_time_refuses(tmp_path):
    info = tmp_path / "info"
    info.mkdir()
    for i in range(3):
        (info / ("pkg%d.list" % i)).write_text("/usr/share/doc/pkg%d\n" % i)
    assert paths._dpkg_owner("/etc/sysctl.d/x.conf", str(info), budget=-1) is paths.UNKNOWN_OWNER
    (info / "owner.list").write_text("/etc/sysctl.d/x.conf\n")
    assert paths._dpkg_owner("/etc/sysctl.d/x.conf", str(info)) == "owner"
    assert paths._dpkg_owner("/etc/sysctl.d/y.conf", str(info)) is None


def test_package_owner_lookup_out_of_time_refuses_the_path(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "_dpkg_owner", lambda path, info_dir: paths.UNKNOWN_OWNER)
    with pytest.raises(errors.SysctlError) as e:
        paths.check_path("/etc/sysctl.d/90-x.conf", root=str(tmp_path), info_dir="/info")
    assert e.value.message == ("path: /etc/sysctl.d/90-x.conf: could not tell within 5 s whether a package owns it "
                               "(/info); refusing to write it")
    assert not os.path.exists(str(tmp_path) + "/etc/sysctl.d/90-x.conf")
