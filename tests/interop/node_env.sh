# Shared set-up of the Node SDK interop scripts (sourced; HERE and ROOT set).
#
# interop_localhub: L = the localhub binary of $TMA_BUILD_DIR (default
#   build/interop), built first when missing; exits 77 (skipped) when node is
#   not installed.
# interop_node_path TMPDIR: NODE_PATH = a developer's tests/interop/node_modules
#   (npm install, git-ignored), else the vendored closure
#   (vendor/node_modules.tar.gz, made from package-lock.json) unpacked offline
#   into TMPDIR, else an npm install from the registry.
interop_localhub() {
  local b=${TMA_BUILD_DIR:-$ROOT/build/interop}
  if [ ! -x "$b/hub/localhub" ]; then
    cmake -S "$ROOT" -B "$b" -DTMA_TESTS=OFF >/dev/null
    cmake --build "$b" -j2 --target localhub localhub_plugin localhub_tlsshim >/dev/null
  fi
  L=$b/hub/localhub
  command -v node >/dev/null || { echo "SKIP: node is not installed"; exit 77; }
  # Debian's /etc/hosts names ::1 localhost too, and Debian 12's Node 18
  # connects to the first address alone; Node 20 tries both. localhub also
  # listens on ::1 where the machine has an IPv6 loopback, but a machine can
  # list ::1 in /etc/hosts without one: ask Node for the IPv4 address first,
  # so the tests do not depend on that.
  export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--dns-result-order=ipv4first"
}

interop_node_path() {
  if [ -d "$HERE/node_modules/azure-iot-device-mqtt" ]; then
    export NODE_PATH=$HERE/node_modules
  elif [ -f "$HERE/vendor/node_modules.tar.gz" ]; then
    tar xzf "$HERE/vendor/node_modules.tar.gz" -C "$1"
    export NODE_PATH=$1/node_modules
  else
    (cd "$HERE" && npm install --no-audit --no-fund >/dev/null)
    export NODE_PATH=$HERE/node_modules
  fi
}
