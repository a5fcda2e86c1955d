#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine (as root, or a user with sudo):
#   bash scripts/run.sh demo    install deps, build the CLI (Release), run the main job
#   bash scripts/run.sh test    install deps, build everything, run the whole test suite
#   bash scripts/run.sh build   install deps and build only
#   bash scripts/run.sh deps    install deps only
#   bash scripts/run.sh format  apply .clang-format to every C++ file (`test` checks it first)
# Re-running is fast: packages already present are not reinstalled and the build is incremental.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD_DIR=${CARDIOTORCH_BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}

# Debian packages the build and the tests need (no Python: test fixtures are committed).
APT_PACKAGES=(
  g++ cmake ninja-build ccache lld pkg-config
  libtorch-dev libopenblas0-openmp
  libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libmatio-dev libflac-dev libedf-dev zlib1g-dev libcairo2-dev
  libgloo-dev
  clang libclang-rt-14-dev clang-format
)

install_deps() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "[deps] all ${#APT_PACKAGES[@]} packages present"
    return
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "[deps] installing: ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# build [target...]: everything by default; `demo` names only the CLI, so a first run on a
# fresh machine compiles the library and the CLI, not the tests and benchmarks.
build() {
  local t0=$SECONDS
  if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-}
  fi
  local targets=()
  for t in "$@"; do targets+=(--target "$t"); done
  cmake --build "$BUILD_DIR" -j "$JOBS" "${targets[@]}"
  echo "[build] ${*:-all targets} done in $((SECONDS - t0)) s"
}

# The C++ sources follow .clang-format (clang-format 14, Debian 12's). `test` refuses unformatted
# files before building, so a style slip fails in seconds rather than after the build.
cxx_files() { git ls-files -- '*.h' '*.cpp'; }
check_format() {
  if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo "[format] not a git checkout: skipped"
    return
  fi
  local bad
  bad=$(cxx_files | xargs clang-format --dry-run 2>&1 | grep -oE '^[^:]+\.(h|cpp):' | sort -u | tr -d ':' || true)
  if [ -n "$bad" ]; then
    echo "[format] these files differ from .clang-format (fix: bash scripts/run.sh format):" >&2
    echo "$bad" | sed 's/^/  /' >&2
    exit 1
  fi
  echo "[format] $(cxx_files | wc -l) files follow .clang-format"
}

run_tests() {
  # ctest runs each GoogleTest case as its own test; summary line at the end.
  (cd "$BUILD_DIR" && ctest --output-on-failure -j "$JOBS" --timeout 900)
}

run_demo() {
  "$BUILD_DIR/cardiotorch" run configs/demo.yaml "$@"
}

cmd=${1:-}
shift || true
case "$cmd" in
  deps) install_deps ;;
  build) install_deps; build ;;
  test) install_deps; check_format; build; run_tests ;;
  format) cxx_files | xargs clang-format -i; echo "[format] done" ;;
  demo) install_deps; build cardiotorch_cli; run_demo "$@" ;;
  *) echo "usage: bash scripts/run.sh {demo|test|build|deps|format}" >&2; exit 2 ;;
esac
