# SPDX-License-Identifier: GPL-3.0-or-later
"""What the in-container drivers of molecule/sysctl_precedence and molecule/boot_services share: writing a layout's
files, running a command, and importing the collection's module_utils as tcp_sysctl does. Copied next to each driver
by its converge.yml. Python 3.9 (bullseye) and later, standard library only."""
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile


def put(path, text):
    """Write TEXT at PATH (0644); "@null" makes a /dev/null mask, "@link:TARGET" a symbolic link."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.lexists(path):
        os.unlink(path)
    if text == "@null":
        os.symlink("/dev/null", path)
    elif text.startswith("@link:"):
        os.symlink(text[len("@link:"):], path)
    else:
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)


def sh(argv, check=True, stderr=subprocess.DEVNULL, timeout=None):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=stderr, universal_newlines=True, check=check,
                          timeout=timeout)


def import_library(src):
    """Make the module_utils tree in src (its packages too) importable under its collection name."""
    top = tempfile.mkdtemp(prefix="kt-lib-")
    pkg = top
    for part in ("ansible_collections", "kerneltune", "tcp", "plugins"):
        pkg = os.path.join(pkg, part)
        os.mkdir(pkg)
        open(os.path.join(pkg, "__init__.py"), "w").close()
    lib = os.path.join(pkg, "module_utils")
    shutil.copytree(src, lib, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    open(os.path.join(lib, "__init__.py"), "a").close()
    sys.path.insert(0, top)


@contextlib.contextmanager
def layout(files):
    """Write FILES ({path: text}, as put() takes them) for the block, then remove them and put back what they
    replaced."""
    stash = {}
    try:
        for path, text in files.items():
            if os.path.lexists(path) and path not in stash:
                stash[path] = ("@link:" + os.readlink(path)) if os.path.islink(path) else open(path).read()
            put(path, text)
        yield
    finally:
        for path in files:
            if os.path.lexists(path):
                os.unlink(path)
            if path in stash:
                put(path, stash.pop(path))
