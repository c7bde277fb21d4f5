#!/usr/bin/env bash
# Installs what building, testing and the demo need, on Debian/Ubuntu:
#   Go >= 1.26.4 (from the Go module proxy when the system has none or an old one),
#   ffmpeg/ffprobe (software camera, tests), opencv-doc (the test footage),
#   opencv-data (the Haar face cascade the redaction's tests check with),
#   espeak-ng and sox (the software doorbell's spoken sample),
#   Node.js/npm (the web app's build), Chromium (its browser tests),
#   PostgreSQL (the PostgreSQL store's tests) and qemu-user-static (the
#   arm64 build's tests).
# As root it installs missing Debian packages with apt-get; otherwise it prints
# the exact command to run and fails.
set -euo pipefail

need_pkgs=()
command -v ffmpeg >/dev/null 2>&1 || need_pkgs+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || need_pkgs+=(ffmpeg)
[ -f /usr/share/doc/opencv-doc/examples/data/vtest.avi ] || need_pkgs+=(opencv-doc)
# OpenCV's Haar face cascade: the face detector, independent of pigo, that
# checks the redaction (internal/redact, -tags opencv).
[ -f /usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml ] || need_pkgs+=(opencv-data)
# The software doorbell's spoken sample: espeak-ng says it (the softcam tests
# serve one; vigil camera --doorbell --audio-file plays it), sox trims or
# converts samples by hand.
command -v espeak-ng >/dev/null 2>&1 || need_pkgs+=(espeak-ng)
command -v sox >/dev/null 2>&1 || need_pkgs+=(sox)
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl)
command -v unzip >/dev/null 2>&1 || need_pkgs+=(unzip)
command -v gcc >/dev/null 2>&1 || need_pkgs+=(gcc)
# The web app is built with Node.js and npm; its browser tests drive Chromium.
command -v node >/dev/null 2>&1 || need_pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || need_pkgs+=(npm)
[ -x /usr/bin/chromium ] || need_pkgs+=(chromium)
# (grep reads all of fc-list: with -q it would stop early, and pipefail
# would take fc-list's broken pipe for a missing font.)
fc-list 2>/dev/null | grep -i dejavu >/dev/null || need_pkgs+=(fonts-dejavu-core)
# The MQTT notifier's tests run a private Mosquitto broker.
[ -x /usr/sbin/mosquitto ] || need_pkgs+=(mosquitto)
# The PostgreSQL store's tests use the local server, or start a private one
# with Debian's PostgreSQL programs (internal/pgtest).
command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_pkgs+=(postgresql)
# The OpenCV detectors (internal/detect/cvdet, -tags opencv) build against
# Debian's OpenCV 4.6.
command -v pkg-config >/dev/null 2>&1 || need_pkgs+=(pkg-config)
command -v g++ >/dev/null 2>&1 || need_pkgs+=(g++)
pkg-config --exists opencv4 2>/dev/null || need_pkgs+=(libopencv-dev)
# The arm64 build's tests (make test-arm64) run under qemu-user.
[ -x /usr/bin/qemu-aarch64-static ] || need_pkgs+=(qemu-user-static)

if [ ${#need_pkgs[@]} -gt 0 ]; then
  # de-duplicate
  mapfile -t need_pkgs < <(printf '%s\n' "${need_pkgs[@]}" | sort -u)
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "deps: installing ${need_pkgs[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  else
    echo "deps: missing packages: ${need_pkgs[*]}" >&2
    echo "deps: run: sudo apt-get install -y ${need_pkgs[*]}" >&2
    exit 1
  fi
fi

# Go: use the one on PATH (or /usr/local/go) if it is new enough; otherwise
# fetch the official toolchain through the Go module proxy into .cache/go.
want_minor=26
want_patch=4   # go.mod's go line (nfpm, which builds the .deb, asks for 1.26.4)
go_ok() {
  local v
  v=$("$1" env GOVERSION 2>/dev/null || true)   # e.g. go1.26.8
  [[ $v =~ ^go1\.([0-9]+)(\.([0-9]+))? ]] || return 1
  [ "${BASH_REMATCH[1]}" -gt $want_minor ] ||
    { [ "${BASH_REMATCH[1]}" -eq $want_minor ] && [ "${BASH_REMATCH[3]:-0}" -ge $want_patch ]; }
}
for g in go /usr/local/go/bin/go "$PWD/.cache/go/bin/go"; do
  if command -v "$g" >/dev/null 2>&1 && go_ok "$g"; then
    echo "$(command -v "$g")"
    exit 0
  fi
done
ver=go1.26.8
arch=$(uname -m); case $arch in x86_64) arch=amd64;; aarch64) arch=arm64;; esac
url="https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-$ver.linux-$arch.zip"
echo "deps: fetching $ver from the Go module proxy" >&2
mkdir -p .cache
tmp=$(mktemp -d)
curl -fsSL -o "$tmp/go.zip" "$url"
unzip -q "$tmp/go.zip" -d "$tmp"
rm -rf .cache/go
mv "$tmp/golang.org/toolchain@v0.0.1-$ver.linux-$arch" .cache/go
chmod +x .cache/go/bin/* .cache/go/pkg/tool/*/* 2>/dev/null || true
rm -rf "$tmp"
echo "$PWD/.cache/go/bin/go"
