# SPDX-License-Identifier: GPL-3.0-or-later
"""Write, or check, the files every profile role needs as its own copy.

A profile is one data file, roles/<name>/defaults/main.yml: its settings (each with its reason), its other
defaults, and a header, __<name>_profile:

    __<name>_profile:
      purpose: One line: meta/main.yml's description, the argument spec's short_description
      composed_on: []           # profiles whose settings it starts from, in order (a later one wins a key)
      releases: [bookworm]      # optional: meta/main.yml's Debian versions (default [bookworm])
      tested: ...               # optional: meta/main.yml's "What is tested" comment

From that file and the one template role under scripts/profile-role/ this script writes the role's
tasks/main.yml, meta/main.yml and meta/argument_specs.yml, and the profile choices of the kt_sysctl role's
argument spec. The list of profiles is the kerneltune.tcp.profile lookup's (plugins/lookup/profile.py).

    scripts/profile-roles.py write    write every generated file
    scripts/profile-roles.py check    exit 1 naming each generated file that is missing or differs

Run it with the collection's Python (.venv/bin/python): it needs PyYAML and ansible-core (the lookup).
"""
import ast
import difflib
import importlib.util
import os
import re
import string
import sys
import textwrap

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATE = os.path.join(ROOT, "scripts", "profile-role")
# The generated files of a profile role: template under TEMPLATE -> path under roles/<name>/.
FILES = {"tasks/main.yml.tmpl": "tasks/main.yml", "meta/main.yml.tmpl": "meta/main.yml",
         "meta/argument_specs.yml.tmpl": "meta/argument_specs.yml"}
HEADER_KEYS = {"purpose", "composed_on", "releases", "tested"}
DEFAULT_RELEASES = ["bookworm"]
DEFAULT_TESTED = ("its molecule scenario runs on bookworm (docs/development.md); the module it wraps, tcp_sysctl, "
                  "is tested on bullseye, bookworm and trixie.")
GENERATED = ("Written by scripts/profile-roles.py from defaults/main.yml and the template role\n"
             "# scripts/profile-role/: do not edit; change those and run scripts/profile-roles.py write.")
# The kt_sysctl role's spec is written by hand except its kt_sysctl_profile choices: the profile names.
PLAIN_SPEC = "roles/kt_sysctl/meta/argument_specs.yml"
PLAIN_CHOICES = re.compile(r"(\n      kt_sysctl_profile:\n        type: str\n(?:        #[^\n]*\n)*        choices: )"
                           r"\[[^\]\n]*\]")


class ProfileError(Exception):
    """A profile's data file that the generated files cannot be written from."""


def load_lookup():
    """plugins/lookup/profile.py, the one list of profiles, loaded from this checkout."""
    spec = importlib.util.spec_from_file_location("kt_profile_lookup", os.path.join(ROOT, "plugins", "lookup",
                                                                                    "profile.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def never_allowable():
    """tcp_sysctl's NOT_ALLOWABLE rule ids, read from its module_utils source (in the order written there)."""
    found = set()
    for top, _dirs, files in os.walk(os.path.join(ROOT, "plugins", "module_utils")):
        for f in sorted(files):
            if not f.endswith(".py"):
                continue
            with open(os.path.join(top, f), encoding="utf-8") as fh:
                tree = ast.parse(fh.read())
            for node in tree.body:
                if (isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["NOT_ALLOWABLE"]
                        and isinstance(node.value, ast.Call) and node.value.args):
                    found.add(tuple(ast.literal_eval(node.value.args[0])))
    if len(found) != 1:
        raise ProfileError("plugins/module_utils: expected one NOT_ALLOWABLE = frozenset((...)), found %d" % len(found))
    return found.pop()


def flow(value):
    """VALUE as one line of YAML (flow style, keys in their order)."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10000).strip()
    return text[:-len("\n...")].strip() if text.endswith("\n...") else text


def block(value, indent=10):
    """VALUE as the YAML after "default:": flow style when empty, else one line per key or item."""
    if not value:
        return flow(value)
    pad = " " * indent
    if isinstance(value, dict):
        return "".join("\n%s%s: %s" % (pad, flow(k), flow(v)) for k, v in value.items())
    return "".join("\n%s- %s" % (pad, flow(v)) for v in value)


def header(lookup, name):
    """The __<name>_profile header, checked."""
    head = lookup.header(name)
    where = "roles/%s/defaults/main.yml: __%s_profile" % (name, name)
    if set(head) - HEADER_KEYS:
        raise ProfileError("%s: unknown keys %s (known: %s)" % (
            where, ", ".join(sorted(set(head) - HEADER_KEYS)), ", ".join(sorted(HEADER_KEYS))))
    if not isinstance(head.get("purpose"), str) or not head["purpose"].strip() or "\n" in head["purpose"].strip():
        raise ProfileError("%s: purpose must be one line of text" % where)
    for key in ("composed_on", "releases"):
        if not isinstance(head.get(key, []), list) or not all(isinstance(x, str) for x in head.get(key, [])):
            raise ProfileError("%s: %s must be a list of names" % (where, key))
    return head


def fields(lookup, name, rules):
    """The template's fields for profile NAME."""
    head = header(lookup, name)
    defaults = lookup.resolve(name)
    own = lookup._defaults(name).get(name + "_settings") or {}
    parts = list(lookup.composed()[name])
    if parts:
        description = ("Extra keys for this profile, merged over the composed %s settings."
                       % " and ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 1 else parts))
    else:
        description = "The profile's settings; see the role README for the reason behind each value."
    tested = textwrap.wrap("What is tested: " + " ".join(str(head.get("tested") or DEFAULT_TESTED).split()),
                           width=85, initial_indent="  # ", subsequent_indent="  # ")
    return {
        "name": name, "purpose": head["purpose"].strip(), "generated": GENERATED,
        "tested": "\n".join(tested), "releases": ", ".join(head.get("releases") or DEFAULT_RELEASES),
        "settings_default": block(own), "settings_description": description,
        "path": defaults["path"], "state": defaults["state"], "apply": flow(defaults["apply"]),
        "nat": defaults["nat"], "skip_missing": block(defaults["skip_missing"]), "allow": block(defaults["allow"]),
        "audit_only": flow(defaults["audit_only"]), "backup": flow(defaults["backup"]),
        "never_allowable": ", ".join(rules[:-1]) + " or " + rules[-1],
    }


def wanted():
    """Relative path -> the text this script writes there, for every generated file."""
    lookup = load_lookup()
    rules = never_allowable()
    out = {}
    for name in lookup.profile_names("roles"):
        values = fields(lookup, name, rules)
        for template, target in FILES.items():
            with open(os.path.join(TEMPLATE, template), encoding="utf-8") as f:
                text = string.Template(f.read()).substitute(values)
            out["roles/%s/%s" % (name, target)] = "\n".join(line.rstrip() for line in text.split("\n"))
    with open(os.path.join(ROOT, PLAIN_SPEC), encoding="utf-8") as f:
        spec = f.read()
    choices = "[%s]" % ", ".join([lookup.PLAIN] + lookup.profile_names("roles"))
    if not PLAIN_CHOICES.search(spec):
        raise ProfileError("%s: no kt_sysctl_profile option with type str and a one-line choices list" % PLAIN_SPEC)
    out[PLAIN_SPEC] = PLAIN_CHOICES.sub(lambda m: m.group(1) + choices, spec, count=1)
    return out


def current(path):
    try:
        with open(os.path.join(ROOT, path), encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return None


def main(argv):
    if argv[1:] not in (["write"], ["check"]):
        sys.stderr.write("usage: scripts/profile-roles.py write|check\n")
        return 2
    try:
        files = wanted()
    except ProfileError as e:
        sys.stderr.write("profile-roles: %s\n" % e)
        return 1
    stale = [path for path, text in sorted(files.items()) if current(path) != text]
    if argv[1] == "write":
        for path in stale:
            os.makedirs(os.path.dirname(os.path.join(ROOT, path)), exist_ok=True)
            with open(os.path.join(ROOT, path), "w", encoding="utf-8") as f:
                f.write(files[path])
            print("wrote %s" % path)
        return 0
    for path in stale:
        have = current(path)
        print("%s: %s; run scripts/profile-roles.py write" % (
            path, "missing" if have is None else "differs from what scripts/profile-roles.py writes"))
        if have is not None:
            sys.stdout.writelines(difflib.unified_diff(have.splitlines(True), files[path].splitlines(True),
                                                       path, path + " (generated)", n=1))
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
