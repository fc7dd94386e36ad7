#!/usr/bin/env bash
# The optimised build (Release, no sanitizers) that `scripts/bench` and a
# packager use also builds with -Werror. GCC's -O2 analyses (format
# truncation, array bounds, uninitialised paths) see warnings the -O0
# sanitizer build of the test suite does not, so a tree can pass every test
# and still not build for the benchmarks: this builds it (library, tools,
# samples, localhub, benchmarks; no tests) into a temporary folder.
set -euo pipefail
ROOT=${TMA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
if ! cmake -S "$ROOT" -B "$W" -DTMA_SANITIZE=OFF -DTMA_TESTS=OFF -DCMAKE_BUILD_TYPE=Release >"$W/configure.log" 2>&1; then
  tail -20 "$W/configure.log"; echo "FAIL: the Release build does not configure"; exit 1
fi
if ! cmake --build "$W" -j2 >"$W/build.log" 2>&1; then
  grep -E "error|warning" "$W/build.log" | head -20
  echo "FAIL: the Release build (-O2, warnings as errors) does not build"; exit 1
fi
echo "ok: Release build (no sanitizers) builds with warnings as errors: $(find "$W" -maxdepth 3 -type f -perm -u+x -newer "$W/configure.log" | grep -vc '\.so$' || true) executables"
