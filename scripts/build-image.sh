#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Build the test base images from Debian packages (no registry is needed) and
# import them into podman. Reuses an image when it exists already.
#   scripts/build-image.sh                   the releases in KT_RELEASES (default: bullseye bookworm trixie)
#   scripts/build-image.sh bookworm trixie   only these
# Images: localhost/kerneltune-debian:<release>. The mirror is read from this
# machine's apt sources; there is no built-in fallback address.
set -euo pipefail
releases=("$@")
[ "${#releases[@]}" -gt 0 ] || read -r -a releases <<<"${KT_RELEASES:-bullseye bookworm trixie}"
# What every test image carries: the modules' runtime (python3), both sysctl
# appliers (systemd, procps), NAT tooling, sshd and sudo for the SSH transport.
packages=python3,iproute2,procps,iptables,nftables,systemd,conntrack,kmod,openssh-server,sudo,libcap2-bin

apt_mirror() {
    local f m=""
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -e "$f" ] || continue
        m="$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$f")"
        [ -n "$m" ] && { echo "$m"; return 0; }
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -e "$f" ] || continue
        m="$(awk '$1=="deb" && $2 !~ /^\[/ && $2 !~ /security/ {print $2; exit}
                  $1=="deb" && $2 ~ /^\[/ && $3 !~ /security/ {print $3; exit}' "$f")"
        [ -n "$m" ] && { echo "$m"; return 0; }
    done
    return 1
}

build_one() {
    local release="$1" image="localhost/kerneltune-debian:$1" mirror root
    if podman image exists "$image"; then
        echo "image $image exists: reusing it" >&2
        return 0
    fi
    if ! mirror="$(apt_mirror)"; then
        echo "build-image: no Debian mirror found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list;" \
             "add a 'URIs:' line (deb822) or a 'deb' line naming your mirror to one of those files" >&2
        return 1
    fi
    root="$(mktemp -d /var/tmp/kt-rootfs-"$release".XXXXXX)"
    echo "debootstrap $release from $mirror into $root" >&2
    if ! debootstrap --variant=minbase --include="$packages" "$release" "$root" "$mirror" >"$root.log" 2>&1; then
        tail -20 "$root.log" >&2; rm -rf "$root" "$root.log"; return 1
    fi
    rm -f "$root.log"
    # Keep the image small and neutral: no apt lists, no machine-id, no host keys
    # (the SSH scenario generates its own).
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/etc/ssh/ssh_host_*
    : >"$root/etc/machine-id"
    tar -C "$root" -c . | podman import --change 'CMD ["/bin/sleep", "infinity"]' - "$image" >/dev/null
    rm -rf "$root"
    echo "built $image" >&2
}

rc=0
for r in "${releases[@]}"; do
    build_one "$r" || { echo "build-image: $r failed" >&2; rc=1; }
done
exit "$rc"
