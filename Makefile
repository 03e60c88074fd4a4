# SPDX-License-Identifier: GPL-3.0-or-later
# Two commands do all set-up on a fresh Debian machine (as root):
#   make demo   read-only audit and TIME_WAIT/CLOSE_WAIT diagnosis of this machine
#   make test   the whole test suite; its last line is "N passed, N failed"
#   make test-all   the same with every scenario on all three Debian releases (slow)
.PHONY: demo test test-all sanity lint unit bench

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

# Longer than CI allows: every molecule scenario on all three Debian releases.
test-all:
	KT_ALL_RELEASES=1 bash scripts/test.sh

unit:
	KT_STAGES=unit bash scripts/test.sh

sanity:
	KT_STAGES=sanity bash scripts/test.sh

lint:
	KT_STAGES=lint bash scripts/test.sh

bench:
	bash benchmarks/run.sh
