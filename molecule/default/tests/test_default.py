# SPDX-License-Identifier: GPL-3.0-or-later
"""The harness itself: the container's value changed, the host's did not."""

KEY = "/proc/sys/net/ipv4/tcp_fin_timeout"


def test_container_value_set(host):
    assert host.file(KEY).content_string.strip() == "17"


def test_file_written(host):
    f = host.file("/etc/sysctl.d/90-kerneltune-default.conf")
    assert f.exists and f.user == "root" and f.mode == 0o644
    assert "net.ipv4.tcp_fin_timeout = 17" in f.content_string.splitlines()


def test_container_has_own_network_namespace(host):
    # --network none: only loopback.
    assert host.check_output("ls /sys/class/net") == "lo"


def test_host_value_unchanged(host):
    # This runs on the controller, which is the host of the container.
    with open(KEY) as f:
        assert f.read().strip() != "17"
