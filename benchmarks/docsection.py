# SPDX-License-Identifier: GPL-3.0-or-later
"""The generated sections of docs/benchmarks.md. Standard library only: the benchmark scripts also run inside the
test containers (bench_nat.py and bench_sockets.py measure there), where bench.py's yaml is not installed."""


def write_section(path, begin, end, block):
    """Put BLOCK (from BEGIN to END, markers included) in place of the file's BEGIN..END section, or append it
    (to a new "# Benchmarks" page when PATH does not exist yet)."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        text = "# Benchmarks\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)
