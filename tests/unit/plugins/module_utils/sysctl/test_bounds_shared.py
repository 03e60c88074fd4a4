# SPDX-License-Identifier: GPL-3.0-or-later
"""Bounds several kerneltune.tcp files hold on one key: one rule, read from the files' bound comment lines.

The value is the key's boot value without any kerneltune file (the other files, else the kernel default, else
the running value), moved into the intersection of every kerneltune bound on the key. Runs go through the
module's flow (plan, running values, file) on a temporary /proc/sys and sysctl.d tree.
"""
import os

import pytest

from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import bounds as bounds_lib
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import procsys
from ansible_collections.kerneltune.tcp.plugins.module_utils.sysctl import render

from .sysctl_env import refused, by_key, SOMAXCONN, RANGE

FIN = "net.ipv4.tcp_fin_timeout"
WEB = "/etc/sysctl.d/80-kerneltune-web_frontend.conf"
HIGH = "/etc/sysctl.d/80-kerneltune-high_outbound_client.conf"
WEB_SETTINGS = {FIN: {"max": 30}, SOMAXCONN: {"min": 8192}}
HIGH_SETTINGS = {FIN: {"max": 15}}


def run(env, settings, path, **kw):
    """One task as the module runs it: plan, running values, our file and the other kerneltune files it rewrites.
    True when anything changed."""
    r = env.plan(settings, path=path, **kw)
    procsys.apply_runtime(r["runtime_changes"], proc_root=env.proc)
    if r["new_text"] is None:
        os.unlink(env.root + path)
    else:
        env.conf(path, r["new_text"])
    for other, (_old, text) in r["other_files"].items():
        env.conf(other, text)
    return r["file_changed"] or bool(r["runtime_changes"]) or bool(r["other_files"])


def text_of(env, path):
    with open(env.root + path) as f:
        return f.read()


WEB_TEXT = render.HEADER + ("# kerneltune.tcp bound: net.core.somaxconn min=8192\nnet.core.somaxconn = 8192\n"
                            "# kerneltune.tcp bound: net.ipv4.tcp_fin_timeout max=30\nnet.ipv4.tcp_fin_timeout = 15\n")
HIGH_TEXT = render.HEADER + "# kerneltune.tcp bound: net.ipv4.tcp_fin_timeout max=15\nnet.ipv4.tcp_fin_timeout = 15\n"


def test_high_outbound_client_then_web_frontend_converge_in_one_run(env):
    assert run(env, HIGH_SETTINGS, HIGH) and run(env, WEB_SETTINGS, WEB)
    assert (text_of(env, HIGH), text_of(env, WEB)) == (HIGH_TEXT, WEB_TEXT)
    assert env.get("net/ipv4/tcp_fin_timeout") == "15"
    assert [run(env, HIGH_SETTINGS, HIGH), run(env, WEB_SETTINGS, WEB)] == [False, False]


def test_web_frontend_then_high_outbound_client_converge_in_one_run(env):
    assert run(env, WEB_SETTINGS, WEB)
    assert env.get("net/ipv4/tcp_fin_timeout") == "30"
    # web_frontend ran before high_outbound_client's bound existed and its file sorts later: high_outbound_client's
    # run rewrites web_frontend's bounded line to the one value (the default 60 moved into <= 30 and <= 15).
    r = env.plan(HIGH_SETTINGS, path=HIGH)
    assert r["rewritten"] == [{"path": WEB, "key": FIN, "before": "30", "after": "15"}]
    assert list(r["other_files"]) == [WEB] and r["other_files"][WEB][1] == WEB_TEXT
    e = by_key(r)[FIN]
    # systemd-sysctl keeps the first of two equal assignments in its place: the source is our file.
    assert (e["status"], e["persisted"], e["source"], e["overridden_by"]) == ("drift", "15", HIGH, None)
    assert [f for f in r["findings"] if f["rule"] == "overridden"] == []
    assert r["runtime_changes"] == [(FIN, ("net", "ipv4", "tcp_fin_timeout"), "30", "15")]
    assert run(env, HIGH_SETTINGS, HIGH)
    assert (text_of(env, HIGH), text_of(env, WEB)) == (HIGH_TEXT, WEB_TEXT)
    assert env.get("net/ipv4/tcp_fin_timeout") == "15"
    assert [run(env, WEB_SETTINGS, WEB), run(env, HIGH_SETTINGS, HIGH)] == [False, False]


def test_removing_one_profile_rederives_the_others_bounded_lines(env):
    run(env, WEB_SETTINGS, WEB)
    run(env, HIGH_SETTINGS, HIGH)
    r = env.plan(None, path=HIGH, state="absent", restore="boot")
    assert r["rewritten"] == [{"path": WEB, "key": FIN, "before": "15", "after": "30"}]
    assert r["restore"] == [{"key": FIN, "runtime": "15", "value": "30", "source": WEB}]
    assert run(env, None, HIGH, state="absent", restore="boot")
    assert not os.path.exists(env.root + HIGH)
    assert text_of(env, WEB) == WEB_TEXT.replace("tcp_fin_timeout = 15", "tcp_fin_timeout = 30")
    assert env.get("net/ipv4/tcp_fin_timeout") == "30"
    assert run(env, WEB_SETTINGS, WEB) is False
    # restore: none rewrites the file all the same (the boot value), and leaves the running value.
    run(env, HIGH_SETTINGS, HIGH)
    r = env.plan(None, path=HIGH, state="absent", restore="none")
    assert (r["rewritten"], r["runtime_changes"]) == ([{"path": WEB, "key": FIN, "before": "15", "after": "30"}], [])


def test_a_kerneltune_file_that_is_a_symbolic_link_is_not_rewritten(env):
    run(env, WEB_SETTINGS, WEB)
    os.rename(env.root + WEB, env.root + "/etc/web.conf")
    os.symlink(env.root + "/etc/web.conf", env.root + WEB)
    r = env.plan(HIGH_SETTINGS, path=HIGH)
    assert (r["rewritten"], r["other_files"]) == ([], {})


def test_a_value_another_kerneltune_file_pinned_is_never_rewritten(env):
    pinned = render.HEADER + "net.ipv4.tcp_fin_timeout = 10\n"
    env.conf("/etc/sysctl.d/85-kerneltune-pinned.conf", pinned)
    r = env.plan(HIGH_SETTINGS, path=HIGH)
    assert (r["rewritten"], r["other_files"], by_key(r)[FIN]["desired"]) == ([], {}, "10")
    # A bound line for another key does not make this key's line rewritable either.
    env.conf("/etc/sysctl.d/85-kerneltune-pinned.conf", render.HEADER + (
        "# kerneltune.tcp bound: net.core.somaxconn min=8192\nnet.ipv4.tcp_fin_timeout = 40\n"))
    assert render.rewrite_bounded(text_of(env, "/etc/sysctl.d/85-kerneltune-pinned.conf"), FIN, "15") == \
        text_of(env, "/etc/sysctl.d/85-kerneltune-pinned.conf")


def test_a_value_another_file_raised_goes_back_when_that_file_goes(env):
    env.conf("/etc/sysctl.d/60-app.conf", "net.core.somaxconn = 65535\n")
    env.set("net/core/somaxconn", "65535")
    run(env, WEB_SETTINGS, WEB)
    assert "net.core.somaxconn = 65535\n" in text_of(env, WEB)
    os.unlink(env.root + "/etc/sysctl.d/60-app.conf")
    r = env.plan(WEB_SETTINGS, path=WEB)
    e = by_key(r)[SOMAXCONN]
    # The kernel default (4096) moved into {min: 8192}: the file goes back; the running 65535 is within the bound.
    assert (e["desired"], e["persisted"], e["persisted_before"]) == ("8192", "8192", "65535")
    assert "net.core.somaxconn = 8192\n" in r["new_text"] and r["runtime_changes"] == []


def test_bounds_that_leave_no_value_are_refused_before_anything_changes(env):
    other = "/etc/sysctl.d/70-kerneltune-small.conf"
    run(env, {SOMAXCONN: {"max": 50}}, other)
    env.set("net/core/somaxconn", "4096")
    e = refused(env, {SOMAXCONN: {"min": 100}}, path=WEB)
    assert e.message == ("net.core.somaxconn: no value meets every kerneltune.tcp bound: >= 100 in "
                         "/etc/sysctl.d/80-kerneltune-web_frontend.conf and <= 50 in "
                         "/etc/sysctl.d/70-kerneltune-small.conf; change or remove one of them")
    assert [(f["rule"], f["severity"]) for f in e.findings] == [("bounds_conflict", "error")]
    assert not os.path.exists(env.root + WEB) and env.get("net/core/somaxconn") == "4096"
    assert refused(env, {SOMAXCONN: {"min": 100}}, path=WEB, allow=["bounds_conflict"]).message == \
        "allow: rule bounds_conflict cannot be allowed"


def test_port_range_bounds_that_leave_no_range_name_both_files(env):
    other = "/etc/sysctl.d/70-kerneltune-narrow.conf"
    env.conf(other, render.HEADER + "# kerneltune.tcp bound: net.ipv4.ip_local_port_range high_max=20000\n"
             "net.ipv4.ip_local_port_range = 10000 20000\n")
    e = refused(env, {RANGE: {"low_min": 30000}}, path=WEB)
    assert e.message == ("net.ipv4.ip_local_port_range: no value meets every kerneltune.tcp bound: low >= 30000 in "
                         "/etc/sysctl.d/80-kerneltune-web_frontend.conf and high <= 20000 in "
                         "/etc/sysctl.d/70-kerneltune-narrow.conf; change or remove one of them")


def test_a_file_of_an_earlier_release_counts_as_a_plain_value(env):
    # Written before bound comment lines: its 20 is a value like any other file's, not a bound.
    env.conf(HIGH, render.HEADER + "net.ipv4.tcp_fin_timeout = 20\n")
    r = env.plan({FIN: {"max": 30}}, path=WEB)
    assert by_key(r)[FIN]["desired"] == "20"
    # With its bound line, the line is left out of the boot value and the bound joins ours.
    env.conf(HIGH, render.HEADER + "# kerneltune.tcp bound: net.ipv4.tcp_fin_timeout max=20\n"
             "net.ipv4.tcp_fin_timeout = 20\n")
    r = env.plan({FIN: {"min": 5}}, path=WEB)
    assert by_key(r)[FIN]["desired"] == "20"  # the kernel default 60, moved into 5..20


def test_a_plain_value_in_another_kerneltune_file_is_a_start_not_a_bound(env):
    env.conf("/etc/sysctl.d/85-kerneltune-sysctl.conf", render.HEADER + "net.core.somaxconn = 65535\n")
    r = env.plan({SOMAXCONN: {"min": 8192}}, path=WEB)
    assert by_key(r)[SOMAXCONN]["desired"] == "65535"


def test_bound_lines_round_trip_and_bad_ones_are_skipped():
    text = render.render({SOMAXCONN: "8192", RANGE: "10240 65535", FIN: "15"},
                         {SOMAXCONN: {"min": 8192}, RANGE: {"high_min": 65000, "low_max": 10240}})
    assert text == render.HEADER + (
        "# kerneltune.tcp bound: net.core.somaxconn min=8192\nnet.core.somaxconn = 8192\n"
        "# kerneltune.tcp bound: net.ipv4.ip_local_port_range low_max=10240 high_min=65000\n"
        "net.ipv4.ip_local_port_range = 10240 65535\nnet.ipv4.tcp_fin_timeout = 15\n")
    assert render.file_bounds(text) == {SOMAXCONN: {"min": 8192}, RANGE: {"low_max": 10240, "high_min": 65000}}
    assert render.without_bounded(text) == render.HEADER + "net.ipv4.tcp_fin_timeout = 15\n"
    bad = ("# kerneltune.tcp bound: kernel.panic min=1\n# kerneltune.tcp bound: net.core.somaxconn min=lots\n"
           "# kerneltune.tcp bound: net.core.somaxconn\n")
    assert render.file_bounds(bad) == {}
    assert render.is_ours(text) and not render.is_ours("net.core.somaxconn = 1\n") and not render.is_ours(None)


@pytest.mark.parametrize("others, merged", [
    ([], {"min": 10}),
    ([("/b", {"min": 20}), ("/c", {"max": 40})], {"min": 20, "max": 40}),
    ([("/b", {"min": 5, "max": 50}), ("/c", {"max": 30})], {"min": 10, "max": 30}),
])
def test_merge_bounds_is_the_intersection(others, merged):
    assert bounds_lib.merge_bounds(SOMAXCONN, ("/a", {"min": 10}), others) == merged


def test_a_line_put_between_the_bound_comment_and_its_value_is_still_rewritten(env):
    # An operator's note between web_frontend's bound comment and its value line: the bound still counts (the line
    # is left out of where a bound starts from), so the line is still web_frontend's bounded line and is rewritten.
    # Before, only the line right below the comment was: high_outbound_client then reported `overridden` on every
    # run and never converged.
    run(env, WEB_SETTINGS, WEB)
    text = text_of(env, WEB)
    comment = [line for line in text.splitlines(True) if line.startswith("# kerneltune.tcp bound: " + FIN)][0]
    env.conf(WEB, text.replace(comment, comment + "# operator: checked 2026-12-03\n"))
    r = env.plan(HIGH_SETTINGS, path=HIGH)
    assert r["rewritten"] == [{"path": WEB, "key": FIN, "before": "30", "after": "15"}]
    assert by_key(r)[FIN]["overridden_by"] is None
    assert ("# operator: checked 2026-12-03\n" + FIN + " = 15\n") in r["other_files"][WEB][1]
