#!/usr/bin/env bash
# Build a real kube-apiserver (v1.20.2, Debian's kubernetes source package) once and cache it
# outside the repo, so tests/deploy can exercise agnews-deploy against a real API server.
# Usage: scripts/deploy-build-apiserver.sh   (prints the binary path; a cached binary returns at once)
# Env: AGNEWS_K8S_CACHE (default /var/cache/agnews-k8s)
set -euo pipefail

CACHE="${AGNEWS_K8S_CACHE:-/var/cache/agnews-k8s}"
BIN="$CACHE/kube-apiserver"
PKG_VERSION="1.20.5+really1.20.2-1.1+deb12u1"
ORIG="kubernetes_1.20.5+really1.20.2"

need_apt=()
command -v go >/dev/null || need_apt+=(golang-go)
command -v etcd >/dev/null || need_apt+=(etcd-server)
command -v rsync >/dev/null || need_apt+=(rsync)
command -v jq >/dev/null || need_apt+=(jq)
command -v openssl >/dev/null || need_apt+=(openssl)
[ -d /usr/share/gocode/src/github.com/modern-go/reflect2 ] || need_apt+=(golang-github-modern-go-reflect2-dev)

if [ -x "$BIN" ] && [ ${#need_apt[@]} -eq 0 ]; then
  echo "$BIN"
  exit 0
fi

if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  # apt may be busy with a teammate's install: wait for the lock rather than fail
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${need_apt[@]}" >&2
fi

if [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.build.lock"
flock 9   # a second caller waits for the first build instead of starting another
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi

W="$(mktemp -d /tmp/agnews-k8s-build.XXXXXX)"
mkdir -p "$W/apt/lists/partial" "$W/apt/cache/archives/partial" "$W/home"
# the source package comes from this machine's own mirror (scripts/apt-mirror.sh), never a hard-coded host
MIRROR="$(bash "$(dirname "$0")/apt-mirror.sh")"
echo "deb-src $MIRROR bookworm main" > "$W/apt/sources.list"
A=(-o "Dir::Etc::SourceList=$W/apt/sources.list" -o Dir::Etc::SourceParts=/nonexistent
   -o "Dir::State::Lists=$W/apt/lists" -o "Dir::Cache=$W/apt/cache")
apt-get "${A[@]}" update -qq >&2
cd "$W"
apt-get "${A[@]}" source --download-only "kubernetes=$PKG_VERSION" >&2
tar xzf "$ORIG.orig.tar.gz"
mkdir debian-pkg && tar xJf "kubernetes_${PKG_VERSION}.debian.tar.xz" -C debian-pkg
cd kubernetes-1.20.2
while read -r p; do
  [ -n "$p" ] && [ "${p#\#}" = "$p" ] && patch -s -p1 < "../debian-pkg/debian/patches/$p"
done < ../debian-pkg/debian/patches/series
# the vendored reflect2 1.0.1 breaks on Go >= 1.18: use Debian's 1.0.2
rm -rf vendor/github.com/modern-go/reflect2 && mkdir vendor/github.com/modern-go/reflect2
cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.go \
   /usr/share/gocode/src/github.com/modern-go/reflect2/*.s vendor/github.com/modern-go/reflect2/
rm -f vendor/github.com/modern-go/reflect2/*_test.go
mkdir -p .go/src/k8s.io && ln -sfn ../../.. .go/src/k8s.io/kubernetes
export GOPATH="$PWD/.go" CGO_ENABLED=0 HOME="$W/home" KUBE_GIT_VERSION=v1.20.2 \
  KUBE_GIT_TREE_STATE=clean KUBE_GIT_COMMIT=debian-source
# two cores are shared with teammates: build gently
GOFLAGS="-p=2" nice -n 10 make WHAT="cmd/kube-apiserver" >&2
install -m 0755 _output/local/bin/linux/amd64/kube-apiserver "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
cd / && rm -rf "$W"
echo "$BIN"
