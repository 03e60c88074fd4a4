#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Run ansible-playbook with the given arguments in the background (its output in $1), wait until the rollout's
# settle pause has started $2 times, then interrupt it with a real SIGINT, as Ctrl+C would. Prints its exit status.
log=$1
pauses=$2
shift 2
ansible-playbook "$@" > "$log" 2>&1 < /dev/null &
pid=$!
n=0
while [ "$n" -lt "$pauses" ] && kill -0 "$pid" 2>/dev/null; do
    sleep 0.2
    n=$(grep -c 'TASK \[Let the change settle' "$log")
done
# The pause has begun: its header is printed as the task starts.
sleep 1
kill -INT "$pid"
wait "$pid"
echo "rc=$?"
