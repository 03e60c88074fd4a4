# SPDX-License-Identifier: GPL-3.0-or-later
"""What tcp_info reports of the kernel's support, read without any netlink request."""
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import caps
from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import netlink
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpinfo import kernel


def test_kernel_support_reads_capeff_and_config_and_sends_nothing(tmp_path, monkeypatch):
    (tmp_path / "self").mkdir()
    (tmp_path / "self/status").write_text("Name:\tpython3\nCapEff:\t000001ffffffffff\n")
    boot = tmp_path / "boot"
    boot.mkdir()
    (boot / "config-6.18.4-x").write_text("CONFIG_INET_DIAG=y\nCONFIG_INET_DIAG_DESTROY=y\n")

    def no_netlink(*a, **kw):
        raise AssertionError("tcp_info must send no destroy request")
    monkeypatch.setattr(netlink, "open_socket", no_netlink)
    monkeypatch.setattr(caps, "probe_destroy", no_netlink)
    yes = kernel.kernel_support({"net.ipv4.tcp_tw_reuse_delay": "1000", "net.ipv4.tcp_tw_recycle": None},
                                "6.18.4-x", str(tmp_path), str(boot))
    assert yes == {"release": "6.18.4-x", "tcp_tw_recycle": False, "tcp_tw_reuse_delay": True,
                   "cap_net_admin": True, "sock_destroy": True, "sock_destroy_reason": None,
                   "time_wait_destroyable": True}
    old = kernel.kernel_support({}, "5.15.0-91-generic", str(tmp_path), str(boot))
    assert old["time_wait_destroyable"] is False and old["sock_destroy"] is True
    assert old["sock_destroy_reason"] == ("CONFIG_INET_DIAG_DESTROY not readable in /boot or /proc/config.gz: "
                                          "tcp_reset tells for sure")
    (tmp_path / "self/status").write_text("Name:\tpython3\nCapEff:\t000001ffffffefff\n")  # bit 12 clear
    no = kernel.kernel_support({}, "6.18.4-x", str(tmp_path), str(boot))
    assert (no["cap_net_admin"], no["sock_destroy"], no["time_wait_destroyable"]) == (False, False, False)
    assert no["sock_destroy_reason"] == ("this process lacks CAP_NET_ADMIN (CapEff bit 12 is clear in "
                                         "/proc/self/status); run it as root (become: true)")
    (boot / "config-6.18.4-x").write_text("# CONFIG_INET_DIAG_DESTROY is not set\n")
    off = kernel.kernel_support({}, "6.18.4-x", str(tmp_path), str(boot))
    assert off["sock_destroy_reason"] == "kernel built without CONFIG_INET_DIAG_DESTROY"
