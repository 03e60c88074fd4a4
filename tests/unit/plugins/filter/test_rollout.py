# SPDX-License-Identifier: GPL-3.0-or-later
"""The rollout's filters: the profile's file before the change, as the settings that put it back."""
from ansible_collections.kerneltune.tcp.plugins.filter import rollout
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import render

EARLIER = render.HEADER + ("# kerneltune.tcp bound: net.ipv4.tcp_fin_timeout max=20\nnet.ipv4.tcp_fin_timeout = 20\n"
                           "net.ipv4.tcp_tw_reuse = 1\n"
                           "# kerneltune.tcp bound: net.ipv4.ip_local_port_range low_max=10240 high_min=65000\n"
                           "net.ipv4.ip_local_port_range = 10240 65535\n")


def test_an_earlier_version_keeps_its_bounds():
    # A bounded key comes back as its bound, not as the value the file held: put back as a plain value, it lost
    # its bound comment, the other profiles' files no longer saw the bound and the earlier version was overridden.
    assert rollout.rollout_previous_settings(EARLIER) == {
        "net.ipv4.tcp_fin_timeout": {"max": 20},
        "net.ipv4.tcp_tw_reuse": "1",
        "net.ipv4.ip_local_port_range": {"low_max": 10240, "high_min": 65000},
    }


def test_a_file_of_an_earlier_release_and_no_file():
    old = render.HEADER + "net.core.somaxconn = 8192\n; a comment\n\nnet.ipv4.tcp_fin_timeout=15\n"
    assert rollout.rollout_previous_settings(old) == {"net.core.somaxconn": "8192", "net.ipv4.tcp_fin_timeout": "15"}
    assert rollout.rollout_previous_settings("") == {} and rollout.rollout_previous_settings(None) == {}
