#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Build the test base images from Debian packages (no registry is needed) and
# import them into podman. Reuses an image when one with the same recipe exists.
#   scripts/build-image.sh                   the releases in KT_RELEASES (default: bullseye bookworm trixie)
#   scripts/build-image.sh bookworm trixie   only these
#   scripts/build-image.sh --name bookworm   print the image name only (no build)
# Images: localhost/kerneltune-debian:<release>-<recipe> where <recipe> is a
# short hash of the package list and of the steps below (label
# kerneltune.recipe): a changed list builds a new image and leaves the old one
# alone. The newest build is also tagged localhost/kerneltune-debian:<release>
# (the scenarios' fallback) unless KT_IMAGE_ALIAS=0. The mirror is read from
# this machine's apt sources; there is no built-in fallback address.
set -euo pipefail
# What every test image carries: the modules' runtime (python3), both sysctl
# appliers (systemd, procps), NAT tooling, sshd and sudo for the SSH transport,
# and two other things that set sysctls at boot: ufw and tuned, installed but
# inactive (ufw ships ENABLED=no; tuned's unit is disabled and has no active
# profile) so that only the scenarios that switch them on see them. debootstrap
# does not pick a virtual package: libpam-systemd and dbus give polkitd (tuned's
# dependency) its logind and system bus.
packages=python3,iproute2,procps,iptables,nftables,systemd,conntrack,kmod,openssh-server,sudo,libcap2-bin,ufw,tuned,libpam-systemd,dbus
# Bump when the steps after debootstrap change.
recipe_steps=2
recipe="$(printf '%s\n%s\n' "$packages" "$recipe_steps" | sha256sum | cut -c1-10)"
image_name() { echo "localhost/kerneltune-debian:$1-$recipe"; }
if [ "${1:-}" = "--name" ]; then
    image_name "$2"
    exit 0
fi
releases=("$@")
[ "${#releases[@]}" -gt 0 ] || read -r -a releases <<<"${KT_RELEASES:-bullseye bookworm trixie}"

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
    local release="$1" image mirror root alias="localhost/kerneltune-debian:$1"
    image="$(image_name "$release")"
    if podman image exists "$image" &&
       [ "$(podman image inspect -f '{{ index .Labels "kerneltune.recipe" }}' "$image")" = "$recipe" ]; then
        echo "image $image exists: reusing it" >&2
        [ "${KT_IMAGE_ALIAS:-1}" = 0 ] || podman tag "$image" "$alias"
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
    # ufw and tuned inactive: ufw.conf ships ENABLED=no (checked here); tuned's
    # postinst enables its unit, so disable it and leave no active profile.
    grep -qx 'ENABLED=no' "$root/etc/ufw/ufw.conf" || { echo "build-image: $release: ufw.conf is not ENABLED=no" >&2; return 1; }
    find "$root/etc/systemd/system" -name tuned.service -type l -delete
    : >"$root/etc/tuned/active_profile"
    tar -C "$root" -c . | podman import --change 'CMD ["/bin/sleep", "infinity"]' \
        --change "LABEL kerneltune.recipe=$recipe" - "$image" >/dev/null
    rm -rf "$root"
    [ "${KT_IMAGE_ALIAS:-1}" = 0 ] || podman tag "$image" "$alias"
    echo "built $image" >&2
}

rc=0
for r in "${releases[@]}"; do
    build_one "$r" || { echo "build-image: $r failed" >&2; rc=1; }
done
exit "$rc"
