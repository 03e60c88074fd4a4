#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Run ansible-playbook over the SSH transport against one test container:
#   molecule/_shared/ssh/play.sh CONTAINER PLAYBOOK [ansible-playbook args...]
# Uses the inventory and key written by prepare.yml, a control-path directory
# private to the container (ControlMaster sockets are files: a shared one would
# join a connection made in another container's namespace), and runs inside the
# container's network namespace.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
name="$1"; shift
dir="${MOLECULE_EPHEMERAL_DIRECTORY:?run from a molecule scenario}/ssh"
# One control-path directory per container: Ansible's ControlPath hashes
# host, port and user, which are the same (kt@127.0.0.1:22) for every container.
mkdir -p "$dir/cp/$name"
export KT_SSH_ENV_ANSIBLE_SSH_CONTROL_PATH_DIR="$dir/cp/$name"
export KT_SSH_ENV_ANSIBLE_HOST_KEY_CHECKING=False
export KT_SSH_ENV_ANSIBLE_FORCE_COLOR=0
export KT_SSH_ENV_ANSIBLE_STDOUT_CALLBACK="${KT_SSH_STDOUT_CALLBACK:-ansible.builtin.default}"
exec "$root/tests/helpers/in_netns.sh" "$name" ansible-playbook -i "$dir/inventory.yml" --limit "$name" "$@"
