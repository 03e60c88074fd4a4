# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_sysctl's write transaction: records, backup, the new file, the running values, the rename.

Everything that can fail without touching the kernel comes first: the
records are saved, the backup is made, the new file is written as a
temporary file beside the old one with its final mode, owner and label.
Then the running values are written (all or nothing), and the rename (or,
for state=absent, the unlink) comes last. A failure before the runtime step
leaves the kernel untouched (the temporary file removed, the records put
back); a failure of the runtime step or the rename puts the running values
back. Each failure raises TransactionError with the message shown to the user
and whether anything stayed changed.

No AnsibleModule here: the module passes small callables (Hooks).
Stdlib only: this runs on the managed host.
"""

from __future__ import annotations

import collections
import errno
import os
import shutil
import tempfile
import time

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import procsys
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import records as records_lib

# The managed file is 0644 root:root on every run that writes it.
FILE_MODE = 0o644
ROOT_UID = ROOT_GID = 0
# A directory made for the file.
DIR_MODE = 0o755
# Permission bits of st_mode (S_IALLUGO without the file type).
MODE_BITS = 0o7777


def backup_copy(path):
    """A timestamped copy beside PATH (module.backup_local's date, without the pid); its name.

    A second backup in the same second gets .1, .2, ... before the ~ instead of replacing the first (which may
    hold the file as it was before both runs).
    """
    stem = "%s.%s" % (path, time.strftime("%Y-%m-%d@%H:%M:%S"))
    for n in range(100):
        backup = stem + ("" if n == 0 else ".%d" % n) + "~"
        try:
            os.close(os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            continue
        shutil.copy2(path, backup)
        return backup
    raise FileExistsError(errno.EEXIST, "no free backup name", stem + "~")


# move(tmp, path) renames; backup(path) returns the copy's name; label(tmp) sets the SELinux
# context (None: none); chown(path, uid, gid); writer(parts, text) writes one running value
# (None: to proc_root); save(state, state_file) writes the records.
Hooks = collections.namedtuple("Hooks", "move backup label chown writer save", defaults=(
    os.replace, backup_copy, None, os.chown, None, records_lib.save_state))
# path: the managed file; state: present or absent; result: plan()'s; perms: only the mode or
# owner is to change; backup: keep a copy first; records: Records; proc_root: /proc/sys.
Job = collections.namedtuple("Job", "path state result perms backup records proc_root", defaults=(
    False, False, None, procsys.PROC_SYS))
# The whole state file before and after the run ({managed path: {key: value}}), and its path.
Records = collections.namedtuple("Records", "state_file before after")


class TransactionError(Exception):
    """A failed write; message is shown as is, changed says whether anything stayed changed."""

    def __init__(self, message, changed=False):
        super(TransactionError, self).__init__(message)
        self.message = message
        self.changed = changed
        # The copy made before the failure, when it is left on disk (None: none made, or removed again).
        self.backup_file = None


def changed(job):
    """Whether the run changes anything (the file, its mode or owner, running values)."""
    return bool(job.result["file_changed"] or job.perms or job.result["runtime_changes"] or _others(job))


def _others(job):
    """{path: (old text, new text)} of the other kerneltune files this run rewrites (plan.rewrite_others)."""
    return job.result.get("other_files") or {}


def run(job, hooks=None):
    """Carry out JOB: {"backup_file": name (when one was made), "warnings": [...]}; TransactionError on a failure."""
    hooks = hooks or Hooks()
    out = {"warnings": []}
    if changed(job):
        _write(job, hooks, out)
    elif _records_change(job):
        _save_records(job, hooks)  # keys adopted from an earlier release's file: the records only
    recs = job.records
    if job.state == "absent" and recs and recs.before.get(job.path):
        try:
            hooks.save(recs.after, recs.state_file)
        except (IOError, OSError) as e:
            out["warnings"].append("%s: could not drop the records of %s: %s; they are used again if the file comes "
                                   "back" % (recs.state_file, job.path, e.strerror or e))
    return out


def _records_change(job):
    recs = job.records
    return job.state == "present" and recs is not None and recs.after.get(job.path, {}) != recs.before.get(job.path, {})


def _write(job, hooks, out):
    """The transaction proper, in its order; TransactionError with everything put back that can be."""
    recs = job.records
    save_records = _records_change(job)
    if save_records:
        _save_records(job, hooks)
    tmp = None
    other_tmps = {}
    try:
        touches_file = job.result["file_changed"] or job.perms
        if touches_file and job.backup and os.path.exists(job.path):
            out["backup_file"] = _before_runtime(job, "could not back up the file", hooks.backup, job.path)
        if job.state == "present" and job.result["file_changed"]:
            tmp = _before_runtime(job, "could not write the file", prepare_file, job.path, job.result["new_text"],
                                  hooks)
        for path, (_old, text) in sorted(_others(job).items()):
            other_tmps[path] = _before_runtime(job._replace(path=path), "could not write the file", prepare_file,
                                               path, text, hooks, file_stat(path))
        try:
            procsys.apply_runtime(job.result["runtime_changes"], job.proc_root, hooks.writer)
        except procsys.RuntimeWriteError as e:
            raise TransactionError(e.message)
        _commit_others(job, hooks, other_tmps)
        renamed, other_tmps = sorted(other_tmps), {}
        if touches_file:
            try:
                _commit(job, hooks, tmp)
            except TransactionError:
                # Ours stays as it was: so do the other kerneltune files already renamed (their old text).
                _put_back_others(job, hooks, renamed)
                raise
            tmp = None
    except TransactionError as err:
        for t in [tmp] + list(other_tmps.values()):
            if t is not None and os.path.exists(t):
                os.unlink(t)
        if save_records:
            try:
                hooks.save(recs.before, recs.state_file)
            except (IOError, OSError):
                pass  # the extra records hold the running values from before this run: still true
        _drop_or_keep_backup(out, err)
        raise


def _save_records(job, hooks):
    recs = job.records
    try:
        hooks.save(recs.after, recs.state_file)
    except (IOError, OSError) as e:
        raise TransactionError("%s: could not write the state file: %s; nothing was changed"
                               % (recs.state_file, e.strerror or e))


def _drop_or_keep_backup(out, err):
    """A failed run that changed nothing leaves no backup behind; one that left changes keeps it and names it."""
    backup = out.pop("backup_file", None)
    if backup is None:
        return
    if err.changed:
        err.backup_file = backup
        return
    try:
        os.unlink(backup)
    except OSError:
        err.backup_file = backup  # still there: say where


def _before_runtime(job, what, step, *args):
    """STEP(*ARGS) before any running value changed: a failure names the path and changes nothing."""
    try:
        return step(*args)
    except (IOError, OSError) as e:
        raise TransactionError("%s: %s: %s" % (job.path, what, e.strerror or e))


def _commit(job, hooks, tmp):
    """The last step: the rename (or unlink, or the mode and owner); a failure puts the running values back."""
    what = "could not remove the file" if job.state == "absent" else "could not write the file"
    try:
        if job.state == "absent":
            os.unlink(job.path)
        elif tmp is not None:
            # A rename in one directory is atomic; unlike module.atomic_move it raises on failure,
            # so the running values can be put back and the message say so.
            hooks.move(tmp, job.path)
        else:
            hooks.chown(job.path, ROOT_UID, ROOT_GID)
            os.chmod(job.path, FILE_MODE)
    except (IOError, OSError) as e:
        _roll_back(job, hooks, what, e.strerror or e)


def _commit_others(job, hooks, tmps):
    """Rename each other kerneltune file's new text into place; a failure puts back the files already renamed
    (their old text) and the running values."""
    done = []
    for path, tmp in sorted(tmps.items()):
        try:
            hooks.move(tmp, path)
        except (IOError, OSError) as e:
            for t in tmps.values():
                if os.path.exists(t):
                    os.unlink(t)
            _put_back_others(job, hooks, done)
            _roll_back(job._replace(path=path), hooks, "could not write the file", e.strerror or e)
        done.append(path)


def _put_back_others(job, hooks, paths):
    """The old text of each other kerneltune file in PATHS, renamed in again (mode and owner kept)."""
    for p in paths:
        try:
            hooks.move(prepare_file(p, _others(job)[p][0], hooks, file_stat(p)), p)
        except (IOError, OSError):
            pass  # the file keeps the rule's value: still one the bounds accept


def _roll_back(job, hooks, what, err):
    """All or nothing: put the running values back, and say whether that worked."""
    rollback = [(k, parts, new, old) for k, parts, old, new in reversed(job.result["runtime_changes"])]
    if not rollback:
        raise TransactionError("%s: %s: %s" % (job.path, what, err))
    try:
        procsys.apply_runtime(rollback, job.proc_root, hooks.writer)
    except procsys.RuntimeWriteError as e2:
        raise TransactionError("%s: %s: %s; restoring the running values failed too: %s"
                               % (job.path, what, err, e2.message), changed=True)
    raise TransactionError("%s: %s: %s; running values restored" % (job.path, what, err))


def prepare_file(path, text, hooks, keep=None):
    """TEXT as a temporary file beside PATH, complete on disk with its final mode, owner and label; its name.

    KEEP: the os.stat of a file whose mode and owner the new text keeps (another kerneltune file rewritten);
    None: 0644 root:root.
    """
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, DIR_MODE)
    fd, tmp = tempfile.mkstemp(prefix=".kerneltune-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        # 0644 root:root every time, whatever the umask or the old file's mode, and the
        # directory's default SELinux label, set on the new file before it takes the name.
        hooks.chown(tmp, keep.st_uid if keep else ROOT_UID, keep.st_gid if keep else ROOT_GID)
        os.chmod(tmp, (keep.st_mode & MODE_BITS) if keep else FILE_MODE)
        if hooks.label is not None:
            hooks.label(tmp)
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def file_stat(path):
    """os.stat of PATH, or None."""
    try:
        return os.stat(path)
    except OSError:
        return None


def perms_wrong(st):
    """Whether an existing file (its os.stat, or None) is not 0644 root:root."""
    if st is None:
        return False
    return (st.st_mode & MODE_BITS) != FILE_MODE or st.st_uid != ROOT_UID or st.st_gid != ROOT_GID
