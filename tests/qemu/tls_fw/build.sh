# shellcheck shell=bash
# Sourced by tests/qemu/tls_m4.sh and bench/device_fw_size.sh. Needs ROOT, Q
# and fail() from the caller.
#
# tls_fw_build CACHE_DIR DIR: mbedTLS for the M4 (below) in CACHE_DIR, then
# the whole X.509 device firmware (tests/qemu/tls_fw) -> DIR/fw.elf and its
# link map DIR/fw.map.
#
# mbedtls_m4_build: Debian's mbedTLS 2.28 (scripts/mbedtls-source, a cache
# outside the clone) built for the Cortex-M4 with tls_fw/mbedtls_config_m4.h
# and the firmware's -Os flags into one static archive.
#
# mbedtls_m4_build DIR -> DIR/libmbedtls_m4.a, sets MBEDTLS_M4_INC_SYS.
# The archive is kept in DIR and rebuilt only when the configuration, the
# flags or the source tree changed (a stamp of their hashes), so the test
# pays the ~1 min build once per build directory.
mbedtls_m4_build() {
  local dir=$1 src flags stamp f n=0 pids=() jobs=2
  mkdir -p "$dir"
  src=$("$ROOT/scripts/mbedtls-source" 2>"$dir/mbedtls-source.err") ||
    { cat "$dir/mbedtls-source.err"; fail "no mbedTLS source (scripts/mbedtls-source)"; }
  # the literal quotes around the header name are meant (word splitting only)
  # shellcheck disable=SC2089
  flags="-std=c99 -Os -mthumb -mcpu=cortex-m4 -ffunction-sections -fdata-sections
    -I$Q/tls_fw -I$src/include -DMBEDTLS_CONFIG_FILE=\"mbedtls_config_m4.h\""
  # for the firmware's own sources: mbedTLS' headers as system headers (the
  # core's -Wconversion is for our code)
  MBEDTLS_M4_INC_SYS="-isystem $src/include -DMBEDTLS_CONFIG_FILE=\"mbedtls_config_m4.h\""
  stamp=$( { echo "$flags"; cat "$Q/tls_fw/mbedtls_config_m4.h" "$src/.tma-verified"; arm-none-eabi-gcc --version | head -1; } |
    sha256sum | cut -d' ' -f1)
  mkdir -p "$dir"
  # qemu_tls_m4 and qemu_tls_m4_reconnect share DIR and may run at once
  # (ctest -j2): one builds, the other waits for it (the lock goes with the
  # shell that sourced this file)
  exec {_mbedtls_lock}>"$dir/.lock"
  flock "$_mbedtls_lock"
  if [ -f "$dir/libmbedtls_m4.a" ] && [ "$(cat "$dir/libmbedtls_m4.stamp" 2>/dev/null)" = "$stamp" ]; then
    flock -u "$_mbedtls_lock"
    return 0
  fi
  rm -rf "$dir/mbedtls_obj" "$dir/libmbedtls_m4.a"
  mkdir -p "$dir/mbedtls_obj"
  for f in "$src"/library/*.c; do
    # shellcheck disable=SC2086,SC2090
    arm-none-eabi-gcc $flags -c "$f" -o "$dir/mbedtls_obj/$(basename "$f" .c).o" 2>"$dir/mbedtls_obj/$(basename "$f" .c).err" &
    pids+=($!)
    n=$((n + 1))
    if [ ${#pids[@]} -ge $jobs ]; then wait "${pids[0]}" || { cat "$dir"/mbedtls_obj/*.err; fail "mbedTLS does not build for the M4"; }; pids=("${pids[@]:1}"); fi
  done
  for f in "${pids[@]}"; do wait "$f" || { cat "$dir"/mbedtls_obj/*.err; fail "mbedTLS does not build for the M4"; }; done
  arm-none-eabi-ar rcs "$dir/libmbedtls_m4.a" "$dir"/mbedtls_obj/*.o || fail "arm-none-eabi-ar failed"
  echo "$stamp" >"$dir/libmbedtls_m4.stamp"
  flock -u "$_mbedtls_lock"
  echo "ok: mbedTLS $(basename "$(dirname "$src")") built for the Cortex-M4 ($n files, $(arm-none-eabi-size -t "$dir/libmbedtls_m4.a" | awk 'END{print $1}') B text in the archive)"
}

tls_fw_build() {
  local cache=$1 dir=$2
  # shellcheck source=tests/qemu/fw_build.sh
  . "$Q/fw_build.sh"
  mbedtls_m4_build "$cache"
  mkdir -p "$dir"
  QEMU_FW_LIBS="$cache/libmbedtls_m4.a -Wl,-Map=$dir/fw.map" \
    qemu_fw_build "$dir" "-I$ROOT/src/trustm -I$ROOT/src/iothub -I$ROOT/src/mqtt -I$ROOT/src/tls -I$Q/hub_fw
      -I$Q/tls_fw $MBEDTLS_M4_INC_SYS" \
    "$ROOT"/src/trustm/*.c "$ROOT"/src/common/*.c "$ROOT"/src/mqtt/*.c "$ROOT"/src/iothub/*.c "$ROOT"/src/tls/*.c \
    "$ROOT/port/baremetal/trustm_port_baremetal.c" "$Q/board.c" "$Q/startup.c" "$Q/ram_nor.c" "$Q/soft_crypto.c" \
    "$Q/hub_fw/uart.c" "$Q/hub_fw/flash.c" "$Q/hub_fw/props.c" "$Q/hub_fw/app.c" "$Q"/tls_fw/*.c
}
