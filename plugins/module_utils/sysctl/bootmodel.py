# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""BootModel: what each boot-time applier sets for our keys, before and after our file changes.

A wrapper around boot.effective for one run: the applier modelled and the
other one, their versions, the kernel's judgement of each value
(values.kernel_value), and the findings about our file (masked, not read).

Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import boot
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import bounds as bounds_lib
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import keys
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import render
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import services
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import values

APPLIERS = (boot.SYSTEMD, boot.PROCPS)


class BootModel(object):
    """Stage 4b, what each applier sets at boot for our keys, before and after our file changes."""

    def __init__(self, path, parts_of, runtime, applier=None, applier_versions=None, boot_root=""):
        self.path = path
        self.boot_root = boot_root
        self.which = applier or boot.detect_applier(boot_root)
        self.other = boot.PROCPS if self.which == boot.SYSTEMD else boot.SYSTEMD
        versions = dict(applier_versions) if applier_versions is not None else {
            a: boot.detect_version(a, boot_root) for a in APPLIERS}
        self.versions = {a: tuple(versions.get(a) or boot.DEFAULT_VERSION[a]) for a in APPLIERS}
        wanted = set(parts_of.values())
        key_of = {p: k for k, p in parts_of.items()}

        def valid(parts, value):
            key = key_of.get(parts) or keys.canonical_key(parts)
            return values.kernel_value(key, value, runtime.get(key))

        def model(app, overlay=None):
            # The applier, then what runs after it at boot and sets sysctls too (ufw, tuned).
            return services.layer(boot.effective(app, boot_root, overlay, self.versions[app], wanted, valid),
                                  boot_root, overlay, wanted, valid, self.versions[boot.PROCPS])

        self._model = model
        self._base = self._kerneltune = None
        self.after = self.after_other = self.mask = None
        self.in_dirs = self.in_dirs_other = False
        self._order = None
        self.before = model(self.which)

    @property
    def base(self):
        """Without our file: what the other files set (bounds start from it; restore returns to it).

        Read on first use: a run without bounds that keeps its file needs no third pass over the files.
        """
        if self._base is None:
            self._base = self._model(self.which, {self.path: None})
        return self._base

    def kerneltune_files(self):
        """{path: text} of the other kerneltune.tcp files the modelled applier reads (render.is_ours)."""
        if self._kerneltune is None:
            self._kerneltune = {}
            for path, masked in boot.list_files(self.which, self.boot_root, {self.path: None},
                                                self.versions[self.which]):
                text = boot.file_text(path, self.boot_root) if masked is None else None
                if render.is_ours(text):
                    self._kerneltune[path] = text
        return self._kerneltune

    def kerneltune_bounds(self):
        """{key: [(path, bound), ...]}: the bounds the other kerneltune files record (a bad one is skipped)."""
        out = {}
        for path, text in sorted(self.kerneltune_files().items()):
            for key, raw in render.file_bounds(text).items():
                try:
                    out.setdefault(key, []).append((path, bounds_lib.parse_bounds(key, raw)))
                except ValueError:
                    continue
        return out

    def base_without_bounds(self):
        """What the applier sets without any kerneltune file's bounded keys: where a bound starts from.

        Our file is left out, and so are the lines of the keys another kerneltune file holds a bound for; its
        plain values (and the files of an earlier release, with no bound comments) stay.
        """
        overlay = {self.path: None}
        for path, text in self.kerneltune_files().items():
            overlay[path] = render.without_bounded(text)
        return self._model(self.which, overlay)

    def finish(self, new_text, others=None):
        """The models once our file has NEW_TEXT (None: removed) and OTHERS ({path: text}) are rewritten."""
        path, boot_root = self.path, self.boot_root
        overlay = dict(others or {})
        overlay[path] = new_text
        self.after = self.base if new_text is None and not others else self._model(self.which, overlay)
        self.after_other = self._model(self.other, overlay)
        self.mask = boot.masked_by(self.which, path, boot_root, overlay, self.versions[self.which])
        self._order = [p for p, m in boot.list_files(self.which, boot_root, overlay, self.versions[self.which])
                       if m is None]
        self.in_dirs = boot.reads_directory(self.which, path, self.versions[self.which], boot_root)
        self.in_dirs_other = boot.reads_directory(self.other, path, self.versions[self.other], boot_root)
        return self

    def applied_before(self, path, other):
        """Whether the modelled boot sets PATH before OTHER (once finish() ran): OTHER's value then wins.

        A file the applier does not read but that wins at boot is ufw's or tuned's (services.layer): they run after
        the applier, so after every file it reads.
        """
        order = self._order or []
        if path in order and other not in order:
            return True
        return path in order and other in order and order.index(path) < order.index(other)

    def file_findings(self, path, state, findings):
        if state != "present":
            return
        if not self.in_dirs:
            findings.add("not_persistent", "warning", None,
                         "%s is not read by %s at boot: these settings will not survive a reboot" % (path, self.which))
        elif self.mask:
            findings.add("masked", "warning", None,
                         "%s is masked by %s for %s: none of its settings apply at boot" % (path, self.mask, self.which))

    def name(self, applier=None):
        return version_name(applier or self.which, self.versions)

    def summary(self):
        """The applier fields of a plan's result."""
        return {
            "applier": self.name(),
            "applier_name": self.which,
            "applier_version": ".".join(str(v) for v in self.versions[self.which]),
        }


def version_name(applier, versions):
    return boot.version_text(applier, versions.get(applier))


def sets_text(entry):
    """What an applier's entry for a key does, in words (applier_disagree)."""
    if not entry:
        return "not set it"
    if len(entry) > 3:
        return "set an unknown value (%s)" % entry[3]
    if entry[0] is None:
        return "leave it unset (%s)" % entry[1]
    return "set %s (from %s)" % (entry[0], entry[1])
