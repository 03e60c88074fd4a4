# SPDX-License-Identifier: GPL-3.0-or-later
"""The one list of profiles (the kerneltune.tcp.profile lookup) against everything else that names them: the roles,
the files scripts/profile-roles.py writes for them, docs/profiles.md and the playbooks."""
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from ansible_collections.kerneltune.tcp.plugins.lookup import profile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join("scripts", "profile-roles.py")


def read(*path):
    with open(os.path.join(ROOT, *path), encoding="utf-8") as f:
        return f.read()


def defaults(name):
    return yaml.safe_load(read("roles", name, "defaults", "main.yml"))


def check(root):
    return subprocess.run([sys.executable, os.path.join(root, SCRIPT), "check"], capture_output=True, text=True,
                          check=False, timeout=120)


def test_the_generated_role_files_are_current():
    p = check(ROOT)
    assert (p.returncode, p.stderr) == (0, ""), p.stdout


@pytest.fixture
def tree(tmp_path):
    """What the script reads and writes, copied: a change there cannot touch the checkout."""
    for part in ("scripts", "roles", os.path.join("plugins", "lookup"), os.path.join("plugins", "module_utils")):
        shutil.copytree(os.path.join(ROOT, part), str(tmp_path / part))
    return tmp_path


def test_check_names_the_copy_that_drifted(tree):
    spec = tree / "roles" / "web_frontend" / "meta" / "argument_specs.yml"
    spec.write_text(spec.read_text().replace("default: present", "default: auto", 1))
    (tree / "roles" / "reverse_proxy" / "tasks" / "main.yml").unlink()
    p = check(str(tree))
    assert p.returncode == 1
    assert [line for line in p.stdout.splitlines() if line.startswith("roles/")] == [
        "roles/reverse_proxy/tasks/main.yml: missing; run scripts/profile-roles.py write",
        "roles/web_frontend/meta/argument_specs.yml: differs from what scripts/profile-roles.py writes; run "
        "scripts/profile-roles.py write"]
    assert "-        default: auto\n+        default: present\n" in p.stdout


def test_write_makes_a_new_profile_from_its_data_file(tree):
    """A new profile: its defaults with a header, then write; the lookup and kt_sysctl's choices list it."""
    role = tree / "roles" / "zz_example"
    role.mkdir()
    (role / "defaults").mkdir()
    (role / "defaults" / "main.yml").write_text(
        "---\n__zz_example_profile:\n  purpose: Tune a database client\n  composed_on: []\n"
        "zz_example_settings:\n  net.ipv4.tcp_keepalive_time: {max: 300}\n"
        "zz_example_path: /etc/sysctl.d/80-kerneltune-zz_example.conf\n")
    assert check(str(tree)).returncode == 1
    p = subprocess.run([sys.executable, str(tree / SCRIPT), "write"], capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stderr
    assert check(str(tree)).returncode == 0
    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]
    assert spec["short_description"] == "Tune a database client"
    assert spec["options"]["zz_example_settings"]["default"] == {"net.ipv4.tcp_keepalive_time": {"max": 300}}
    assert spec["options"]["zz_example_nat"]["default"] == "auto"
    plain = yaml.safe_load((tree / "roles" / "kt_sysctl" / "meta" / "argument_specs.yml").read_text())
    assert plain["argument_specs"]["main"]["options"]["kt_sysctl_profile"]["choices"] == [
        "kt_sysctl", "web_frontend", "high_outbound_client", "reverse_proxy", "zz_example"]


def test_the_lookup_lists_exactly_the_profile_roles():
    """A role is a profile when its tasks include kt_sysctl with kt_sysctl_profile set to its own name."""
    roles = sorted(os.listdir(os.path.join(ROOT, "roles")))
    applying = []
    for name in roles:
        tasks = yaml.safe_load(read("roles", name, "tasks", "main.yml"))
        if any((t.get("ansible.builtin.include_role") or {}).get("name") == "kerneltune.tcp.kt_sysctl"
               and t.get("vars", {}).get("kt_sysctl_profile") == name for t in tasks):
            applying.append(name)
    assert sorted(profile.profile_names("roles")) == applying
    assert profile.profile_names("all") == profile.profile_names("roles") + ["kt_sysctl"]
    assert set(roles) == set(profile.profile_names("all"))
    for name in applying:
        assert os.path.isfile(os.path.join(ROOT, "roles", name, "README.md")), name
    spec = yaml.safe_load(read("roles", "kt_sysctl", "meta", "argument_specs.yml"))
    assert spec["argument_specs"]["main"]["options"]["kt_sysctl_profile"]["choices"] == (
        ["kt_sysctl"] + profile.profile_names("roles"))


def test_argument_specs_show_the_profile_and_every_never_allowable_rule():
    rules = ("key_name", "scope", "value_chars", "tw_recycle_nat", "bounds")
    for name in profile.profile_names("roles"):
        options = yaml.safe_load(read("roles", name, "meta", "argument_specs.yml"))["argument_specs"]["main"]["options"]
        assert options[name + "_settings"]["default"] == defaults(name)[name + "_settings"]
        allow = options[name + "_allow"]["description"]
        assert all(rule in allow for rule in rules), (name, allow)
    plain = yaml.safe_load(read("roles", "kt_sysctl", "meta", "argument_specs.yml"))["argument_specs"]["main"]
    assert all(rule in plain["options"]["kt_sysctl_allow"]["description"] for rule in rules)


def doc_sections():
    """docs/profiles.md: '## name (`file`)' heading -> (file, the section's text)."""
    text = read("docs", "profiles.md")
    parts = re.split(r"^## ", text, flags=re.M)
    out = {}
    for part in parts[1:]:
        m = re.match(r"(\w+) \(`([^`]+)`\)\n", part)
        if m:
            out[m.group(1)] = (m.group(2), part)
    return out


def test_docs_have_a_section_and_a_symptom_row_per_profile_role():
    sections = doc_sections()
    assert sorted(sections) == sorted(profile.profile_names("roles"))
    text = read("docs", "profiles.md")
    symptoms = text[:text.index("\n## ")]
    for name, (conf, _body) in sections.items():
        assert conf == os.path.basename(profile.resolve(name)["path"]), name
        assert "**%s**" % name in symptoms, name


def flow(value):
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False).strip()


def test_docs_list_every_key_of_a_profile_with_its_value():
    """Each profile's own settings are rows of its section's table: the key, then its value (a bound as
    `{max: 30}`)."""
    for name, (_conf, body) in doc_sections().items():
        rows = {}
        for line in body.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if line.startswith("| net."):
                rows[cells[0]] = cells[1]
        own = defaults(name)[name + "_settings"] or {}
        assert sorted(rows) == sorted(own), name
        for key, value in own.items():
            if isinstance(value, dict):
                assert "`%s`" % flow(value) in rows[key], (name, key, rows[key])
            else:
                assert rows[key] == str(value), (name, key, rows[key])


def test_docs_name_every_profile_file_in_the_order_they_sort():
    text = " ".join(read("docs", "profiles.md").split())
    files = sorted(os.path.basename(profile.resolve(n)["path"]) for n in profile.profile_names("all"))
    assert " < ".join("`%s`" % f for f in files) in text


@pytest.mark.parametrize("book", ["audit.yml", "rollout.yml"])
def test_playbooks_take_the_names_from_the_lookup(book):
    """Outside comments, the playbooks name no profile: the list is the lookup's."""
    code = [line for line in read("playbooks", book).splitlines() if not line.lstrip().startswith("#")]
    assert "names=" in "\n".join(code)
    for name in profile.profile_names("roles"):
        assert not [line for line in code if name in line], (book, name)
