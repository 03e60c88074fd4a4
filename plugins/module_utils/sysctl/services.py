# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What runs after the sysctl applier at boot and sets sysctls too: ufw, then tuned.

Read in Debian's packages (ufw 0.36.2, tuned 2.20.0, bookworm) and measured
against them in containers (molecule/boot_services):

* ufw: ufw.service runs ``/lib/ufw/ufw-init start quiet``. It sources
  /etc/default/ufw and /etc/ufw/ufw.conf (a later assignment wins; either
  missing or empty and it aborts), stops unless ENABLED is ``yes`` or ``YES``
  (either file may set it) and,
  when IPT_SYSCTL is not empty and names a non-empty file, runs
  ``sysctl -e -q -p $IPT_SYSCTL`` (procps, one file, line by line; ufw's stock
  file uses the ``net/ipv4/...`` slash form). The unit must be enabled
  (a ``*.wants/ufw.service`` link) and not masked.
* tuned: tuned.service (``After=systemd-sysctl.service network.target``)
  applies the active profile's sysctl units (plugin_sysctl.py): each option is
  unquoted, ``${var}`` expanded, written to /proc/sys (a refused or missing key
  keeps its value). With ``reapply_sysctl`` (tuned-main.conf, default 1) it then
  re-applies (from the sysctl plugin: only when the profile has an enabled
  sysctl unit) /run/sysctl.d and /etc/sysctl.d together sorted by file name (the
  /run file wins a name clash, no masking, hidden files read), then
  /etc/sysctl.conf, writing ``key = value`` lines as they are (no ``-key``, no
  globs: both name no /proc/sys file). /usr/lib/sysctl.d and
  /usr/local/lib/sysctl.d are never re-applied. The active profile is
  /etc/tuned/active_profile (several names are merged in order); a profile is
  /etc/tuned/NAME/tuned.conf, else /usr/lib/tuned/NAME/tuned.conf (from 2.23:
  /etc/tuned/profiles and /usr/lib/tuned/profiles, or ``profile_dirs``, and
  post_loaded_profile last); ``include=``
  loads the named profiles first, recursively, and the including profile's
  options win. With /etc/tuned/profile_mode ``auto`` (or empty, with no active
  profile) tuned applies the profile its recommender picks: not modelled, the
  boot value of a key only that profile could set is unknown.

Order: ufw.service is ordered Before=network-pre.target, which network.target
follows, and tuned.service After=network.target: ufw runs before tuned. ufw is
not ordered against systemd-sysctl.service by its unit (DefaultDependencies=no,
After=local-fs.target only); in practice systemd-sysctl runs first (right after
module loading, before local file systems are mounted), and the model assumes so.

An entry is (value, source, lineno) as in boot.effective, or
(None, source, None, reason) when the value at boot is unknown.

Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

import os
import re
import shlex

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import boot
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import conf

UFW = "ufw"
TUNED = "tuned"
UFW_CONF = "/etc/ufw/ufw.conf"
UFW_DEFAULT = "/etc/default/ufw"
UFW_SYSCTL = "/etc/ufw/sysctl.conf"
TUNED_MAIN = "/etc/tuned/tuned-main.conf"
TUNED_ACTIVE = "/etc/tuned/active_profile"
TUNED_MODE = "/etc/tuned/profile_mode"
TUNED_POST = "/etc/tuned/post_loaded_profile"
# Where a profile NAME/tuned.conf is looked for, the first that has it wins: tuned before 2.23 (bullseye 2.15,
# bookworm 2.20), and from 2.23 (trixie 2.25), whose default is profile_dirs = /usr/lib/tuned/profiles,
# /etc/tuned/profiles (the last listed wins) and which reads the profile named in post_loaded_profile last.
TUNED_DIRS = ("/etc/tuned", "/usr/lib/tuned")
TUNED_DIRS_2_23 = ("/etc/tuned/profiles", "/usr/lib/tuned/profiles")
TUNED_REAPPLY_DIRS = ("/run/sysctl.d", "/etc/sysctl.d")
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
_BOOL = {"1": True, "yes": True, "true": True, "on": True, "0": False, "no": False, "false": False, "off": False}
_VAR = re.compile(r"(?<!\\)\$\{(\w+)\}")
_FUNC = re.compile(r"(?<!\\)\$\{\w+:")
# Unit options tuned takes out of a section before the rest are sysctl keys (profiles/unit.py).
_UNIT_OPTIONS = ("type", "enabled", "replace", "drop", "devices", "devices_udev_regex", "cpuinfo_regex",
                 "uname_regex", "script_pre", "script_post")


def _text(path, root, overlay=None):
    if overlay and path in overlay:
        return overlay[path]
    try:
        with open(root + path, "r", encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def unit_enabled(name, root=""):
    """True when systemd starts unit NAME at boot: a *.wants link to it and no mask in /etc or /run."""
    for d in UNIT_DIRS[:2]:
        p = root + d + "/" + name
        if os.path.islink(p) and os.path.realpath(p) == "/dev/null":
            return False
    for d in UNIT_DIRS:
        try:
            subdirs = os.listdir(root + d)
        except OSError:
            continue
        for s in subdirs:
            if s.endswith(".wants") and os.path.lexists(root + d + "/" + s + "/" + name):
                return True
    return False


def shell_vars(text):
    """NAME=value assignments of a sourced shell file, quotes removed (the last one wins)."""
    out = {}
    for line in (text or "").splitlines():
        m = re.match(r"\s*([A-Za-z_]\w*)=(.*)$", line)
        if not m:
            continue
        v = m.group(2).strip()
        try:
            # the shell's first word: quotes removed, a '#' after a blank starts a comment
            words = shlex.split(v, comments=True)
            v = words[0] if words else ""
        except ValueError:
            v = v.split("#", 1)[0].strip()
        out[m.group(1)] = v
    return out


def ufw_state(root="", overlay=None):
    """{enabled, file, why}: whether ufw's boot script runs and the file it applies."""
    # ufw-init-functions sources /etc/default/ufw, then /etc/ufw/ufw.conf (each must be a non-empty file, or it
    # aborts), then tests ENABLED: either file may set it, the later wins.
    texts = [_text(UFW_DEFAULT, root, overlay), _text(UFW_CONF, root, overlay)]
    both = shell_vars(texts[0])
    both.update(shell_vars(texts[1]))
    if both.get("ENABLED") not in ("yes", "YES"):
        return {"enabled": False, "file": None, "why": "%s: ENABLED is not yes" % UFW_CONF}
    if not all(texts):
        return {"enabled": False, "file": None,
                "why": "%s or %s is missing or empty: ufw's boot script aborts" % (UFW_DEFAULT, UFW_CONF)}
    if not unit_enabled("ufw.service", root):
        return {"enabled": False, "file": None, "why": "ufw.service is not enabled"}
    path = both.get("IPT_SYSCTL", "")
    # ufw-init-functions: [ ! -z "$IPT_SYSCTL" ] && [ -s "$IPT_SYSCTL" ]
    if not path or not _text(path, root, overlay):
        return {"enabled": True, "file": None, "why": "IPT_SYSCTL is empty or names no non-empty file"}
    return {"enabled": True, "file": path, "why": None}


def ufw_final(root, overlay, wanted, valid, procps_version):
    """What ufw's `sysctl -e -q -p FILE` sets at boot: {parts: entry}."""
    state = ufw_state(root, overlay)
    if not state["file"]:
        return {}
    # `sysctl -e -q -p $IPT_SYSCTL`, unquoted: a path with blanks is split into several files (from /, the
    # service's working directory)
    entries = [(parts, value, ignore, f, lineno) for f in [os.path.join("/", w) for w in state["file"].split()]
               for parts, value, ignore, lineno in conf.parse_conf(_text(f, root, overlay) or "")]
    return boot._procps_final(entries, set(wanted), valid,
                              tuple(procps_version or boot.DEFAULT_VERSION[boot.PROCPS]) >= boot.PROCPS_GLOBS_FROM)


def parse_ini(text):
    """[(section, [(option, value, lineno)])] as tuned's ConfigParser reads it (delimiter '=', '#' comments)."""
    sections = []
    cur = None
    indent = None
    for lineno, raw in enumerate((text or "").splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        level = len(raw) - len(raw.lstrip())
        if cur is not None and cur[1] and indent is not None and level > indent:
            # an indented line continues the option above: its value spans several lines
            opt, value, first = cur[1][-1]
            cur[1][-1] = (opt, value + "\n" + re.split(r"\s#", " " + line, 1)[0].strip(), first)
            continue
        indent = None
        m = re.match(r"\[(.+)\]$", line)
        if m:
            cur = (m.group(1).strip(), [])
            sections.append(cur)
            continue
        if cur is None or "=" not in line:
            continue
        opt, value = line.split("=", 1)
        value = re.split(r"\s#", value, 1)[0]
        cur[1].append((opt.strip(), value.strip(), lineno))
        indent = level
    return sections


def _tuned_main_options(root):
    opts = {}
    for _s, options in parse_ini("[main]\n" + (_text(TUNED_MAIN, root) or "")):
        for opt, value, _l in options:
            opts[opt] = value
    return opts


def tuned_main(root=""):
    """reapply_sysctl from tuned-main.conf, tuned's defaults when absent or unreadable."""
    return _BOOL.get(_tuned_main_options(root).get("reapply_sysctl", "1").strip().lower(), True)


def tuned_profile_dirs(root=""):
    """The directories tuned looks for profiles in, the first to win: profile_dirs (2.23+), else the layout found."""
    listed = _tuned_main_options(root).get("profile_dirs")
    if listed and os.path.isdir(root + TUNED_DIRS_2_23[1]):
        return tuple(reversed([d.strip().rstrip("/") for d in re.split(r"[,;]", listed) if d.strip()]))
    if os.path.isdir(root + TUNED_DIRS_2_23[1]):
        return TUNED_DIRS_2_23
    return TUNED_DIRS


def _profile_file(name, root, skip):
    for d in tuned_profile_dirs(root):
        p = d + "/" + os.path.basename(name) + "/tuned.conf"
        if p in skip:
            continue
        if os.path.isfile(root + p):
            return p
    return None


def _variables(raw):
    """[variables] as tuned adds them: in the merged profile's order (a redefinition keeps the first place), each
    expanded with the ones before it."""
    variables = {}
    for o, v in raw.items():
        variables[o] = expand(v, variables)[0]
    return variables


def _profile_sections(text):
    """parse_ini, with the options of [DEFAULT] in every other section after the section's own (ConfigParser)."""
    sections = parse_ini(text)
    defaults = [o for name, opts in sections if name == "DEFAULT" for o in opts]
    return [(name, opts + [o for o in defaults if o[0] not in set(x[0] for x in opts)])
            for name, opts in sections if name != "DEFAULT"]


def load_profile(names, root=""):
    """The merged sysctl options of profiles NAMES: ({option: (value, path, lineno)}, {var: value}, problem, units).

    problem is None, or why the profile cannot be modelled (a missing profile: tuned refuses to start). units is
    the number of enabled sysctl units in the merged profile: tuned re-applies the sysctl files only from one.
    """
    sysctl, raw_vars, seen, units = {}, {}, [], {}

    def load(name):
        conditional = name.startswith("-")
        name = name[1:] if conditional else name
        path = _profile_file(name, root, seen)
        if path is None:
            if conditional or any(s.endswith("/" + os.path.basename(name) + "/tuned.conf") for s in seen):
                return None
            return "tuned profile %s is not in %s" % (name, " or ".join(tuned_profile_dirs(root)))
        seen.append(path)
        sections = _profile_sections(_text(path, root))
        main = dict((o, v) for s, opts in sections if s == "main" for o, v, _l in opts)
        if "include" in main:
            for inc in re.split(r"\s*[,;]\s*", expand(main["include"], _variables(raw_vars))[0].strip()):
                if inc:
                    problem = load(inc)
                    if problem:
                        return problem
        for section, opts in sections:
            d = dict((o, v) for o, v, _l in opts)
            if section == "variables":
                for o, v, _l in opts:
                    if o != "include":
                        raw_vars[o] = v
                continue
            if section == "main" or d.get("type", section) != "sysctl":
                continue
            # tuned's merger: the newer unit's `enabled` (default true) replaces the older one's
            units[section] = d.get("enabled", "true") in ("True", "true", "1")
            if not units[section]:
                for o in list(sysctl):
                    if sysctl[o][3] == section:
                        del sysctl[o]
                continue
            if d.get("replace", "false") in ("True", "true", "1"):
                for o in list(sysctl):
                    if sysctl[o][3] == section:
                        del sysctl[o]
            for o in re.split(r"\s*[,;]\s*", d.get("drop", "") or ""):
                if o in sysctl and sysctl[o][3] == section:
                    del sysctl[o]
            for o, v, lineno in opts:
                if o not in _UNIT_OPTIONS:
                    sysctl.pop(o, None)
                    sysctl[o] = (v, path, lineno, section)
        return None

    for n in names:
        problem = load(n)
        if problem:
            return {}, _variables(raw_vars), problem, 0
    return dict((o, e[:3]) for o, e in sysctl.items()), _variables(raw_vars), None, sum(units.values())


def expand(value, variables):
    """(value with ${var} expanded, why it is unknown or None), as tuned expands a static variable."""
    if _FUNC.search(value):
        return value, "it uses a tuned built-in function (%s)" % value
    missing = [v for v in _VAR.findall(value) if v not in variables]
    if missing:
        return value, "variable ${%s} is not defined in the profile's [variables]" % missing[0]
    out = _VAR.sub(lambda m: variables[m.group(1)], value)
    return re.sub(r"\\(\$\{\w+\})", r"\1", out), None


def tuned_state(root=""):
    """{enabled, profiles, why}: whether tuned applies a profile at boot and which one (None: unknown)."""
    if not unit_enabled("tuned.service", root):
        return {"enabled": False, "profiles": None, "why": "tuned.service is not enabled"}
    names = (_text(TUNED_ACTIVE, root) or "").split()
    mode = (_text(TUNED_MODE, root) or "").strip()
    manual = mode == "manual" if mode else bool(names)
    if not manual:
        return {"enabled": True, "profiles": None,
                "why": "tuned runs in automatic mode (%s): it applies the profile its recommender picks for this "
                       "machine, which is not modelled" % TUNED_MODE}
    if os.path.isdir(root + TUNED_DIRS_2_23[1]):
        names += (_text(TUNED_POST, root) or "").split()[:1]
    return {"enabled": True, "profiles": names, "why": None}


def tuned_reapply_files(root="", overlay=None):
    """The files tuned re-applies, in its order: /run/sysctl.d and /etc/sysctl.d by name, then /etc/sysctl.conf."""
    files = {}
    for d in TUNED_REAPPLY_DIRS:
        for n in boot.conf_names(d, root, overlay):
            files.setdefault(n, d + "/" + n)
    return [files[n] for n in sorted(files)] + [boot.PROCPS_CONF]


def _tuned_write(final, parts, value, source, lineno, valid):
    ok = valid(parts, value) if valid else value
    if ok is not None:
        final[parts] = (ok, source, lineno)


def tuned_final(root, overlay, wanted, valid, before=None):
    """{parts: entry}: what tuned's start at boot sets over BEFORE, what the applier and ufw left ({parts: entry})."""
    state = tuned_state(root)
    if not state["enabled"]:
        return {}
    final = {}
    wanted = set(wanted)
    # tuned re-applies the sysctl files from its sysctl plugin: only when the profile has an enabled sysctl unit
    units = 0
    if state["profiles"] is None:
        units = None
        for parts in wanted:
            final[parts] = (None, "tuned", None, state["why"])
    elif state["profiles"]:
        options, variables, problem, units = load_profile(state["profiles"], root)
        if problem:
            for parts in wanted:
                final[parts] = (None, "tuned", None, problem + ": tuned does not start")
            return final
        for option, (raw, path, lineno) in options.items():
            parts = tuple(option.strip().replace(".", "/").split("/"))
            if parts not in wanted:
                continue
            value = raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == '"' else raw
            value, why = expand(value, variables)
            if why is None and len(value) > 1 and value[0] in "<>":
                why = "its value %s is relative to the value before tuned (%s)" % (raw, value[0])
            if why:
                final[parts] = (None, path, lineno, "tuned profile %s sets it to %s: %s" % (path, raw, why))
                continue
            if "\n" in value:
                final[parts] = (None, path, lineno, "tuned profile %s sets it to a value of several lines (an "
                                                    "indented line continues it)" % path)
                continue
            _tuned_write(final, parts, value, path, lineno, valid)
    if not tuned_main(root) or units == 0:
        return final
    reapplied = {}
    for path in tuned_reapply_files(root, overlay):
        text = _text(path, root, overlay)
        if text is None:
            continue
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line[0] in "#;" or "=" not in line:
                continue
            option, value = line.split("=", 1)
            parts = tuple(option.strip().replace(".", "/").split("/"))
            if parts in wanted:
                _tuned_write(reapplied, parts, value.strip(), path, lineno, valid)
    for parts, entry in reapplied.items():
        old = (before or {}).get(parts)
        if units is None and (old is None or old[0] != entry[0]):
            # automatic mode: whether the profile tuned picks has a sysctl unit (and re-applies) is not known
            why = state["why"] + "; the sysctl files are re-applied only if that profile has a [sysctl] section"
            final[parts] = (None, "tuned", None, why)
        else:
            final[parts] = entry
    return final


def layer(final, root="", overlay=None, wanted=(), valid=None, procps_version=None):
    """The applier's FINAL with ufw's and then tuned's boot steps on top: {parts: entry}."""
    out = dict(final)
    out.update(ufw_final(root, overlay, wanted, valid, procps_version))
    out.update(tuned_final(root, overlay, wanted, valid, dict(out)))
    return out


def fix_text(source, root=""):
    """What to do when SOURCE, a file ufw or tuned applies at boot, overrides our file ('' for the others)."""
    if source in [os.path.join("/", w) for w in (ufw_state(root)["file"] or "").split()]:
        return (" (ufw's boot script applies %s after the sysctl files: edit it, or point IPT_SYSCTL in %s at "
                "another file)" % (source, UFW_DEFAULT))
    if source.endswith("/tuned.conf") and any(source.startswith(d + "/") for d in TUNED_DIRS):
        return (" (tuned applies this profile at boot after the sysctl files: change or remove the key in the "
                "profile's [sysctl], in a profile of your own under /etc/tuned)")
    return ""
