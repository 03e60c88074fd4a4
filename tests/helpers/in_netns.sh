#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Run a command on the host inside a test container's network namespace only
# (the file system, users and processes stay the host's). This is how a
# controller on the host reaches sshd on the container's own 127.0.0.1 with no
# network between them: nothing leaves the container's namespace.
#   tests/helpers/in_netns.sh CONTAINER CMD [ARG...]
# The command gets a clean Ansible environment: the caller's ANSIBLE_* settings
# (molecule's ansible.cfg, its inventory, roles path) are dropped, except
# ANSIBLE_COLLECTIONS_PATH, and no ansible.cfg is read (ANSIBLE_CONFIG points to empty-ansible.cfg);
# KT_SSH_ENV_* variables are passed on without the prefix
# (KT_SSH_ENV_ANSIBLE_FORKS=5 -> ANSIBLE_FORKS=5).
# Needs root (nsenter joins another namespace: CAP_SYS_ADMIN), as the harness runs.
set -euo pipefail
name="$1"; shift
pid="$(podman inspect -f '{{.State.Pid}}' "$name")"
if [ -z "$pid" ] || [ "$pid" = 0 ]; then
    echo "in_netns.sh: container $name is not running" >&2
    exit 2
fi
if [ "$(id -u)" != 0 ]; then
    echo "in_netns.sh: needs root to join the network namespace of $name (nsenter --net)" >&2
    exit 2
fi
keep=(PATH="$PATH" HOME="$HOME" LANG=C.UTF-8 ANSIBLE_CONFIG="$(cd "$(dirname "$0")" && pwd)/empty-ansible.cfg")
[ -n "${ANSIBLE_COLLECTIONS_PATH:-}" ] && keep+=(ANSIBLE_COLLECTIONS_PATH="$ANSIBLE_COLLECTIONS_PATH")
while IFS='=' read -r var value; do
    case "$var" in KT_SSH_ENV_*) keep+=("${var#KT_SSH_ENV_}=$value") ;; esac
done < <(env)
exec nsenter --net="/proc/$pid/ns/net" env -i "${keep[@]}" "$@"
