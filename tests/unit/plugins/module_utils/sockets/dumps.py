# SPDX-License-Identifier: GPL-3.0-or-later
"""The dump captured from a real kernel (fixtures/README.md), parsed message by message."""
import os
import struct

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import netlink

FIX = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                   "fixtures")


def dump_fixture():
    with open(os.path.join(FIX, "sockdiag_dump.bin"), "rb") as f:
        return f.read()


def parse_all(data):
    out = []
    off = 0
    while off < len(data):
        length = struct.unpack_from("=I", data, off)[0]
        netlink.parse_messages(data[off:off + length], out.append)
        off += (length + 3) & ~3
    return out
