# SPDX-License-Identifier: GPL-3.0-or-later
"""ufw and tuned at boot (services.py): the boot model over a temporary root tree.

The same layouts run against Debian's real ufw boot script and tuned in molecule/boot_services.
"""
import os

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import services

from .sysctl_env import PATH, by_key

MARTIANS = "net.ipv4.conf.all.log_martians"
KEEPALIVE = "net.ipv4.tcp_keepalive_time"
FIN = "net.ipv4.tcp_fin_timeout"
UFW_STOCK = "net/ipv4/conf/all/log_martians=0\nnet/ipv4/conf/default/log_martians=0\n"


def _link(env, path, target):
    full = env.root + path
    os.makedirs(os.path.dirname(full), exist_ok=True)
    if not os.path.lexists(full):
        os.symlink(target, full)


def ufw(env, enabled="yes", sysctl=UFW_STOCK, ipt="/etc/ufw/sysctl.conf", unit=True):
    env.set("net/ipv4/conf/all/log_martians", "0")
    env.conf("/etc/ufw/ufw.conf", "# ufw.conf\n\nENABLED=%s\nLOGLEVEL=low\n" % enabled)
    env.conf("/etc/default/ufw", 'IPV6=yes\nIPT_SYSCTL=%s\nIPT_MODULES=""\n' % ipt)
    if sysctl is not None:
        env.conf("/etc/ufw/sysctl.conf", sysctl)
    if unit:
        _link(env, "/etc/systemd/system/multi-user.target.wants/ufw.service", "/lib/systemd/system/ufw.service")


def tuned(env, profile, reapply=1, name="kt-test", mode="manual", unit=True):
    env.conf("/etc/tuned/tuned-main.conf", "daemon = 0\nreapply_sysctl = %d\n" % reapply)
    env.conf("/etc/tuned/active_profile", name + "\n")
    env.conf("/etc/tuned/profile_mode", mode + "\n")
    env.conf("/etc/tuned/%s/tuned.conf" % name, profile)
    if unit:
        _link(env, "/etc/systemd/system/multi-user.target.wants/tuned.service", "/lib/systemd/system/tuned.service")


def test_ufw_enabled_overrides_log_martians(env):
    ufw(env)
    r = env.plan({MARTIANS: 1})
    e = by_key(r)[MARTIANS]
    assert e["persisted"] == "0" and e["source"] == "/etc/ufw/sysctl.conf"
    assert e["status"] == "overridden" and e["overridden_by"] == "/etc/ufw/sysctl.conf"
    msg = [f["message"] for f in r["findings"] if f["rule"] == "overridden"][0]
    assert msg == ("net.ipv4.conf.all.log_martians: /etc/ufw/sysctl.conf sets 0 after "
                   "/etc/sysctl.d/90-kerneltune-tcp.conf (1); it wins at boot, so the running value is left alone "
                   "(ufw's boot script applies /etc/ufw/sysctl.conf after the sysctl files: edit it, or point "
                   "IPT_SYSCTL in /etc/default/ufw at another file)")
    assert r["runtime_changes"] == []


def test_ufw_disabled_or_unit_off_or_no_file_does_not_count(env):
    ufw(env, enabled="no")
    assert by_key(env.plan({MARTIANS: 1}))[MARTIANS]["persisted"] == "1"
    ufw(env, enabled='"yes"', ipt="")
    assert services.ufw_state(env.root) == {"enabled": True, "file": None,
                                            "why": "IPT_SYSCTL is empty or names no non-empty file"}
    assert by_key(env.plan({MARTIANS: 1}))[MARTIANS]["persisted"] == "1"


def test_ufw_unit_not_enabled(env):
    ufw(env, unit=False)
    assert services.ufw_state(env.root)["why"] == "ufw.service is not enabled"
    assert by_key(env.plan({MARTIANS: 1}))[MARTIANS]["source"] == PATH


def test_ufw_ipt_sysctl_elsewhere_and_conf_wins(env):
    ufw(env, ipt="/etc/ufw/other.conf")
    env.conf("/etc/ufw/other.conf", "net.ipv4.conf.all.log_martians = 1\n")
    e = by_key(env.plan({MARTIANS: 1}))[MARTIANS]
    assert e["status"] != "overridden" and e["persisted"] == "1" and e["source"] == "/etc/ufw/other.conf"


def test_tuned_profile_sets_a_key_no_file_sets(env):
    tuned(env, "[main]\nsummary=test\n\n[sysctl]\nnet.ipv4.tcp_keepalive_time=300\n")
    e = by_key(env.plan({FIN: 20}))
    # a key not requested is not modelled; the requested one here is unaffected
    assert e[FIN]["persisted"] == "20"
    e = by_key(env.plan({KEEPALIVE: 600}))[KEEPALIVE]
    # reapply_sysctl=1: /etc/sysctl.d/90-kerneltune-tcp.conf is re-applied after the profile
    assert e["persisted"] == "600" and e["source"] == PATH and e["persisted_before"] == "300"
    assert e["source_before"] == "/etc/tuned/kt-test/tuned.conf"


def test_tuned_without_reapply_wins(env):
    tuned(env, "[main]\n[sysctl]\nnet.ipv4.tcp_keepalive_time=300\n", reapply=0)
    r = env.plan({KEEPALIVE: 600})
    e = by_key(r)[KEEPALIVE]
    assert e["persisted"] == "300" and e["overridden_by"] == "/etc/tuned/kt-test/tuned.conf"
    msg = [f["message"] for f in r["findings"] if f["rule"] == "overridden"][0]
    assert msg.endswith("it wins at boot, so the running value is left alone (tuned applies this profile at boot "
                        "after the sysctl files: change or remove the key in the profile's [sysctl], in a profile "
                        "of your own under /etc/tuned)")


def test_tuned_beats_usr_lib_but_reapply_skips_it(env):
    env.conf("/usr/lib/sysctl.d/50-vendor.conf", "net.ipv4.tcp_fin_timeout = 50\n")
    tuned(env, "[main]\n[sysctl]\nnet.ipv4.tcp_fin_timeout=25\n")
    e = by_key(env.plan({FIN: 20}, path="/usr/local/lib/sysctl.d/90-kerneltune-tcp.conf"))[FIN]
    # tuned re-applies /run and /etc only: the /usr/local/lib file loses to the profile
    assert e["persisted_before"] == "25" and e["persisted"] == "25" and e["status"] == "overridden"


def test_tuned_include_and_variables(env):
    env.conf("/usr/lib/tuned/base/tuned.conf",
             "[main]\n[variables]\nka=900\n[sysctl]\nnet.ipv4.tcp_keepalive_time=${ka}\nnet.ipv4.tcp_fin_timeout=33\n")
    tuned(env, "[main]\ninclude=base\n[sysctl]\nnet.ipv4.tcp_fin_timeout=\"44\"\n", reapply=0)
    r = env.plan({KEEPALIVE: 600, FIN: 20})
    e = by_key(r)
    assert e[KEEPALIVE]["persisted"] == "900" and e[KEEPALIVE]["source"] == "/usr/lib/tuned/base/tuned.conf"
    assert e[FIN]["persisted"] == "44" and e[FIN]["source"] == "/etc/tuned/kt-test/tuned.conf"


def test_tuned_etc_profile_overrides_usr_lib_of_the_same_name(env):
    env.conf("/usr/lib/tuned/kt-test/tuned.conf", "[sysctl]\nnet.ipv4.tcp_fin_timeout=33\n")
    tuned(env, "[main]\n[sysctl]\nnet.ipv4.tcp_fin_timeout=44\n", reapply=0)
    assert by_key(env.plan({FIN: 20}))[FIN]["persisted"] == "44"


def test_tuned_unknown_values(env):
    tuned(env, "[main]\n[sysctl]\nnet.ipv4.tcp_fin_timeout=${f:cpulist2hex:1}\n"
               "net.ipv4.tcp_keepalive_time=>900\n", reapply=0)
    r = env.plan({KEEPALIVE: 600, FIN: 20})
    e = by_key(r)
    assert e[FIN]["persisted"] is None and e[FIN]["overridden_by"] is None and e[FIN]["status"] == "drift"
    msgs = sorted(f["message"] for f in r["findings"] if f["rule"] == "boot_unknown")
    assert msgs == [
        "net.ipv4.tcp_fin_timeout: the value at boot is unknown: tuned profile /etc/tuned/kt-test/tuned.conf sets it "
        "to ${f:cpulist2hex:1}: it uses a tuned built-in function (${f:cpulist2hex:1})",
        "net.ipv4.tcp_keepalive_time: the value at boot is unknown: tuned profile /etc/tuned/kt-test/tuned.conf sets "
        "it to >900: its value >900 is relative to the value before tuned (>)"]


def test_tuned_automatic_mode_is_unknown_unless_reapplied(env):
    tuned(env, "[sysctl]\n", mode="auto")
    r = env.plan({FIN: 20}, path="/usr/local/lib/sysctl.d/90-kerneltune-tcp.conf")
    assert [f["message"] for f in r["findings"] if f["rule"] == "boot_unknown"] == [
        "net.ipv4.tcp_fin_timeout: the value at boot is unknown: tuned runs in automatic mode "
        "(/etc/tuned/profile_mode): it applies the profile its recommender picks for this machine, which is not "
        "modelled"]
    # ours in /etc/sysctl.d is re-applied after whatever profile: known
    assert by_key(env.plan({FIN: 20}))[FIN]["persisted"] == "20"


def test_tuned_missing_profile(env):
    tuned(env, "[sysctl]\n", reapply=0)
    env.conf("/etc/tuned/active_profile", "nosuch\n")
    r = env.plan({FIN: 20})
    assert [f["message"] for f in r["findings"] if f["rule"] == "boot_unknown"] == [
        "net.ipv4.tcp_fin_timeout: the value at boot is unknown: tuned profile nosuch is not in /etc/tuned or "
        "/usr/lib/tuned: tuned does not start"]


def test_tuned_disabled_unit_is_ignored(env):
    tuned(env, "[main]\n[sysctl]\nnet.ipv4.tcp_fin_timeout=44\n", reapply=0, unit=False)
    assert by_key(env.plan({FIN: 20}))[FIN]["persisted"] == "20"
    _link(env, "/etc/systemd/system/multi-user.target.wants/tuned.service", "/lib/systemd/system/tuned.service")
    _link(env, "/etc/systemd/system/tuned.service", "/dev/null")
    assert services.tuned_state(env.root)["why"] == "tuned.service is not enabled"


def test_tuned_reapply_order_run_wins_name_then_sysctl_conf(env):
    tuned(env, "[main]\n[sysctl]\nnet.ipv4.tcp_fin_timeout=44\n")
    env.conf("/run/sysctl.d/95-x.conf", "net.ipv4.tcp_fin_timeout = 31\n")
    env.conf("/etc/sysctl.d/95-x.conf", "net.ipv4.tcp_fin_timeout = 32\n")
    env.conf("/usr/lib/sysctl.d/99-z.conf", "net.ipv4.tcp_fin_timeout = 33\n")
    assert services.tuned_reapply_files(env.root) == ["/run/sysctl.d/95-x.conf", "/etc/sysctl.conf"]
    e = by_key(env.plan({FIN: 20}))[FIN]
    assert e["persisted"] == "31" and e["source"] == "/run/sysctl.d/95-x.conf"
    env.conf("/etc/sysctl.conf", "net.ipv4.tcp_fin_timeout = 34\n")
    assert by_key(env.plan({FIN: 20}))[FIN]["persisted"] == "34"


def test_tuned_2_23_layout_profiles_dir_and_post_loaded_profile(env):
    os.makedirs(env.root + "/usr/lib/tuned/profiles")
    tuned(env, "[main]\n[sysctl]\nnet.ipv4.tcp_fin_timeout=44\n", reapply=0)
    # /etc/tuned/NAME is not read from 2.23: the profile is missing there
    r = env.plan({FIN: 20})
    assert [f["message"] for f in r["findings"] if f["rule"] == "boot_unknown"] == [
        "net.ipv4.tcp_fin_timeout: the value at boot is unknown: tuned profile kt-test is not in /etc/tuned/profiles "
        "or /usr/lib/tuned/profiles: tuned does not start"]
    env.conf("/etc/tuned/profiles/kt-test/tuned.conf", "[sysctl]\nnet.ipv4.tcp_fin_timeout=45\n")
    env.conf("/usr/lib/tuned/profiles/kt-post/tuned.conf", "[sysctl]\nnet.ipv4.tcp_fin_timeout=46\n")
    assert by_key(env.plan({FIN: 20}))[FIN]["persisted"] == "45"
    env.conf("/etc/tuned/post_loaded_profile", "kt-post\n")
    e = by_key(env.plan({FIN: 20}))[FIN]
    assert e["persisted"] == "46" and e["source"] == "/usr/lib/tuned/profiles/kt-post/tuned.conf"


def test_ufw_enabled_quoted_with_a_comment_or_set_in_default_ufw(env):
    # Measured against Debian's ufw-init: `ENABLED="yes" # on` is yes, and ENABLED may come from /etc/default/ufw
    # (ufw-init-functions sources it before /etc/ufw/ufw.conf).
    ufw(env, enabled='"yes" # on')
    e = by_key(env.plan({MARTIANS: 1}))[MARTIANS]
    assert e["persisted"] == "0" and e["source"] == "/etc/ufw/sysctl.conf"
    env.conf("/etc/ufw/ufw.conf", "LOGLEVEL=low\n")
    env.conf("/etc/default/ufw", 'ENABLED=yes\nIPT_SYSCTL=/etc/ufw/sysctl.conf\n')
    assert by_key(env.plan({MARTIANS: 1}))[MARTIANS]["persisted"] == "0"
    env.conf("/etc/default/ufw", "")
    env.conf("/etc/ufw/ufw.conf", "ENABLED=yes\nIPT_SYSCTL=/etc/ufw/sysctl.conf\n")
    assert services.ufw_state(env.root)["why"] == ("/etc/default/ufw or /etc/ufw/ufw.conf is missing or empty: "
                                                   "ufw's boot script aborts")
    assert by_key(env.plan({MARTIANS: 1}))[MARTIANS]["persisted"] == "1"


def test_tuned_reapplies_only_from_an_enabled_sysctl_unit(env):
    # tuned's sysctl plugin re-applies the sysctl files: a profile without an enabled [sysctl] (Debian's balanced
    # has none) leaves ufw's value in place.
    ufw(env)
    for profile in ("[main]\nsummary=x\n[variables]\nfoo=1\n",
                    "[main]\n[sysctl]\nenabled=false\nnet.core.somaxconn=1234\n"):
        tuned(env, profile, reapply=1)
        e = by_key(env.plan({MARTIANS: 1}))[MARTIANS]
        assert e["persisted"] == "0" and e["source"] == "/etc/ufw/sysctl.conf", profile
    tuned(env, "[main]\n[sysctl]\nnet.core.somaxconn=1234\n", reapply=1)
    assert by_key(env.plan({MARTIANS: 1}))[MARTIANS]["persisted"] == "1"


def test_tuned_automatic_mode_reapply_is_unknown_when_it_would_change_the_value(env):
    ufw(env)
    tuned(env, "[sysctl]\n", mode="auto")
    r = env.plan({MARTIANS: 1})
    assert by_key(r)[MARTIANS]["persisted"] is None
    assert [f["message"] for f in r["findings"] if f["rule"] == "boot_unknown"] == [
        "net.ipv4.conf.all.log_martians: the value at boot is unknown: tuned runs in automatic mode "
        "(/etc/tuned/profile_mode): it applies the profile its recommender picks for this machine, which is not "
        "modelled; the sysctl files are re-applied only if that profile has a [sysctl] section"]


def test_tuned_variables_expand_in_the_merged_profiles_order(env):
    # tuned adds the merged [variables]: a redefinition keeps the first place, so y=${x} sees the top's x.
    env.conf("/usr/lib/tuned/base/tuned.conf", "[main]\n[variables]\nx=11\ny=${x}\n[sysctl]\nnet.core.somaxconn=1111\n")
    tuned(env, "[main]\ninclude=base\n[variables]\nx=22\n[sysctl]\nnet.ipv4.tcp_fin_timeout=${y}\n", reapply=0)
    assert by_key(env.plan({FIN: 20}))[FIN]["persisted"] == "22"


def test_tuned_indented_line_continues_the_value_above(env):
    tuned(env, "[main]\n[sysctl]\nnet.ipv4.tcp_fin_timeout=21\n  net.ipv4.tcp_keepalive_time=1115\n", reapply=0)
    r = env.plan({FIN: 20, KEEPALIVE: 600})
    e = by_key(r)
    assert e[KEEPALIVE]["persisted"] == "600"
    assert [f["message"] for f in r["findings"] if f["rule"] == "boot_unknown"] == [
        "net.ipv4.tcp_fin_timeout: the value at boot is unknown: tuned profile /etc/tuned/kt-test/tuned.conf sets it "
        "to a value of several lines (an indented line continues it)"]


def test_ufw_ipt_sysctl_with_a_blank_is_split_into_files(env):
    # ufw-init runs `sysctl -e -q -p $IPT_SYSCTL` unquoted: "/etc/ufw/my kt.conf" is two files, none of them this one
    ufw(env, ipt='"/etc/ufw/my kt.conf"')
    env.conf("/etc/ufw/my kt.conf", "net.ipv4.conf.all.log_martians = 0\n")
    assert by_key(env.plan({MARTIANS: 1}))[MARTIANS]["persisted"] == "1"
    env.conf("/etc/ufw/my", "net.ipv4.conf.all.log_martians = 0\n")
    e = by_key(env.plan({MARTIANS: 1}))[MARTIANS]
    assert e["persisted"] == "0" and e["source"] == "/etc/ufw/my"


def test_tuned_default_section_is_in_every_section(env):
    tuned(env, "[DEFAULT]\nnet.ipv4.tcp_keepalive_time=1118\n[main]\n[sysctl]\nnet.ipv4.tcp_fin_timeout=24\n",
          reapply=0)
    e = by_key(env.plan({FIN: 20, KEEPALIVE: 600}))
    assert (e[FIN]["persisted"], e[KEEPALIVE]["persisted"]) == ("24", "1118")
