#!/usr/bin/env bash
# The local base image for `make images` on a machine without a container registry: Debian bookworm
# (debootstrap minbase from the machine's own apt mirror) + python3 + python3-venv, slimmed like the
# upstream *-slim images (no docs, man pages or locales), plus this machine's own apt sources and CA bundle
# (pip and apt inside image builds then reach the registries exactly as the host does). The Dockerfiles build
# FROM it via `--build-arg BASE=<name>`; with a registry they build FROM the pinned upstream python image.
#
# Two caches under the repo's ignored build/images/ folder, so repeated builds are fast:
#   rootfs-bookworm-<key>.tar   the debootstrap result (about 80-230 s and the network), keyed on its recipe
#   base-bookworm-<key>.tar     `podman save` of the finished image (rootfs + machine config), loaded in seconds
# Usage: scripts/images-base.sh [ENGINE]     prints the image name. Env: IMAGES_BASE_NAME (repository), IMAGES_CACHE.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ENGINE="${1:-podman}"
NAME_REPO="${IMAGES_BASE_NAME:-localhost/agnews-base}"
CACHE="${IMAGES_CACHE:-$ROOT/build/images}"
# what goes into the rootfs; change it (or the slimming below) and bump the version to bootstrap again
SPEC="v1 bookworm minbase python3,python3-venv,ca-certificates"
MACHINE_FILES=(/etc/ssl/certs/ca-certificates.crt /etc/apt/sources.list.d/*.sources /etc/apt/apt.conf.d/*)
ROOTFS_TAR="$CACHE/rootfs-bookworm-$(echo "$SPEC" | sha256sum | cut -c1-12).tar"
config_key="$( (echo "$SPEC"; cat "${MACHINE_FILES[@]}" 2>/dev/null) | sha256sum | cut -c1-12)"
TAR="$CACHE/base-bookworm-$config_key.tar"
# the tag names the machine config too: a new CA bundle or mirror makes a new base, and the images rebuild
NAME="$NAME_REPO:bookworm-$config_key"

say() { printf '[images-base] %s\n' "$*" >&2; }

if "$ENGINE" image exists "$NAME" 2>/dev/null || "$ENGINE" image inspect "$NAME" >/dev/null 2>&1; then
  echo "$NAME"; exit 0
fi
mkdir -p "$CACHE"
exec 9>"$CACHE/.base.lock"
flock 9   # a second caller waits for the first bootstrap instead of starting another
if [ -s "$TAR" ]; then
  say "loading $NAME from $TAR"
  "$ENGINE" load -q -i "$TAR" >&2
  echo "$NAME"; exit 0
fi

W="$(mktemp -d /tmp/agnews-base.XXXXXX)"
trap 'rm -rf "$W"' EXIT
R="$W/rootfs"
mkdir -p "$R"

if [ -s "$ROOTFS_TAR" ]; then
  say "rootfs from $ROOTFS_TAR"
  tar -C "$R" -xf "$ROOTFS_TAR"
else
  mirror="$(bash "$ROOT/scripts/apt-mirror.sh")"   # the machine's own mirror
  command -v debootstrap >/dev/null || { say "debootstrap missing: run scripts/images-tools.sh"; exit 1; }
  say "debootstrap bookworm from $mirror (80-230 s)"
  # Debian's archive keyring verifies the bootstrap; Ubuntu machines need the debian-archive-keyring package
  keyring=(); [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] && keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
  nice -n 10 debootstrap --variant=minbase "${keyring[@]}" --include=python3,python3-venv,ca-certificates \
    bookworm "$R" "$mirror" >"$W/debootstrap.log" 2>&1 || { tail -n 30 "$W/debootstrap.log" >&2; exit 1; }
  # slim like the upstream images: later apt installs skip docs, man pages and locales too
  cat > "$R/etc/dpkg/dpkg.cfg.d/agnews-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
  find "$R/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete 2>/dev/null || true
  rm -rf "$R/usr/share/man/"* "$R/usr/share/info/"* "$R/var/cache/apt/"*.bin "$R/var/cache/apt/archives/"*.deb \
    "$R/var/lib/apt/lists/"* "$R/var/cache/debconf/"*-old "$R/var/log/"*.log
  find "$R/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
  find "$R/usr/lib/python3"* -name __pycache__ -type d -prune -exec rm -rf {} + 2>/dev/null || true
  tar -C "$R" -cf "$ROOTFS_TAR.tmp" . && mv "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
fi

# this machine's configuration: apt inside image builds uses the same mirror (and apt.conf.d tweaks), and
# TLS trusts the same CAs as the host (a proxy's CA included); pip reads the bundle through PIP_CERT
rm -f "$R/etc/apt/sources.list" "$R/etc/apt/sources.list.d/"*
if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
  cp /etc/apt/sources.list.d/*.sources "$R/etc/apt/sources.list.d/"
else
  cp /etc/apt/sources.list "$R/etc/apt/sources.list"
fi
cp /etc/apt/apt.conf.d/* "$R/etc/apt/apt.conf.d/" 2>/dev/null || true
[ -s /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$R/etc/ssl/certs/ca-certificates.crt"

say "importing $NAME"
tar -C "$R" -c . | "$ENGINE" import --change 'CMD ["/bin/bash"]' \
  --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
  --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
  - "$NAME" >&2
"$ENGINE" save -q -o "$TAR.tmp" "$NAME" >&2 && mv "$TAR.tmp" "$TAR"
find "$CACHE" -maxdepth 1 -name 'base-bookworm-*.tar' ! -path "$TAR" -delete   # older machine configs
echo "$NAME"
