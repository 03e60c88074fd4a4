# SPDX-License-Identifier: GPL-3.0-or-later
"""The profile lookup: the one place where a profile and a host's variables become tcp_sysctl parameters
(the roles and the audit playbook both use it)."""
import json
import os
import subprocess
import sys

import pytest
import yaml

from ansible.errors import AnsibleLookupError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from ansible_collections.kerneltune.tcp.plugins.lookup import profile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))


def role_defaults(name):
    with open(os.path.join(ROOT, "roles", name, "defaults", "main.yml")) as f:
        return yaml.safe_load(f)


def test_defaults_come_from_the_role():
    web = role_defaults("web_frontend")
    r = profile.resolve("web_frontend")
    assert r["settings"] == web["web_frontend_settings"] and r["base"] == {}
    assert (r["path"], r["nat"], r["state"], r["restore"], r["apply"], r["audit_only"]) == (
        "/etc/sysctl.d/80-kerneltune-web_frontend.conf", "present", "present", None, True, False)


def test_reverse_proxy_is_composed_and_the_outbound_value_wins():
    web, out = role_defaults("web_frontend"), role_defaults("high_outbound_client")
    r = profile.resolve("reverse_proxy")
    want = dict(web["web_frontend_settings"])
    want.update(out["high_outbound_client_settings"])
    want.update(role_defaults("reverse_proxy")["reverse_proxy_settings"] or {})
    assert r["settings"] == want
    assert web["web_frontend_settings"]["net.ipv4.tcp_fin_timeout"] == {"max": 30}
    assert r["settings"]["net.ipv4.tcp_fin_timeout"] == {"max": 15}


def test_host_variables_win_and_overrides_merge_last():
    host = {"web_frontend_settings": {"net.core.somaxconn": 4096, "net.ipv4.tcp_fin_timeout": 20},
            "web_frontend_sysctl_overrides": {"net.ipv4.tcp_fin_timeout": 25},
            "web_frontend_nat": "auto", "web_frontend_allow": ["range"]}
    r = profile.resolve("web_frontend", host.get)
    assert r["settings"] == {"net.core.somaxconn": 4096, "net.ipv4.tcp_fin_timeout": 25}
    assert (r["nat"], r["allow"], r["skip_missing"]) == ("auto", ["range"], [])


def test_plain_role_uses_its_own_prefix():
    host = {"kt_sysctl_settings": {"net.core.somaxconn": 1024}, "kt_sysctl_overrides": {"net.core.somaxconn": 2048},
            "kt_sysctl_state": "absent", "kt_sysctl_restore": "none"}
    r = profile.resolve("kt_sysctl", host.get)
    assert r["settings"] == {"net.core.somaxconn": 2048}
    assert (r["path"], r["state"], r["restore"]) == ("/etc/sysctl.d/85-kerneltune-sysctl.conf", "absent", "none")


def test_unknown_name():
    with pytest.raises(AnsibleLookupError) as e:
        profile.resolve("database")
    assert str(e.value) == "profile: no such profile 'database' (known: %s)" % ", ".join(sorted(profile.names()))


PLAY = """
- hosts: web1
  gather_facts: false
  vars:
    kt_fin: 21
  tasks:
    - ansible.builtin.copy:
        dest: "{{ d }}/out.json"
        content: "{{ query('kerneltune.tcp.profile', 'web_frontend', 'reverse_proxy') | to_json }}"
        mode: "0644"
      delegate_to: localhost
"""

INVENTORY = """
web1:
  ansible_connection: local
  web_frontend_sysctl_overrides:
    net.ipv4.tcp_fin_timeout: "{{ kt_fin }}"
  reverse_proxy_path: /etc/sysctl.d/81-proxy.conf
"""


def run_play(tmp_path, play, hosts=None, inventory=None):
    """ansible-playbook PLAY on HOSTS (or a whole INVENTORY, YAML text) against the checkout itself, through the
    ansible_collections tree the unit tests import it from (conftest.py); the play writes its answers under
    -e d=TMP_PATH."""
    collections = os.path.abspath(os.path.join(os.path.dirname(profile.__file__), *[".."] * 5))
    assert os.path.isdir(os.path.join(collections, "ansible_collections", "kerneltune", "tcp"))
    (tmp_path / "play.yml").write_text(play)
    (tmp_path / "inv.yml").write_text(inventory if inventory is not None else yaml.safe_dump({"all": {"hosts": hosts}}))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections)
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    p = subprocess.run([playbook, "-i", str(tmp_path / "inv.yml"), str(tmp_path / "play.yml"), "-e", "d=%s" % tmp_path,
                        "-e", "ansible_python_interpreter=%s" % sys.executable],
                       env=env, capture_output=True, text=True, cwd=str(tmp_path), check=False)
    assert p.returncode == 0, p.stdout[-3000:]


def test_in_a_real_play_with_templated_inventory_values(tmp_path):
    run_play(tmp_path, PLAY, yaml.safe_load(INVENTORY))
    web, proxy = json.loads((tmp_path / "out.json").read_text())
    assert web["settings"]["net.ipv4.tcp_fin_timeout"] == 21
    assert web["path"] == "/etc/sysctl.d/80-kerneltune-web_frontend.conf"
    assert proxy["path"] == "/etc/sysctl.d/81-proxy.conf"
    assert proxy["settings"]["net.ipv4.tcp_fin_timeout"] == {"max": 15}


def test_null_means_the_role_default_and_a_null_override_removes_a_key():
    host = {"web_frontend_nat": None, "web_frontend_path": None, "web_frontend_settings": None,
            "web_frontend_sysctl_overrides": {"net.ipv4.tcp_slow_start_after_idle": None}}
    r = profile.resolve("web_frontend", host.get)
    assert (r["nat"], r["path"]) == ("present", "/etc/sysctl.d/80-kerneltune-web_frontend.conf")
    want = dict(role_defaults("web_frontend")["web_frontend_settings"])
    del want["net.ipv4.tcp_slow_start_after_idle"]
    assert r["settings"] == want


@pytest.mark.parametrize("var,value,message", [
    ("web_frontend_settings", "net.core.somaxconn=1",
     "web_frontend_settings: must be a dict of sysctl key: value, got str 'net.core.somaxconn=1'"),
    ("web_frontend_sysctl_overrides", ["ab"],
     "web_frontend_sysctl_overrides: must be a dict of sysctl key: value, got list ['ab']"),
])
def test_settings_that_are_not_a_dict_are_refused_by_name(var, value, message):
    with pytest.raises(AnsibleLookupError) as e:
        profile.resolve("web_frontend", {var: value}.get)
    assert str(e.value) == message


def test_the_one_list_of_profiles():
    """The profile roles are the roles whose defaults carry a profile header; kt_sysctl is last. The order is the
    one the rollout's messages name them in: a composed profile after its parts."""
    with_header = sorted(r for r in os.listdir(os.path.join(ROOT, "roles"))
                         if "__%s_profile" % r in (role_defaults(r) or {}))
    every = profile.profile_names("all")
    assert sorted(profile.profile_names("roles")) == with_header
    assert every == profile.profile_names("roles") + ["kt_sysctl"]
    for name, parts in profile.composed().items():
        assert parts == tuple(role_defaults(name)["__%s_profile" % name]["composed_on"])
        assert all(every.index(part) < every.index(name) for part in parts)
    assert profile.composed()["reverse_proxy"] == ("web_frontend", "high_outbound_client")


def test_names_through_the_lookup_class():
    lookup = profile.LookupModule()
    assert lookup.run([], names="all") == list(profile.names())
    assert lookup.run([], names="roles") == [n for n in profile.names() if n != "kt_sysctl"]


@pytest.mark.parametrize("which,terms,message", [
    ("some", [], "profile: names must be one of all, roles, got 'some'"),
    ("all", ["web_frontend"], "profile: names=all takes no profile names, got web_frontend"),
])
def test_names_refuses_a_bad_query(which, terms, message):
    with pytest.raises(AnsibleLookupError) as e:
        profile.LookupModule().run(terms, names=which)
    assert str(e.value) == message


def test_a_composed_part_must_be_a_plain_profile(monkeypatch):
    heads = {"web_frontend": {"purpose": "p", "composed_on": []},
             "reverse_proxy": {"purpose": "p", "composed_on": ["web_frontend", "database"]}}
    monkeypatch.setattr(profile, "header", heads.get)
    monkeypatch.setattr(profile.os, "listdir", lambda path: sorted(heads))
    profile.composed.cache_clear()
    try:
        with pytest.raises(AnsibleLookupError) as e:
            profile.composed()
    finally:
        monkeypatch.undo()
        profile.composed.cache_clear()
    assert str(e.value) == ("profile: reverse_proxy is composed on database, which must be profile roles composed "
                            "on nothing")


NAMES_PLAY = """
- hosts: web1
  gather_facts: false
  tasks:
    - ansible.builtin.copy:
        dest: "{{ d }}/names.json"
        content: "{{ [query('kerneltune.tcp.profile', names='all'), lookup('kerneltune.tcp.profile', names='roles')]
                     | to_json }}"
        mode: "0644"
      delegate_to: localhost
"""


def test_names_in_a_real_play(tmp_path):
    run_play(tmp_path, NAMES_PLAY, {"web1": {"ansible_connection": "local"}})
    every, roles = json.loads((tmp_path / "names.json").read_text())
    assert every == profile.profile_names("all")
    # lookup() joins a list of strings with commas.
    assert roles == ",".join(profile.profile_names("roles"))


def test_every_role_reads_the_same_with_libyaml():
    # The lookup parses the roles' defaults with libyaml's loader when PyYAML has it (one parse per host worker).
    for name in os.listdir(os.path.join(ROOT, "roles")):
        assert profile._defaults(name) == role_defaults(name)


# audit=true: the audit playbook's one call per host, which picks the host's profiles and the namespaces value.
@pytest.mark.parametrize("host,want", [
    ({"kt_audit_profiles": " web_frontend, reverse_proxy,,", "group_names": ["high_outbound_client"]},
     ["web_frontend", "reverse_proxy"]),
    ({"kt_audit_profiles": ["kt_sysctl"], "group_names": ["web_frontend"]}, ["kt_sysctl"]),
    ({"kt_audit_profiles": "", "group_names": ["web_frontend"]}, []),
    ({"group_names": ["db", "reverse_proxy", "web_frontend"]}, ["reverse_proxy", "web_frontend"]),
    ({"kt_audit_profiles": None, "group_names": ["web_frontend"]}, ["web_frontend"]),
    ({"group_names": ["edge", "lb", "web_frontend"],
      "kt_audit_group_profiles": {"edge": "reverse_proxy", "lb": "reverse_proxy", "web_frontend": "kt_sysctl"}},
     ["reverse_proxy", "kt_sysctl"]),
    ({"group_names": ["web_frontend"], "kt_audit_group_profiles": {}}, []),
    ({}, []),
])
def test_audit_picks_the_hosts_profiles(host, want):
    assert profile.audit_profiles(host.get) == want


@pytest.mark.parametrize("mode,want", [
    (None, "all"), ("info", "all"), ("fail", "all"), ("off", "self"), ("OFF", "self"), (False, "self"),
    ("false", "self"),
])
def test_audit_namespaces_follow_kt_audit_namespaces(mode, want):
    assert profile.audit_namespaces({"kt_audit_namespaces": mode}.get) == want


def test_audit_group_mapping_must_be_a_dict():
    host = {"group_names": ["web_frontend"], "kt_audit_group_profiles": ["web_frontend"]}
    with pytest.raises(AnsibleLookupError) as e:
        profile.audit_profiles(host.get)
    assert str(e.value) == ("kt_audit_group_profiles: must be a dict of inventory group: profile, "
                            "got ['web_frontend']")


def test_audit_through_the_lookup_class():
    lookup = profile.LookupModule(templar=Templar(loader=DataLoader()))
    got = lookup.run([], variables={"group_names": ["reverse_proxy", "web_frontend"], "kt_audit_namespaces": "off"},
                     audit=True)
    assert [g["name"] for g in got] == ["reverse_proxy", "web_frontend"]
    assert [g["namespaces"] for g in got] == ["self", "self"]
    assert got[1] == dict(profile.resolve("web_frontend"), namespaces="self")
    assert lookup.run([], variables={"group_names": ["db"]}, audit=True) == []


@pytest.mark.parametrize("terms,kwargs,message", [
    (["web_frontend"], {"audit": True}, "profile: audit=true takes no profile names, got web_frontend"),
    ([], {"audit": True, "names": "all"}, "profile: names and audit=true do not go together"),
])
def test_audit_refuses_a_bad_query(terms, kwargs, message):
    with pytest.raises(AnsibleLookupError) as e:
        profile.LookupModule().run(terms, variables={}, **kwargs)
    assert str(e.value) == message


AUDIT_PLAY = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.copy:
        dest: "{{ d }}/{{ inventory_hostname }}.json"
        content: "{{ query('kerneltune.tcp.profile', audit=true) | to_json }}"
        mode: "0644"
      delegate_to: localhost
"""

AUDIT_INVENTORY = """
all:
  vars:
    ansible_connection: local
    kt_proxy: reverse_proxy
  children:
    web_frontend:
      hosts:
        w1:
        w2:
          kt_audit_profiles: [kt_sysctl]
          kt_audit_namespaces: off
    reverse_proxy:
      hosts:
        w1:
          web_frontend_nat: absent
    edge:
      hosts:
        e1:
          kt_audit_group_profiles:
            edge: "{{ kt_proxy }}"
    db:
      hosts:
        d1:
"""


def test_audit_in_a_real_play_with_groups_and_templated_mapping(tmp_path):
    """Ansible's own group_names, a YAML false for off, a templated mapping value, a host in no profile group."""
    run_play(tmp_path, AUDIT_PLAY, inventory=AUDIT_INVENTORY)
    got = {h: json.loads((tmp_path / ("%s.json" % h)).read_text()) for h in ("w1", "w2", "e1", "d1")}
    assert [(g["name"], g["nat"], g["namespaces"]) for g in got["w1"]] == [
        ("reverse_proxy", "present", "all"), ("web_frontend", "absent", "all")]
    assert [(g["name"], g["namespaces"]) for g in got["w2"]] == [("kt_sysctl", "self")]
    assert [g["name"] for g in got["e1"]] == ["reverse_proxy"]
    assert got["d1"] == []


UNDEFINED_INVENTORY = """
all:
  vars:
    ansible_connection: local
    kt_audit_profiles: "{{ audit_override }}"
  children:
    web_frontend:
      hosts:
        w1:
          audit_override: [kt_sysctl]
        w2:
        w3:
          kt_audit_profiles:
"""


def test_audit_an_override_undefined_or_null_on_a_host_means_its_groups(tmp_path):
    """kt_audit_profiles templated from a variable set on some hosts only, or null on one: those hosts are audited
    by their groups, as the playbook's `kt_audit_profiles is defined` had it."""
    run_play(tmp_path, AUDIT_PLAY, inventory=UNDEFINED_INVENTORY)
    got = {h: [g["name"] for g in json.loads((tmp_path / ("%s.json" % h)).read_text())] for h in ("w1", "w2", "w3")}
    assert got == {"w1": ["kt_sysctl"], "w2": ["web_frontend"], "w3": ["web_frontend"]}
