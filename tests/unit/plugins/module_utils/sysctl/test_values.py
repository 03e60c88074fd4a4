# SPDX-License-Identifier: GPL-3.0-or-later
"""Values as text: rendering, characters, normalising, what the kernel stores.

A temporary directory stands in for /proc/sys and for the root of the sysctl.d tree where
needed; messages are asserted word for word.
"""
import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import values

from .sysctl_env import refused, by_key, rules


# ---------------------------------------------------------------- values

@pytest.mark.parametrize("value,text", [
    (15, "15"), ("15", "15"), ([10240, 65535], "10240 65535"), ("10240\t65535", "10240\t65535"),
    (True, "1"), (False, "0"), (None, ""),
])
def test_value_to_text(value, text):
    assert values.value_to_text(value) == text


@pytest.mark.parametrize("key,a,b", [
    ("net.ipv4.ip_local_port_range", "10240\t65535", "10240   65535"),
    ("net.ipv4.tcp_fin_timeout", "015", "13"),
    ("net.ipv4.tcp_fin_timeout", "0x10", "16"),
    ("net.ipv4.tcp_fin_timeout", "0", "0"),
    ("net.ipv4.ip_local_reserved_ports", "8080,8081, 9000", "8080-8081,9000"),
    ("net.ipv4.tcp_congestion_control", " bbr ", "bbr"),
])
def test_normalize_equal(key, a, b):
    assert values.normalize(key, a) == values.normalize(key, b)


@pytest.mark.parametrize("value", ["1\n2", "1\x002", "a=b", "15\r"])
def test_value_characters_refused(env, value):
    e = refused(env, {"net.ipv4.tcp_fin_timeout": value})
    assert e.message == "net.ipv4.tcp_fin_timeout: value %r may not contain newlines, NUL or '='" % value
    assert rules(e.findings) == [("value_chars", "error")]


def test_quoted_octal_is_written_as_the_kernel_reads_it(env):
    r = env.plan({"net.ipv4.tcp_fin_timeout": "015"})
    assert "net.ipv4.tcp_fin_timeout = 13\n" in r["new_text"]
    assert by_key(r)["net.ipv4.tcp_fin_timeout"]["desired"] == "13"


@pytest.mark.parametrize("text,value", [
    ("010", "8"), ("0x10", "16"), ("0X1f", "31"), ("0", "0"), ("-5", "-5"), ("08", None), ("+5", None),
    ("", None), ("abc", None), ("2 3", "2"),
])
def test_kernel_value_base_zero(text, value):
    assert values.kernel_value("net.ipv4.tcp_fin_timeout", text) == value


def test_kernel_value_limits():
    assert values.kernel_value("net.ipv4.tcp_keepalive_probes", "255") == "255"
    assert values.kernel_value("net.ipv4.tcp_keepalive_probes", "256") is None
    assert values.kernel_value("net.ipv4.ip_local_port_range", "020000 0xffff") == "8192 65535"
    assert values.kernel_value("net.ipv4.tcp_congestion_control", "bbr", "cubic") == "bbr"
    assert values.kernel_value("net.ipv4.tcp_ecn", "x", "2") is None


@pytest.mark.parametrize("key,value", [
    ("net.ipv4.tcp_congestion_control", "010"),
    ("net.core.rps_default_mask", "010"),
])
def test_string_and_mask_keys_are_not_numbers(key, value):
    assert values.normalize(key, value) == value
    assert values.kernel_value(key, value, runtime="0") == value


@pytest.mark.parametrize("value", ["\uff11\uff15", "15\u00a0", "1\x075"])
def test_non_ascii_values_refused(env, value):
    e = refused(env, {"net.ipv4.tcp_fin_timeout": value})
    assert e.message == "net.ipv4.tcp_fin_timeout: value %r may contain only printable ASCII characters" % value
