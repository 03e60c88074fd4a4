# SPDX-License-Identifier: GPL-3.0-or-later
"""A socket's text forms."""
import socket

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import record

V4 = socket.inet_aton("127.0.0.1") + b"\0" * 12


def test_endpoint_text():
    assert record.endpoint(socket.AF_INET, V4, 80) == "127.0.0.1:80"
