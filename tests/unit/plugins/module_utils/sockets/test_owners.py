# SPDX-License-Identifier: GPL-3.0-or-later
"""Socket owners from /proc/<pid>/fd, on a fake /proc."""
import os
import unittest.mock

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import owners


def test_owners_scan(tmp_path):
    (tmp_path / "42" / "fd").mkdir(parents=True)
    (tmp_path / "42" / "comm").write_text("java\n")
    (tmp_path / "42" / "cmdline").write_text("java\0-jar\0app.jar\0")
    os.symlink("socket:[587520]", str(tmp_path / "42" / "fd" / "7"))
    os.symlink("/dev/null", str(tmp_path / "42" / "fd" / "0"))
    (tmp_path / "self").mkdir()
    assert owners.owners([587520, 0, 99], str(tmp_path)) == {587520: (42, "java", "java -jar app.jar")}


def test_owner_scan_stops_when_all_found(tmp_path):
    for pid in ("1", "2"):
        (tmp_path / pid / "fd").mkdir(parents=True)
        (tmp_path / pid / "comm").write_text("p%s\n" % pid)
        (tmp_path / pid / "cmdline").write_text("p\0")
    os.symlink("socket:[10]", str(tmp_path / "1" / "fd" / "3"))
    os.symlink("socket:[10]", str(tmp_path / "2" / "fd" / "3"))
    seen = []
    real = os.listdir

    def spy(path):
        seen.append(path)
        return real(path)
    with unittest.mock.patch.object(owners.os, "listdir", spy):
        found = owners.owners([10], str(tmp_path))
    assert list(found) == [10]
    assert len([p for p in seen if p.endswith("fd")]) == 1


def test_all_owners_names_every_holder(tmp_path):
    for pid in ("7", "12", "30"):
        (tmp_path / pid / "fd").mkdir(parents=True)
        (tmp_path / pid / "comm").write_text("w%s\n" % pid)
        (tmp_path / pid / "cmdline").write_text("w%s\0" % pid)
    os.symlink("socket:[10]", str(tmp_path / "12" / "fd" / "3"))
    os.symlink("socket:[10]", str(tmp_path / "7" / "fd" / "4"))
    os.symlink("socket:[11]", str(tmp_path / "30" / "fd" / "3"))
    os.symlink("socket:[99]", str(tmp_path / "30" / "fd" / "5"))
    assert owners.all_owners([10, 11, 0], str(tmp_path)) == {
        10: [(7, "w7", "w7"), (12, "w12", "w12")], 11: [(30, "w30", "w30")]}


def test_all_owners_on_a_real_fork():
    """A socket a forked child inherited has two holders in the real /proc: the parent and the child."""
    import socket
    s = socket.socket()
    inode = os.fstat(s.fileno()).st_ino
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(r)
        os.write(w, b"x")
        import time
        time.sleep(30)
        os._exit(0)
    try:
        os.close(w)
        os.read(r, 1)
        found = owners.all_owners([inode])
        assert [pid for pid, _c, _l in found[inode]] == sorted([os.getpid(), child])
    finally:
        os.kill(child, 9)
        os.waitpid(child, 0)
        s.close()
