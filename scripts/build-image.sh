#!/usr/bin/env bash
# Build the test base image from Debian packages (no registry is needed) and
# import it into podman. Reuses the image when it exists already.
set -euo pipefail
KT_IMAGE="${KT_IMAGE:-localhost/kerneltune-debian:bookworm}"
if podman image exists "$KT_IMAGE"; then
    echo "image $KT_IMAGE exists: reusing it" >&2
    exit 0
fi
mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    mirror="$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$f")"
    [ -n "$mirror" ] && break
done
if [ -z "$mirror" ] && [ -e /etc/apt/sources.list ]; then
    mirror="$(awk '$1=="deb" && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list)"
fi
mirror="${mirror:-http://deb.debian.org/debian}"
root="$(mktemp -d /var/tmp/kt-rootfs.XXXXXX)"
trap 'rm -rf "$root"' EXIT
echo "debootstrap bookworm from $mirror into $root" >&2
debootstrap --variant=minbase \
    --include=python3,iproute2,procps,iptables,nftables,systemd,conntrack,kmod \
    bookworm "$root" "$mirror" >"$root.log" 2>&1 || { tail -20 "$root.log" >&2; exit 1; }
rm -f "$root.log"
# Keep the image small and neutral: no apt lists, no machine-id.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
: >"$root/etc/machine-id"
tar -C "$root" -c . | podman import --change 'CMD ["/bin/sleep", "infinity"]' - "$KT_IMAGE" >/dev/null
echo "built $KT_IMAGE" >&2
