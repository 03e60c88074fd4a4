# SPDX-License-Identifier: GPL-3.0-or-later
"""The `env` fixture: a temporary /proc/sys and sysctl.d tree (sysctl_env.Env)."""
import pytest

from .sysctl_env import Env


@pytest.fixture
def env(tmp_path):
    return Env(tmp_path)
