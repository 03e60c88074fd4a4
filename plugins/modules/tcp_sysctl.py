#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kerneltune.tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: tcp_sysctl
short_description: Audit or apply a whole set of TCP sysctls in one call, with safety rules
version_added: 0.1.0
description:
  - Audits or applies a set of C(net.ipv4.*), C(net.ipv6.*), C(net.core.*) and C(net.netfilter.*) sysctls on a host
    in one invocation (one task per host, never one per key).
  - Owns one file under C(/etc/sysctl.d), rendered whole and written atomically, and sets the running values
    through C(/proc/sys) directly, all or nothing.
  - Models the boot-time applier (systemd-sysctl or procps C(sysctl --system)) from the files on disk and reports,
    per key, the value the host would get at boot, the file it comes from, and any later file that overrides ours.
  - Refuses unsafe settings before anything is written. The rule ids are listed in the collection's
    C(docs/rules.md) with the reason and the source of each.
author:
  - kerneltune.tcp maintainers (@kerneltune)
extends_documentation_fragment:
  - kerneltune.tcp.attributes
  - kerneltune.tcp.attributes.platform
attributes:
  check_mode:
    support: full
    details: Writes nothing anywhere and reports exactly what a real run would.
  diff_mode:
    support: full
    details: Shows the file diff, a mode or owner that changes, the running values that change (C(key = old) to C(key = new)),
      and one diff per other kerneltune.tcp file whose bounded line the run rewrites (RV(rewritten)).
  platform:
    details: Linux hosts with /proc/sys; Python 3 standard library only.
options:
  settings:
    description:
      - Key to value. Keys may be written with C(.) or C(/) separators.
      - A value may be a string, a number or a list (a list is joined with spaces, so
        C([10240, 65535]) and C("10240 65535") are the same).
      - "A value may instead be a bound, for a key that holds one integer: C({min: N}), C({max: N}) or both.
        For C(net.ipv4.ip_local_port_range) the bound is per field, C(low_min), C(low_max), C(high_min) and
        C(high_max) (C({low_max: 10240, high_min: 60999}) asks for at least the ports 10240 to 60999)."
      - "A bounded key gets one value, in the file and (when the running value is outside the bounds) in the
        running kernel: the value it would have at boot without any kerneltune.tcp file (what the other sysctl.d
        files set, else the kernel default, RV(settings[].kernel_default); else the value recorded before the
        first change, else the file's own value when within, else the running value), moved into the intersection
        of every kerneltune.tcp file's bounds on the key. Each file records its bounds in a comment line above the
        key (C(# kerneltune.tcp bound: net.core.somaxconn min=8192)), so every run knows the others' bounds; a file
        written before bounds were recorded counts as a plain value. So a key another file raised is never
        lowered, the value goes back when that file goes, and two profiles agree on one value whatever their
        order."
      - A running value within the bounds is ok and left alone. Bounds outside the key's range, C(min) above
        C(max), unknown fields and bounds on keys that do not hold one integer are refused (C(bounds)); bounds
        that no value meets together with another kerneltune.tcp file's are refused before anything changes
        (C(bounds_conflict)), naming both files and both bounds.
      - Required unless O(state=absent).
    type: dict
  path:
    description:
      - The one file this task owns. Other files are read, never written, except the value line under a
        C(# kerneltune.tcp bound:) comment in another kerneltune.tcp file (RV(rewritten)).
      - The default sorts after most distribution files (C(50-*), C(60-*)) and before the local catch-all
        C(99-sysctl.conf), so local overrides still win and are reported.
      - Must be a C(.conf) file directly in C(/etc/sysctl.d), C(/run/sysctl.d) or C(/usr/local/lib/sysctl.d). The
        path is normalised; C(..), hidden names, symlinks (the file or its directory), non-regular files and files
        a package owns (dpkg's file lists; a lookup that takes over 5 s refuses too; RPM databases are not read)
        are refused before anything is read or written.
      - An existing file that the module did not write (its first line is not the module's header) is neither
        replaced nor removed; an empty file may be taken over.
      - A name that a file in a later directory (C(/usr/lib/sysctl.d) and so on) also has is refused, as the appliers
        read one file per name, so ours would silently disable that one.
      - The file is written 0644 root:root on every run that writes it.
    type: path
    default: /etc/sysctl.d/90-kerneltune-tcp.conf
  state:
    description:
      - V(present) writes the file and (with O(apply)) the running values.
      - V(absent) removes the file, and with O(restore=boot) (its default) puts the running values back.
    type: str
    choices: [present, absent]
    default: present
  restore:
    description:
      - What O(state=absent) does with the running values of the keys the file set.
      - V(boot) sets each to the value the host boots with once the file is gone - the value the modelled applier
        sets from the remaining files; where no file sets it, the kernel default (the key's value in a fresh network
        namespace, see RV(settings[].kernel_default)). Only where neither is known (a global key, a key a new
        namespace copies from the host, no namespace can be made) it falls back to the running value
        recorded before this module first changed it or first put it in the file. Without any, the key is left as
        it is and a C(restore_unknown) finding says why.
      - V(previous) sets each to that recorded value, whatever the boot value is (a value set by hand before the
        first run comes back too); a key with no record is left as it is and named in a C(restore_unknown) finding.
      - V(none) leaves the running values; they return to the boot-time values at the next reboot or
        C(sysctl --system).
      - The records are kept in C(/var/lib/kerneltune/tcp_sysctl.json) (JSON, 0600 root, written atomically), per
        managed file, from the run that first changes a key or first writes it in the file until the file is
        removed; a key another managed file recorded first gets that record (the host's own value). On removal they
        are kept as the file's history, which the next O(state=present) of the same path takes back, so a file removed
        and applied again (a rollout's restore of an earlier version) still knows the values from before its first
        change, also when the host was changed by hand in between.
      - Only keys the file sets are restored; records for other keys (a key that left O(settings), or records
        planted by someone else) are ignored with a C(records_ignored) warning naming them.
      - The state directory and file must belong to root (the running uid), must not be writable by group or others
        and must not be symbolic links; otherwise the run fails naming the path, its owner and mode, having changed
        nothing.
      - A key a release of this module without records wrote has none. O(state=present) on such a file records its
        keys as adopted (value before unknown, not counted as a change), and check mode reports the file with a
        C(records_missing) finding until then.
      - Only with O(state=absent). Defaults to V(boot), or to V(none) when O(apply=false).
    type: str
    choices: [boot, previous, none]
  apply:
    description:
      - Also set the running values. V(false) writes the file only and leaves the running kernel alone.
    type: bool
    default: true
  nat:
    description:
      - V(auto) detects NAT on the host (nat-table rules in iptables and nftables, translated conntrack entries).
      - V(present) declares that the host or its clients are behind NAT; V(absent) declares they are not.
      - Detection always runs; a declaration adds to it, so C(tcp_tw_recycle) is refused when NAT is either
        detected or declared.
    type: str
    choices: [auto, present, absent]
    default: auto
  skip_missing:
    description:
      - Keys that may be absent on older kernels. When absent they are reported (status V(unsupported), an
        C(info) finding) and left out of the file instead of failing the task.
    type: list
    elements: str
    default: []
  allow:
    description:
      - Rule ids whose errors become warnings. The key of an allowed C(unknown_key), C(global_key),
        C(tw_recycle_removed) or C(read_only) error is skipped; an allowed C(range) error lets the kernel judge
        the value (a refusal then rolls the run back).
      - C(key_name), C(scope), C(value_chars), C(tw_recycle_nat), C(bounds) and C(bounds_conflict) can never be
        allowed.
    type: list
    elements: str
    default: []
  applier:
    description:
      - The boot-time applier to model. V(auto) picks systemd-sysctl when systemd runs the host, procps
        C(sysctl --system) otherwise. Both are always modelled; a key where they disagree gets a finding.
    type: str
    choices: [auto, systemd-sysctl, procps]
    default: auto
  backup:
    description:
      - Keep a timestamped copy of the file before changing it. The copy is made before any running value changes;
        when the run then fails having changed nothing, the copy is removed again.
    type: bool
    default: false
  lock_timeout:
    description:
      - Seconds a run that writes waits for another tcp_sysctl run on the same host (any O(path)) to finish.
      - A run that writes holds C(/var/lib/kerneltune/tcp_sysctl.lock) (flock, with the holder's pid in it) from
        before it reads the records until its file, running values and records are written, so parallel runs
        (other forks, other playbooks) never lose each other's records or interleave on a key. After
        O(lock_timeout) seconds the run fails naming the holder's pid, having changed nothing.
      - Check mode reads only and takes no lock (it works without root and on a read-only state directory); a
        check run at the same moment as a run that writes may show the host before or after that run, or, while
        that run sets the running values one key after another, some keys before it and some after.
    type: float
    default: 60
  namespaces:
    description:
      - V(self) looks at this task's own network namespace only (the host's, or the container's the task runs in).
      - V(all) also reads the keys of O(settings) in every other network namespace on the host (containers, pods,
        C(ip netns) namespaces, found from C(/proc/*/ns/net) and C(/run/netns)) and returns them in RV(namespaces),
        each judged against what the task asks the way the host's running value is (a bound is met anywhere within
        it).
      - Read only, in check mode and in a real run alike - the same report either way; the module never writes
        into another namespace, which belongs to its container or pod (set its values where it is made, see the
        collection's C(docs/audit.md)). C(changed), the diff, the host's RV(settings) and RV(findings) are the same
        as with V(self).
      - Entering a namespace needs CAP_SYS_ADMIN (run as root); a namespace that cannot be entered, or that goes
        away during the scan, is listed with the reason, not fatal.
      - Only with O(state=present).
    type: str
    choices: [self, all]
    default: self
notes:
  - Net sysctls are per network namespace. In a container the task changes the container's namespace only;
    global keys (such as C(net.core.netdev_max_backlog)) are absent there and reported as such.
  - C(tcp_fin_timeout) does not shorten TIME_WAIT; see the C(fin_timeout_scope) finding.
seealso:
  - module: ansible.posix.sysctl
    description: One key per task, without diff or precedence; this module replaces a loop of it.
  - name: sysctl.d(5)
    description: How systemd-sysctl orders and masks files.
    link: https://www.freedesktop.org/software/systemd/man/latest/sysctl.d.html
"""

EXAMPLES = r"""
- name: Tune outbound TCP for a service that opens many short connections
  kerneltune.tcp.tcp_sysctl:
    settings:
      net.ipv4.ip_local_port_range: [10240, 65535]
      net.ipv4.tcp_tw_reuse: 1
      net.ipv4.tcp_fin_timeout: 15
      # Milliseconds before a TIME_WAIT port may be reused (Linux 6.12 and later); older kernels lack the key.
      net.ipv4.tcp_tw_reuse_delay: 1000
    skip_missing:
      - net.ipv4.tcp_tw_reuse_delay

- name: Audit only (drift check of the first example's file), whatever the playbook's mode
  kerneltune.tcp.tcp_sysctl:
    settings:
      net.ipv4.ip_local_port_range: [10240, 65535]
      net.ipv4.tcp_tw_reuse: 1
      net.ipv4.tcp_fin_timeout: 15
      # Milliseconds before a TIME_WAIT port may be reused (Linux 6.12 and later); older kernels lack the key.
      net.ipv4.tcp_tw_reuse_delay: 1000
    skip_missing:
      - net.ipv4.tcp_tw_reuse_delay
  check_mode: true
  register: audit

- name: Show keys that drift
  ansible.builtin.debug:
    msg: "{{ audit.settings | selectattr('status', 'ne', 'ok') | list }}"

- name: Write the file only, for the next boot
  kerneltune.tcp.tcp_sysctl:
    settings:
      net.ipv4.tcp_syncookies: 1
    path: /etc/sysctl.d/80-syncookies.conf
    apply: false

- name: Remove the managed file and put the running values back to what the host boots with
  kerneltune.tcp.tcp_sysctl:
    path: /etc/sysctl.d/80-syncookies.conf
    state: absent

- name: Remove it and put back the values that ran before the first change (even ones set by hand)
  kerneltune.tcp.tcp_sysctl:
    path: /etc/sysctl.d/80-syncookies.conf
    state: absent
    restore: previous

- name: Audit the host and every container and pod on it (read only in the other namespaces)
  kerneltune.tcp.tcp_sysctl:
    settings:
      net.ipv4.tcp_fin_timeout: {max: 30}
      net.core.somaxconn: {min: 8192}
    namespaces: all
  check_mode: true
  register: fleet

- name: Show the namespaces whose values differ
  ansible.builtin.debug:
    msg: "{{ fleet.namespaces | selectattr('differs') | map(attribute='name') | list }}"

- name: Shared keys - raise the accept queue to at least 8192, never lower what another sysctl.d file raised
  kerneltune.tcp.tcp_sysctl:
    settings:
      net.core.somaxconn: {min: 8192}
      net.ipv4.tcp_fin_timeout: {min: 10, max: 30}
      net.ipv4.ip_local_port_range: {low_max: 10240, high_min: 60999}
    path: /etc/sysctl.d/80-accept-queue.conf
"""

RETURN = r"""
settings:
  description: One entry per requested key, sorted by key.
  returned: always
  type: list
  elements: dict
  contains:
    key: {description: Canonical key name., type: str, sample: net.ipv4.tcp_fin_timeout}
    desired:
      description: Requested value as written to the file; for a bound, the one value the bounds rule gives (see O(settings)).
      type: str
      sample: "15"
    bounds:
      description: The bound asked for (its fields and C(text), such as C(>= 8192)), or null for a plain value.
      type: dict
      sample: {min: 8192, text: ">= 8192"}
    runtime: {description: Running value before the task (null when the key is absent)., type: str, sample: "60"}
    persisted:
      description:
        - The value the key holds after boot once the task ran, from the boot-time applier over all config files,
          then ufw's boot script and tuned's profile and re-apply when they run at boot.
        - Null when no file sets the key; then the key boots with the kernel default, C(kernel_default) where known.
      type: str
      sample: "15"
    kernel_default:
      description:
        - The key's value in a fresh network namespace, read in a child process that makes one (one fork per run,
          only when some key needs it); the value the key boots with when no file sets it.
        - Null when a fresh namespace cannot show it; C(kernel_default_source) says why.
      type: str
      sample: "60"
    kernel_default_source:
      description:
        - "Where C(kernel_default) comes from, V(fresh network namespace), or why it is unknown - V(global key) (the
          key exists only in the host's namespace), V(copied from the host at namespace creation) (C(tcp_rmem),
          C(tcp_wmem), C(tcp_congestion_control), C(ip_forward), C(conf.all.*) and C(conf.default.*)),
          C(cannot create a network namespace: <error>) (no CAP_SYS_ADMIN and unprivileged user namespaces off, as
          in an audit without become on a host with C(user.max_user_namespaces=0)), V(not in a fresh network
          namespace)."
        - Without root the module makes a user namespace that owns the new network namespace (as C(unshare --user
          --net) does), where unprivileged user namespaces are on.
      type: str
      sample: fresh network namespace
    source: {description: The file that C(persisted) comes from., type: str, sample: /etc/sysctl.d/90-kerneltune-tcp.conf}
    persisted_before:
      description: The value the boot-time applier would set before the task (null when no file sets the key).
      type: str
      sample: "60"
    source_before: {description: The file that C(persisted_before) comes from., type: str, sample: /etc/sysctl.conf}
    shadowed:
      description:
        - "The other files' lines that set the key to another value and lose at boot today (before the task), under
          the modelled applier, in the order it reads them, C({path, line, value}) each (C(value) as the kernel
          would store it). Lines the kernel would refuse, globs and C(-key) lines are not listed; nor is this
          module's own file (a later file beating it is C(overridden_by))."
        - "Empty when no other file sets the key to another value. Such a line changes nothing today, but an
          auditor (ComplianceAsCode, CIS) may fail the host for it, and it wins once the file that beats it goes."
      type: list
      elements: dict
      sample: [{path: /usr/lib/sysctl.d/50-x.conf, line: 1, value: "20"}]
    runtime_drift: {description: The running value differed from C(desired) before the task., type: bool, sample: true}
    persisted_drift:
      description: The boot-time value differed from C(desired) before the task.
      type: bool
      sample: true
    overridden_by:
      description:
        - A file read after ours that sets another value, or null.
        - It may be the file ufw's boot script applies (C(IPT_SYSCTL), /etc/ufw/sysctl.conf) or a tuned profile's
          tuned.conf, when ufw or tuned runs at boot after the sysctl applier (docs/tcp_sysctl.md, "ufw and tuned").
      type: str
      sample: /etc/sysctl.d/99-local.conf
    persisted_unknown:
      description:
        - Why the value at boot is unknown (tuned runs at boot with a profile the module cannot evaluate), or null.
        - When set, C(persisted) is null, C(overridden_by) is null and the V(boot_unknown) finding says the same.
      type: str
      sample: null
    persisted_before_unknown:
      description: The same for C(persisted_before), or null.
      type: str
      sample: null
    status:
      description: V(ok), V(drift), V(overridden), V(unsupported) or V(read_only).
      type: str
      sample: drift
findings:
  description: Every rule that fired.
  returned: always
  type: list
  elements: dict
  sample:
    - rule: fin_timeout_scope
      severity: info
      key: net.ipv4.tcp_fin_timeout
      message: net.ipv4.tcp_fin_timeout bounds orphaned FIN_WAIT2 sockets only; it does not shorten TIME_WAIT, which is fixed at 60 s in the kernel
restore:
  description:
    - With O(state=absent), one entry per key the file set (or that has a record), sorted by key.
    - C(value) is what the key is set to and C(source) where it comes from (a file, V(kernel default),
      V(recorded), or null when the key is left as it is); C(runtime) is the running value before the task.
  returned: always
  type: list
  elements: dict
  sample: [{key: net.core.somaxconn, runtime: "8192", value: "4096", source: kernel default}]
rewritten:
  description:
    - The value lines of other kerneltune.tcp files this run rewrote (or, in check mode, would rewrite), one entry
      per file and key, sorted by path and key. A key's lines are rewritten only in a file that holds a
      C(# kerneltune.tcp bound:) comment for it, so that every kerneltune.tcp file holds the one value the
      bounds rule gives (see O(settings)); with O(state=absent), the lines are re-derived from the remaining files'
      bounds. A value another file pinned exactly is never rewritten.
    - Each file is written atomically (a temporary file beside it, then a rename) under the lock, keeping its mode and
      owner; its records stay as they are. With C(--diff), each file gets its own diff entry named by its path.
  returned: always
  type: list
  elements: dict
  contains:
    path: {description: The other kerneltune.tcp file., type: str}
    key: {description: The key whose line changed., type: str}
    before: {description: The value the line held., type: str}
    after: {description: The value written., type: str}
  sample: [{path: /etc/sysctl.d/80-kerneltune-web_frontend.conf, key: net.ipv4.tcp_fin_timeout, before: "30", after: "15"}]
runtime_changes:
  description: Running values changed (or, in check mode, that would change), one C(key, old -> new) string each.
  returned: always
  type: list
  elements: str
  sample: ["net.ipv4.tcp_fin_timeout: 60 -> 15"]
nat:
  description:
    - NAT detection and declaration.
    - Also returned when the run is refused after detection (for example C(tw_recycle_nat), with its evidence); a
      run refused before detection (bad path, names or values) probes nothing and returns no C(nat).
    - Detection runs only when C(net.ipv4.tcp_tw_recycle) is among O(settings) (the only key NAT decides);
      otherwise C(detected) is null and C(not_probed) says why.
  returned: success, and on a refusal after NAT detection
  type: dict
  contains:
    detected:
      description: Evidence of NAT was found; null when detection was not run (C(not_probed)).
      type: bool
    declared:
      description: True for O(nat=present), false for O(nat=absent), null for O(nat=auto).
      type: bool
    evidence:
      description: The rules or conntrack entries found.
      type: list
      elements: str
    hints:
      description: Signs that are not proof, such as ip_forward, bridges or the nf_nat module.
      type: list
      elements: str
    sources:
      description: The tools and files that were read, in order; detection stops at the first that shows NAT.
      type: list
      elements: str
    counts:
      description: Per source with evidence, C(rules) seen and C(complete) (false when parsing stopped at the five
        rules kept as evidence).
      type: dict
    not_probed:
      description: Why detection was not run (only when it was not).
      type: str
  sample: {detected: true, declared: null, evidence: ["iptables-nft nat rule: -A POSTROUTING -o eth0 -j MASQUERADE"],
           hints: [], sources: [iptables-nft-save, nft]}
kernel:
  description: The running kernel release.
  returned: always
  type: str
  sample: 6.1.0-26-amd64
applier:
  description:
    - The boot-time applier modelled for C(persisted) and the version of it that was modelled (the version of
      its binary on the host, C(systemd-sysctl --version) or C(sysctl --version); the newest known behaviour
      when the binary is missing).
  returned: when the arguments are valid
  type: str
  sample: systemd-sysctl 252
applier_name:
  description: The applier modelled, without its version.
  returned: when the arguments are valid
  type: str
  sample: systemd-sysctl
applier_version:
  description: The applier version modelled.
  returned: when the arguments are valid
  type: str
  sample: "252"
path:
  description: The managed file.
  returned: always
  type: str
  sample: /etc/sysctl.d/90-kerneltune-tcp.conf
namespaces:
  description:
    - With O(namespaces=all), every network namespace on the host but the task's own, by inode, each with the
      running values of the keys of O(settings) there. Never written to.
  returned: when O(namespaces=all)
  type: list
  elements: dict
  contains:
    inode:
      description: The namespace's nsfs inode (C(readlink /proc/PID/ns/net) shows it as C(net:[INODE])).
      type: int
      sample: 4026532771
    name:
      description: Its first C(/run/netns) name (C(ip netns add)), or null.
      type: str
      sample: blue
    names:
      description: Every C(/run/netns) name it has.
      type: list
      elements: str
      sample: [blue]
    owner:
      description:
        - Who it belongs to, from the cgroups of its processes, C(runtime) (docker, containerd, cri-o, podman, lxc,
          kubernetes), C(container_id) (the innermost), C(containers), C(pod_uid) (Kubernetes), C(cgroup), the first
          C(processes) (C(pid), C(command)) and C(process_count).
      type: dict
      sample: {runtime: podman, container_id: 3f2a..., containers: [3f2a...], pod_uid: null,
               cgroup: /machine.slice/libpod-3f2a....scope, processes: [{pid: 4242, command: nginx}], process_count: 1}
    error:
      description: Why the namespace could not be read (it went away during the scan, or no CAP_SYS_ADMIN), or null.
      type: str
      sample: null
    differs:
      description: The keys whose value there is not what the task asks (scope C(namespace) or C(copied) only).
      type: list
      elements: str
      sample: [net.ipv4.tcp_fin_timeout]
    settings:
      description: One entry per key of O(settings) the host has, in the order of RV(settings).
      type: list
      elements: dict
      contains:
        key:
          description: The key.
          type: str
          sample: net.ipv4.tcp_fin_timeout
        value:
          description: Its running value in the namespace (null when the namespace lacks it).
          type: str
          sample: "60"
        wanted:
          description: What the task asks, a value or a bound's text (C(<= 30)).
          type: str
          sample: "<= 30"
        desired:
          description: The host's C(desired) value.
          type: str
          sample: "30"
        state:
          description: What was seen there, V(writable), V(read_only) (the file's mode lets nobody write it there),
            V(missing) or V(unreadable).
          type: str
          sample: writable
        scope:
          description:
            - V(namespace) - the namespace's own value (a new namespace starts from the kernel's default).
            - V(copied) - the namespace's own value, copied from the host's namespace when it was made (C(tcp_rmem),
              C(tcp_wmem), C(tcp_congestion_control), C(ip_forward), C(conf.all.*), C(conf.default.*)).
            - V(host) - the host's alone (absent there, or a read-only copy such as C(net.core.rmem_max)), never drift.
            - V(unknown) - it could not be read there.
          type: str
          sample: namespace
        differs:
          description: The value is not what the task asks; false for scope V(host), null for V(unknown).
          type: bool
          sample: true
namespaces_unreadable:
  description: With O(namespaces=all), how many processes' network namespace could not be read (no right to read
    C(/proc/PID/ns/net); zombies and processes gone during the scan are not counted).
  returned: when O(namespaces=all)
  type: int
  sample: 0
backup_file:
  description:
    - The backup copy, when O(backup=true) and the file changed.
    - Also on a failed run whose running values could not all be put back, where the copy is kept.
  returned: changed and backup
  type: str
  sample: /etc/sysctl.d/90-kerneltune-tcp.conf.2026-11-22@10:00:00~
"""

import platform

from ansible.module_utils.basic import AnsibleModule

# Before the collection's other imports: each of them is then compiled once (module_utils/compile_once.py).
from ansible_collections.kerneltune.tcp.plugins.module_utils import compile_once  # noqa: F401 pylint: disable=unused-import
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import task
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import transaction


def main():
    module = AnsibleModule(
        argument_spec=dict(
            settings=dict(type="dict"),
            path=dict(type="path", default="/etc/sysctl.d/90-kerneltune-tcp.conf"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            restore=dict(type="str", choices=["boot", "previous", "none"]),
            apply=dict(type="bool", default=True),
            nat=dict(type="str", choices=["auto", "present", "absent"], default="auto"),
            skip_missing=dict(type="list", elements="str", default=[]),
            allow=dict(type="list", elements="str", default=[]),
            applier=dict(type="str", choices=["auto", "systemd-sysctl", "procps"], default="auto"),
            backup=dict(type="bool", default=False),
            lock_timeout=dict(type="float", default=60),
            namespaces=dict(type="str", choices=["self", "all"], default="self"),
        ),
        required_if=[("state", "present", ("settings",))],
        supports_check_mode=True,
    )
    declared = {"present": True, "absent": False}.get(module.params["nat"])

    def detect_nat():
        # Only after the arguments are valid; reads only, never loads a module. Imported here: only a task
        # that sets net.ipv4.tcp_tw_recycle runs it (each module_utils imported is compiled again on every run,
        # Ansible's payload being a zip of sources).
        from ansible_collections.kerneltune.tcp.plugins.module_utils import nat as nat_lib
        return nat_lib.detect(declared, module)

    def label(path):
        module.set_default_selinux_context(path, False)

    opts = task.Options(check_mode=module.check_mode, diff=module._diff, kernel=platform.release(),
                        detect_nat=detect_nat, hooks=transaction.Hooks(label=label))
    try:
        out, warnings = task.run(module.params, opts)
    except task.TaskFailed as e:
        for w in e.warnings:
            module.warn(w)
        module.fail_json(msg=e.message, **e.result)
    for w in warnings:
        module.warn(w)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
