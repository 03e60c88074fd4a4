#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The whole test suite: unit tests, ansible-test sanity, ansible-lint
# (production profile) and every molecule scenario. Installs what it needs.
# Last line: "N passed, N failed".
#   scripts/test.sh                 everything
#   KT_SCENARIOS="default nat" scripts/test.sh   only these molecule scenarios
#   KT_STAGES="unit sanity lint molecule"        only these stages
#   KT_RELEASES="bookworm"                       only these Debian releases
set -uo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
stages="${KT_STAGES:-build unit sanity lint molecule}"
log_dir="$here/tests/output/logs"
mkdir -p "$log_dir"

bash scripts/setup.sh test || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
venv="$here/.venv"
export PATH="$venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$here/.cache/collections"
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 NO_COLOR=1

passed=0; failed=0; failures=()
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
    run_step "collection-build-install" bash -c '
        set -e; d=$(mktemp -d); trap "rm -rf $d" EXIT
        ansible-galaxy collection build --output-path "$d" . 
        ansible-galaxy collection install --force -p "$d/c" "$d"/kerneltune-tcp-0.1.0.tar.gz
        test -f "$d/c/ansible_collections/kerneltune/tcp/plugins/modules/tcp_sysctl.py"
        ! tar -tzf "$d"/kerneltune-tcp-0.1.0.tar.gz | grep -E "^(tests|molecule|benchmarks|scripts)/"
        tar -tzf "$d"/kerneltune-tcp-0.1.0.tar.gz | grep -qx LICENSE'
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
        for r in $rels; do
            case " $wanted " in *" $r "*) ;; *) continue ;; esac
            echo "molecule test -s $s ($r)"
            KT_IMAGE="localhost/kerneltune-debian:$r" KT_RELEASE="$r" \
                run_step "molecule-$s@$r" molecule test -s "$s"
        done
    done
    ;;
esac
done

if [ "${#failures[@]}" -gt 0 ]; then echo "failed: ${failures[*]}"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
