# The optimised build scripts/bench uses (Release, no sanitizers) must build
# with warnings as errors too; the test suite itself runs the sanitizer build.
# Prefix: build_.
tma_add_script_test(NAME build_release SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/build_release.sh
  LABELS integration TIMEOUT 600)
