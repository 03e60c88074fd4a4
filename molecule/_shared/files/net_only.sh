#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Run in a privileged test container before a real applier (systemd-sysctl, sysctl --system, ufw's boot script,
# tuned's re-apply): only net.* is per network namespace, so nothing else may reach this machine's kernel.
# 1. /proc/sys/kernel, fs and vm become read-only in this container.
# 2. Every distribution file in /usr/lib/sysctl.d and /etc/sysctl.d that sets anything but net.* is masked in
#    /etc/sysctl.d (found, not named: bullseye's protect-links.conf, bookworm's 99-protect-links.conf, trixie's
#    10-coredump-debian.conf, 50-pid-max.conf ...).
# 3. The directories the appliers read exist.
# 4. What is left, and every file given as an argument (e.g. /etc/ufw/sysctl.conf), sets net.* only, or this fails.
set -e
for d in kernel fs vm; do
    mount --bind /proc/sys/$d /proc/sys/$d
    mount -o remount,bind,ro /proc/sys/$d
done
sets_other() {  # sets_other FILE: prints the lines of FILE that set something other than net.*
    grep -hvE -e '^[[:space:]]*[#;]' -e '^[[:space:]]*$' -e '^[[:space:]]*-?net[./]' "$1"
}
for f in /usr/lib/sysctl.d/*.conf /etc/sysctl.d/*.conf; do
    [ -e "$f" ] || continue
    [ -L "/etc/sysctl.d/${f##*/}" ] && continue
    if sets_other "$f" >/dev/null; then
        ln -sfn /dev/null "/etc/sysctl.d/${f##*/}"
    fi
done
mkdir -p -m 0755 /run/sysctl.d /usr/local/lib/sysctl.d /usr/lib/sysctl.d
for f in /usr/lib/sysctl.d/*.conf /etc/sysctl.d/*.conf /etc/sysctl.conf "$@"; do
    [ -e "$f" ] || continue
    case "$f" in /usr/lib/*) [ -L "/etc/sysctl.d/${f##*/}" ] && continue ;; esac
    if sets_other "$f"; then
        echo "$f sets a non-net key" >&2
        exit 1
    fi
done
