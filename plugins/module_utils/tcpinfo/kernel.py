# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the running kernel and this process support, as tcp_info reports it:
read from the kernel's build config and CapEff, without sending any request.
"""

from __future__ import annotations

import os
import platform

from ansible_collections.kerneltune.tcp.plugins.module_utils.sockets import caps

DESTROY_OPTION = "CONFIG_INET_DIAG_DESTROY"


def kernel_config(option, release, roots=("/boot", "/proc")):
    """'y', 'm', 'n' or None (unknown) for a kernel build option, from
    /boot/config-RELEASE or /proc/config.gz."""
    import gzip  # only when the config is read
    for path, opener in ((os.path.join(roots[0], "config-%s" % release), open),
                         (os.path.join(roots[1], "config.gz"), gzip.open)):
        try:
            with opener(path, "rt") as f:
                for line in f:
                    if line.startswith(option + "="):
                        return line.strip().split("=", 1)[1]
                    if line.startswith("# %s is not set" % option):
                        return "n"
        except (OSError, EOFError):
            continue
    return None


def _destroy_support(config, cap):
    """(supported, reason) for SOCK_DESTROY from the build option and CAP_NET_ADMIN."""
    if config == "n":
        return False, "kernel built without CONFIG_INET_DIAG_DESTROY"
    if cap is False:
        return False, caps.NO_CAP
    reason = None if config == "y" else "CONFIG_INET_DIAG_DESTROY not readable in /boot or /proc/config.gz: " \
        "tcp_reset tells for sure"
    return True, reason


def kernel_support(sysctls, release=None, proc_root="/proc", boot_root="/boot"):
    """What the kernel and this process support. Sends no destroy request
    (tcp_info is read-only): CAP_NET_ADMIN comes from CapEff, and
    CONFIG_INET_DIAG_DESTROY from the kernel's config where it is readable."""
    release = release or platform.release()
    cap = caps.has_cap(caps.CAP_NET_ADMIN, proc_root)
    ok, reason = _destroy_support(kernel_config(DESTROY_OPTION, release, (boot_root, proc_root)), cap)
    return {
        "release": release,
        "tcp_tw_recycle": sysctls.get("net.ipv4.tcp_tw_recycle") is not None,
        "tcp_tw_reuse_delay": sysctls.get("net.ipv4.tcp_tw_reuse_delay") is not None,
        "cap_net_admin": cap,
        "sock_destroy": ok,
        "sock_destroy_reason": reason,
        "time_wait_destroyable": ok and caps.time_wait_destroyable(release),
    }
