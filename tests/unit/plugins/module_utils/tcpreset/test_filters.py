# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_reset's endpoint filters; every message word for word."""
import socket

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import filters
from ansible_collections.kerneltune.tcp.plugins.module_utils.tcpreset import request

from .socks import v4, v6


@pytest.mark.parametrize("text,hits,misses", [
    ("10.0.0.0/8", [("10.1.2.3", 1)], [("192.0.2.1", 1)]),
    ("10.0.0.5", [("10.0.0.5", 9)], [("10.0.0.6", 9)]),
    ("10.0.0.5:8080", [("10.0.0.5", 8080)], [("10.0.0.5", 8081), ("10.0.0.6", 8080)]),
    (":8080", [("1.2.3.4", 8080)], [("1.2.3.4", 80)]),
    (":8000-8100", [("1.2.3.4", 8000), ("1.2.3.4", 8100)], [("1.2.3.4", 8101)]),
])
def test_specs_v4(text, hits, misses):
    spec = filters.parse_spec("remote", text)
    for addr, port in hits:
        assert spec.matches(socket.AF_INET, v4(addr), port), (addr, port)
    for addr, port in misses:
        assert not spec.matches(socket.AF_INET, v4(addr), port), (addr, port)


def test_specs_v6_and_mapped():
    spec = filters.parse_spec("local", "[::1]:80")
    assert spec.matches(socket.AF_INET6, v6("::1"), 80)
    assert not spec.matches(socket.AF_INET, v4("127.0.0.1"), 80)
    mapped = filters.parse_spec("remote", "10.0.0.0/8")
    assert mapped.matches(socket.AF_INET6, v6("::ffff:10.0.0.1"), 1)
    assert filters.parse_spec("remote", "2001:db8::/32").matches(socket.AF_INET6, v6("2001:db8::5"), 1)
    # An IPv4-mapped filter is the IPv4 host: it matches both socket families, as the plain IPv4 form does.
    for text in ("::ffff:10.0.0.5", "[::ffff:10.0.0.5]:80", "::ffff:10.0.0.0/120"):
        spec = filters.parse_spec("remote", text)
        assert spec.matches(socket.AF_INET, v4("10.0.0.5"), 80), text
        assert spec.matches(socket.AF_INET6, v6("::ffff:10.0.0.5"), 80), text
        assert not spec.matches(socket.AF_INET, v4("10.1.0.5"), 80), text


@pytest.mark.parametrize("text,message", [
    ("nonsense", "remote: 'nonsense' is not an address, a network (CIDR), :port, :low-high or address:port"),
    ("10.0.0.5:http", "remote: '10.0.0.5:http' is not an address, a network (CIDR), :port, :low-high or address:port"),
    (":", "remote: ':' is not an address, a network (CIDR), :port, :low-high or address:port"),
    ("[::1", "remote: '[::1' is not an address, a network (CIDR), :port, :low-high or address:port"),
    (":9000-8000", "remote: ':9000-8000' has a port range outside 1..65535 or low above high"),
    (":70000", "remote: ':70000' has a port range outside 1..65535 or low above high"),
    ("fe80::1%eth0", "remote: 'fe80::1%eth0' names a zone (eth0); a filter matches addresses on every interface, so "
                     "it would match this address on other links too. Give it without the zone if that is meant"),
    ("[fe80::1%2]:22", "remote: '[fe80::1%2]:22' names a zone (2); a filter matches addresses on every interface, "
                       "so it would match this address on other links too. Give it without the zone if that is "
                       "meant"),
])
def test_bad_specs(text, message):
    with pytest.raises(request.ResetError) as e:
        filters.parse_spec("remote", text)
    assert e.value.message == message
