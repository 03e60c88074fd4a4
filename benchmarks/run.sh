#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# make bench: every comparison, side by side, on this machine.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
bash scripts/setup.sh test
export PATH="$here/.venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$here/.cache/collections"
export ANSIBLE_PYTHON_INTERPRETER=auto_silent
. scripts/podman-env.sh
bash scripts/build-image.sh bookworm
kt_podman_configure
python benchmarks/bench.py "$@"
# The fleet: 10 and 50 hosts, forks 25, the audit against Ansible's floors (ping; ping and a failing task per host),
# the ansible.posix.sysctl loop and the diagnosis, stock and under Mitogen.
python benchmarks/bench_fleet.py
python benchmarks/bench_sockets.py
python benchmarks/bench_namespaces.py
