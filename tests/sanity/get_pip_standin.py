# SPDX-License-Identifier: GPL-3.0-or-later
"""Stand-in for ansible-test's pip bootstrap script (get-pip).

ansible-test downloads get-pip from a file host that is not reachable on
machines that only reach the package registries. This script does the same
job with the interpreter's own ensurepip, then installs what ansible-test asked
for (for example pip==24.2) from the configured package index.
"""
import os
import subprocess
import sys


def main():
    import ensurepip

    ensurepip.bootstrap(upgrade=True)
    # ensurepip leaves these behind; with them pip ignores the machine's pip
    # configuration (its index and CA bundle).
    for name in ("PIP_CONFIG_FILE", "ENSUREPIP_OPTIONS"):
        os.environ.pop(name, None)
    args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
    if args:
        subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)


if __name__ == "__main__":
    main()
