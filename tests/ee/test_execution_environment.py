# SPDX-License-Identifier: GPL-3.0-or-later
"""The execution environment files, through ansible-builder itself.

`ansible-builder create` renders the build context of
examples/execution-environment.yml (no registry needed; `build` would pull the
base image). The introspection script it puts in that context, the one that
runs inside the image build, then reads this collection's
meta/execution-environment.yml. Run by scripts/test.sh stage "ee".
"""
import os
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILDER = os.path.join(os.path.dirname(sys.executable), "ansible-builder")


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    ctx = str(tmp_path_factory.mktemp("ee") / "context")
    p = subprocess.run([BUILDER, "create", "-f", os.path.join(ROOT, "examples", "execution-environment.yml"),
                        "--context", ctx], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    assert p.returncode == 0, p.stdout
    assert "Complete! The build context can be found at: %s" % ctx in p.stdout
    return ctx


def introspect(context, data_dir):
    sys.path.insert(0, os.path.join(context, "_build", "scripts"))
    try:
        import introspect as mod  # the script ansible-builder ships into the image build
        return mod.process(data_dir=data_dir)
    finally:
        sys.path.pop(0)


def collection_tree(tmp_path, source):
    base = tmp_path / "collections"
    (base / "ansible_collections" / "kerneltune").mkdir(parents=True)
    os.symlink(source, str(base / "ansible_collections" / "kerneltune" / "tcp"))
    return str(base)


def test_containerfile_pins_base_image_core_and_runner(context):
    with open(os.path.join(context, "Containerfile")) as f:
        text = f.read().splitlines()
    assert 'ARG EE_BASE_IMAGE="quay.io/ansible/awx-ee:24.6.1"' in text
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core==2.19.14 ansible-runner==2.4.1"' in text
    # The collection's own dependencies are introspected during the image build.
    assert any("introspect.py introspect" in line for line in text)


def test_context_installs_the_collection_and_optional_mitogen(context):
    with open(os.path.join(context, "_build", "requirements.yml")) as f:
        assert yaml.safe_load(f) == {"collections": [{"name": "kerneltune.tcp", "version": ">=0.1.0"}]}
    with open(os.path.join(context, "_build", "requirements.txt")) as f:
        assert f.read().split() == ["mitogen==0.3.54"]


def test_collection_adds_no_dependencies_to_the_image(context, tmp_path):
    # The checkout has the development requirements.txt at its root; the meta
    # file keeps ansible-builder from taking it as the collection's needs.
    assert introspect(context, collection_tree(tmp_path, ROOT)) == {"python": {}, "system": {}}


def test_without_the_meta_file_the_dev_requirements_would_leak(context, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("galaxy.yml", "requirements.txt"):
        shutil.copy(os.path.join(ROOT, name), str(bare / name))
    found = introspect(context, collection_tree(tmp_path, str(bare)))["python"]["kerneltune.tcp"]
    assert "molecule==26.10.0" in found


def test_meta_file_declares_the_empty_dependency_files():
    with open(os.path.join(ROOT, "meta", "execution-environment.yml")) as f:
        meta = yaml.safe_load(f)
    assert meta == {"version": 1, "dependencies": {"python": "meta/ee-requirements.txt",
                                                   "system": "meta/ee-bindep.txt"}}
    for name in meta["dependencies"].values():
        with open(os.path.join(ROOT, name)) as f:
            assert [ln for ln in f.read().splitlines() if ln.strip() and not ln.startswith("#")] == []
