# SPDX-License-Identifier: GPL-3.0-or-later
"""TCP state numbers, names and the masks the kernel filters dumps by."""
import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import states


@pytest.mark.parametrize("names,mask", [
    (["time_wait"], 1 << 6),
    (["syn_recv"], (1 << 3) | (1 << 12)),
    (["close_wait", "established"], (1 << 8) | (1 << 1)),
])
def test_state_mask(names, mask):
    assert states.state_mask(names) == mask


def test_state_mask_has_no_bound_inactive_bit():
    assert states.ALL_STATES == 0x1FFE
    assert not states.ALL_STATES & (1 << 13)
