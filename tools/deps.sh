#!/usr/bin/env bash
# tools/deps.sh build|test|bench : installs the Debian packages that step
# needs, and only when one is missing (so a ready machine is not touched).
# Runs apt-get update before installing, non-interactively, as CI does.
set -euo pipefail

build_pkgs=(gcc make pkg-config libjansson-dev libpcre2-dev libyaml-dev zlib1g-dev libssl-dev libnghttp2-dev libcurl4-openssl-dev python3)
test_pkgs=(clang libclang-rt-14-dev libtsan2 curl python3 python3-pytest python3-websockets python3-h2 python3-grpcio python3-yaml nghttp2-client)
bench_pkgs=(wrk nghttp2-client nginx-light haproxy strace)

case "${1:-}" in
  build) pkgs=("${build_pkgs[@]}") ;;
  test) pkgs=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
  bench) pkgs=("${build_pkgs[@]}" "${bench_pkgs[@]}") ;;
  *) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac

# kubectl comes with the machine (no Debian package of it): the cluster tests drive it
if [ "${1:-}" = test ] && ! command -v kubectl >/dev/null; then
  echo "warning: kubectl is not installed: the tests that drive it (tests/integration/test_cluster.py, test_deploy.py) will fail" >&2
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
