# SPDX-License-Identifier: GPL-3.0-or-later
"""The tree stays readable: no function longer than a screen, modules are their docs and a thin main(),
module_utils never need AnsibleModule, package __init__ files stay empty."""
import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLUGINS = os.path.join(ROOT, "plugins")
SCREEN = 60


def _python_files(top):
    for base, _dirs, files in os.walk(top):
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.join(base, name)


def _tree(path):
    with open(path) as f:
        return ast.parse(f.read(), path)


def test_no_function_longer_than_a_screen():
    long = []
    for path in _python_files(PLUGINS):
        for node in ast.walk(_tree(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > SCREEN:
                    long.append("%s:%d %s() is %d lines" % (os.path.relpath(path, ROOT), node.lineno, node.name, lines))
    assert long == []


def test_modules_are_their_docs_and_a_thin_main():
    for path in _python_files(os.path.join(PLUGINS, "modules")):
        functions = [n.name for n in _tree(path).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        assert functions in ([], ["main"]), "%s defines %s: logic goes to module_utils" % (path, functions)


def test_module_utils_never_import_ansible_module():
    for path in _python_files(os.path.join(PLUGINS, "module_utils")):
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("ansible.module_utils.basic"), path


def test_package_init_files_are_empty():
    for base, _dirs, files in os.walk(PLUGINS):
        if "__init__.py" in files:
            assert os.path.getsize(os.path.join(base, "__init__.py")) == 0, base
