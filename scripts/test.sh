#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The whole test suite: unit tests, ansible-test sanity, ansible-lint
# (production profile) and every molecule scenario. Installs what it needs.
# Last line: "N passed, N failed".
#   scripts/test.sh                 everything
#   KT_SCENARIOS="default nat" scripts/test.sh   only these molecule scenarios
#   KT_STAGES="unit sanity lint molecule"        only these stages
#   KT_RELEASES="bookworm"                       only these Debian releases
#   KT_ALL_RELEASES=1                            every scenario on all three releases (make test-all)
#   KT_CONTROLLERS="2.17 2.18"                   the older ansible-core releases the
#                                                "controllers" stage tests (2.19 is .venv)
set -uo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
stages="${KT_STAGES:-build unit ee sanity lint molecule controllers}"
log_dir="$here/tests/output/logs"
mkdir -p "$log_dir"

bash scripts/setup.sh test || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
venv="$here/.venv"
export PATH="$venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$here/.cache/collections"
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 NO_COLOR=1

passed=0; failed=0; failures=()
# The tests may change net.* inside their own namespaces only: kernel.*, fs.*, vm.* of this machine are compared
# after the last stage (scripts/host-globals.sh).
globals_before="$log_dir/host-globals.before"
bash scripts/host-globals.sh snapshot "$globals_before"
record() {  # record NAME RC
    if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "PASS $1"
    else failed=$((failed + 1)); failures+=("$1"); echo "FAIL $1 (log: ${3:-})"; fi
}
run_step() {  # run_step NAME CMD...
    local name="$1"; shift
    local log="$log_dir/${name//[^a-zA-Z0-9_.-]/_}.log"
    local start=$SECONDS
    "$@" >"$log" 2>&1
    local rc=$?
    echo "  ($((SECONDS - start)) s)"
    [ "$rc" -ne 0 ] && tail -40 "$log"
    record "$name" "$rc" "$log"
}

for stage in $stages; do
case "$stage" in
build)
    # Each check is an "if ... exit 1": under set -e a command inverted with ! never stops the script.
    run_step "collection-build-install" bash -c '
        set -e; d=$(mktemp -d); trap "rm -rf $d" EXIT
        ansible-galaxy collection build --output-path "$d" .
        ansible-galaxy collection install --force -p "$d/c" "$d"/kerneltune-tcp-0.1.0.tar.gz
        test -f "$d/c/ansible_collections/kerneltune/tcp/plugins/modules/tcp_sysctl.py"
        tar -tzvf "$d"/kerneltune-tcp-0.1.0.tar.gz > "$d/list"
        if grep -E " (tests|molecule|benchmarks|scripts|docs/images)/" "$d/list"; then echo "not for users"; exit 1; fi
        grep -qE " LICENSE$" "$d/list"
        # What users download stays code and docs: no file over 64 KiB (a screenshot, a fixture or a results file
        # that slipped past build_ignore would be), and the whole under 400 kB (273 kB at 2026-12-03).
        if awk "\$3 > 65536 {print \"too big: \" \$6; bad=1} END {exit !bad}" "$d/list"; then exit 1; fi
        size=$(stat -c %s "$d"/kerneltune-tcp-0.1.0.tar.gz); echo "tarball: $size bytes"; test "$size" -lt 400000'
    run_step "changelog-lint-release" bash scripts/changelog-check.sh
    run_step "collection-docs-lint" bash scripts/docs-check.sh
    ;;
unit)
    # Each unit test counts on its own.
    junit="$log_dir/unit.xml"
    python -m pytest -q -p no:cacheprovider tests/unit --junitxml="$junit" >"$log_dir/unit.log" 2>&1
    rc=$?
    tail -3 "$log_dir/unit.log"
    if [ -f "$junit" ]; then
        read -r t f e s < <(python - "$junit" <<'PY'
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
s = r if r.tag == "testsuite" else r.find("testsuite")
print(s.get("tests"), s.get("failures"), s.get("errors"), s.get("skipped"))
PY
)
        passed=$((passed + t - f - e - s)); failed=$((failed + f + e))
        [ $((f + e)) -gt 0 ] && { failures+=("unit"); grep -E "^(FAILED|ERROR)" "$log_dir/unit.log"; }
    fi
    if [ "$rc" -ne 0 ] && [ ! -f "$junit" ]; then record unit 1 "$log_dir/unit.log"; fi
    ;;
ee)
    # ansible-builder renders the execution environment context (no registry).
    run_step "execution-environment" python -m pytest -q -p no:cacheprovider tests/ee
    ;;
sanity)
    run_step "ansible-test-sanity" bash scripts/sanity.sh
    ;;
lint)
    run_step "ansible-lint-production" ansible-lint --profile production --strict --offline
    ;;
molecule)
    # Each scenario runs on the Debian releases its molecule.yml names in a
    # "# kt-releases: ..." line (default: bookworm only); KT_RELEASES narrows
    # the set for a quick run, e.g. KT_RELEASES=bookworm.
    . scripts/podman-env.sh
    wanted="${KT_RELEASES:-bullseye bookworm trixie}"
    bash scripts/build-image.sh $wanted || { record "test-images" 1; }
    kt_podman_configure || record "podman-runtime" 1
    for s in ${KT_SCENARIOS:-$(ls molecule)}; do
        [ -f "molecule/$s/molecule.yml" ] || continue
        rels="$(awk '/^# kt-releases:/ {sub(/^# kt-releases:[ ]*/, ""); print; exit}' "molecule/$s/molecule.yml")"
        rels="${rels:-bookworm}"
        # make test-all: every scenario on every release, whatever its line says.
        [ "${KT_ALL_RELEASES:-0}" = 1 ] && rels="bullseye bookworm trixie"
        for r in $rels; do
            case " $wanted " in *" $r "*) ;; *) continue ;; esac
            echo "molecule test -s $s ($r)"
            KT_IMAGE="$(bash scripts/build-image.sh --name "$r")" KT_RELEASE="$r" \
                run_step "molecule-$s@$r" molecule test -s "$s"
        done
    done
    ;;
controllers)
    # ansible-core 2.17 and 2.18 (Python 3.11), each in its own virtualenv from
    # requirements-<version>.txt with its own collection install: unit tests,
    # ansible-test sanity (tests/sanity/ignore-<version>.txt, empty) and one
    # profile scenario, on the oldest and the newest target release.
    . scripts/podman-env.sh
    kt_podman_configure || record "podman-runtime" 1
    for v in ${KT_CONTROLLERS:-2.17 2.18}; do
        cv="$here/.venv-$v"
        run_step "controller-$v-setup" env KT_VENV="$cv" KT_REQUIREMENTS="$here/requirements-$v.txt" \
            KT_COLLECTIONS="$here/.cache/collections-$v" bash scripts/setup.sh test
        [ -x "$cv/bin/ansible" ] || continue
        case "$v" in 2.17) rel=bullseye ;; *) rel=trixie ;; esac
        case " ${KT_RELEASES:-$rel} " in *" $rel "*) ;; *) rel=bookworm ;; esac
        bash scripts/build-image.sh "$rel" >/dev/null || record "test-images" 1
        saved_path="$PATH"
        export PATH="$cv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$here/.cache/collections-$v"
        # The controller's side only: tests/unit/plugins/module_utils runs code that executes on the target with
        # the target's Python and never imports ansible-core (the main unit stage runs it), except test_nat.py,
        # which builds an AnsibleModule.
        run_step "controller-$v-unit" python -m pytest -q -p no:cacheprovider tests/unit \
            --ignore=tests/unit/plugins/module_utils tests/unit/plugins/module_utils/test_nat.py
        run_step "controller-$v-sanity" bash scripts/sanity.sh
        KT_IMAGE="$(bash scripts/build-image.sh --name "$rel")" KT_RELEASE="$rel" \
            run_step "controller-$v-molecule-profile_web_frontend@$rel" \
                molecule -c .config/molecule/config.yml test -s profile_web_frontend
        export PATH="$saved_path" ANSIBLE_COLLECTIONS_PATH="$here/.cache/collections"
    done
    ;;
esac
done
run_step "host-globals-unchanged" bash scripts/host-globals.sh compare "$globals_before"

if [ "${#failures[@]}" -gt 0 ]; then echo "failed: ${failures[*]}"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
