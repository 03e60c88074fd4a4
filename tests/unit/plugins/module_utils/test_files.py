# SPDX-License-Identifier: GPL-3.0-or-later
"""Atomic writes on a real file system: mode whatever the umask or the old file, nothing left behind."""
import os
import stat

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils import files


@pytest.fixture
def umask027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def test_new_file_is_0644_under_umask_027(tmp_path, umask027):
    path = str(tmp_path / "90-x.conf")
    files.write_atomically(path, "a = 1\n")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert open(path).read() == "a = 1\n"
    assert os.listdir(str(tmp_path)) == ["90-x.conf"]


def test_old_file_mode_is_not_kept(tmp_path, umask027):
    path = str(tmp_path / "90-x.conf")
    with open(path, "w") as f:
        f.write("old\n")
    os.chmod(path, 0o600)
    files.write_atomically(path, "new\n")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644 and open(path).read() == "new\n"


def test_prepare_does_everything_that_can_fail_before_the_rename(tmp_path):
    path = str(tmp_path / "90-x.conf")
    with open(path, "w") as f:
        f.write("old\n")
    tmp = files.prepare(path, "new\n", 0o644)
    assert open(path).read() == "old\n"  # nothing changed yet
    assert os.path.basename(tmp).startswith(".kerneltune-") and stat.S_IMODE(os.stat(tmp).st_mode) == 0o644
    files.discard(tmp)
    assert os.listdir(str(tmp_path)) == ["90-x.conf"]


def test_failed_move_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "91-dir.conf"
    target.mkdir()
    with pytest.raises(OSError):
        files.write_atomically(str(target), "x = 1\n")
    assert sorted(os.listdir(str(tmp_path))) == ["91-dir.conf"] and target.is_dir()
