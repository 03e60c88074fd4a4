# SPDX-License-Identifier: GPL-3.0-or-later
"""CAP_NET_ADMIN from CapEff: the probe refuses before any request without it."""
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import caps


def test_has_cap(tmp_path):
    (tmp_path / "self").mkdir()
    (tmp_path / "self/status").write_text("CapEff:\t0000000000001000\n")
    assert caps.has_cap(12, str(tmp_path)) is True
    (tmp_path / "self/status").write_text("CapEff:\t000001ffffffefff\n")
    assert caps.has_cap(12, str(tmp_path)) is False
    assert caps.probe_destroy(str(tmp_path)) == {
        "supported": False, "reason": "this process lacks CAP_NET_ADMIN (CapEff bit 12 is clear in /proc/self/status); "
                                      "run it as root (become: true)"}
    assert caps.has_cap(12, str(tmp_path / "nowhere")) is None
