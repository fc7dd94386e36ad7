#!/usr/bin/env bash
# Cortex-M4 -Os code size of the MQTT client plus the IoT Hub client, linked
# with --gc-sections into a dummy application that references the features of
# each row (so only what a device would link is counted). newlib-nano; the
# first row is the empty application (C runtime start-up); the "net" column is
# the row minus that start-up, i.e. our code plus the libc/libgcc routines it
# pulls in (memcpy, strlen, ...), which are counted. The "own" column is only
# the code and constants from our objects (no C library), for comparison with
# figures that leave the C library out; "net" is the headline number.
# What the dummy application references is what the samples in examples/ call
# on a device: outbox set-up, the connection loop, disconnect, state, and for
# twin the desired-$version reader, for DPS the result and close. Host-only
# conveniences are NOT referenced and so not counted: connection-string parsing
# (iothub_connection_string_parse), reason texts (iothub_reason_text,
# iothub_connack_reason, tma_status_str), the storage behind struct
# iothub_storage (a Linux device uses the file log; an MCU the flash log,
# src/iothub/storage_flash.c, measured by bench/storage_flash_size.sh).
# Usage: bench/iothub_size.sh   (needs gcc-arm-none-eabi, libnewlib-arm-none-eabi)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
CC="arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -Os -std=c99 -ffunction-sections -fdata-sections -I$SRC/include"
cat > "$W/app.c" <<'C'
#include "iothub/client.h"
#include "iothub/dps_client.h"
#include "iothub/outbox.h"
struct iothub_client c; struct iothub_client_config cfg; struct dps_client d; struct dps_client_config dcfg;
struct iothub_outbox ob; struct iothub_storage st; volatile int sink;
int main(void) {
#ifdef WITH_HUB
#ifdef WITH_DPS
  dps_client_init(&d, &dcfg);
  while (dps_client_step(&d) == 0) {}
  sink = dps_client_result(&d) != 0;
  dps_client_close(&d);
#endif
  iothub_outbox_init(&ob, &st, 0, 0);
  iothub_client_init(&c, &cfg);
  for (;;) {
    struct tma_span s = {0, 0};
    iothub_client_step(&c); iothub_client_send_telemetry(&c, 0, 0, 0, 0, 0);
    sink = (int)iothub_client_next_attempt_in_ms(&c) + (int)iothub_client_state(&c) +
           (int)iothub_outbox_count(&ob) + iothub_client_last_reason(&c);
#ifdef WITH_TWIN
    { int64_t v; sink = iothub_twin_desired_version(s, sink != 0, &v); }
    iothub_client_twin_get(&c, 0); iothub_client_twin_patch(&c, s, 0); iothub_client_method_respond(&c, s, 200, s);
#endif
    if (sink == 42) { iothub_client_disconnect(&c); break; }
  }
#endif
  return 0;
}
void _exit(int x); void _exit(int x) { (void)x; for (;;) {} }
C
# Compile our sources with the configuration switches of one row.
build_objs() {
  rm -f "$W"/*.o
  for f in "$SRC"/src/iothub/{wbuf,json,iothub,twin,dps,retry,outbox,client,dps_client}.c; do
    $CC "$@" -I"$SRC/src/iothub" -c "$f" -o "$W/ih_$(basename "$f" .c).o"
  done
  for f in "$SRC"/src/mqtt/{packet,client}.c "$SRC"/src/common/status.c; do
    $CC -c "$f" -o "$W/x_$(basename "$f" .c).o"
  done
}
printf '%-5s %-50s %8s %8s %8s\n' "SAS" "features" "text" "net" "own"
for sas in 0 1; do
  # Rows: app features | library switches | label. The "TWIN_METHODS=0" row is
  # a telemetry + C2D device built with twin and methods compiled out.
  for row in "|-DIOTHUB_CFG_TWIN_METHODS=1|(empty application)" \
             "-DWITH_HUB|-DIOTHUB_CFG_TWIN_METHODS=0|hub: telemetry+C2D (IOTHUB_CFG_TWIN_METHODS=0)" \
             "-DWITH_HUB|-DIOTHUB_CFG_TWIN_METHODS=1|hub: telemetry+C2D (twin/methods compiled in)" \
             "-DWITH_HUB -DWITH_TWIN|-DIOTHUB_CFG_TWIN_METHODS=1|hub: telemetry+C2D+twin+methods" \
             "-DWITH_HUB -DWITH_TWIN -DWITH_DPS|-DIOTHUB_CFG_TWIN_METHODS=1|hub: telemetry+C2D+twin+methods+DPS" \
             "-DWITH_HUB -DWITH_DPS|-DIOTHUB_CFG_TWIN_METHODS=0|DPS + hub: telemetry+C2D (TWIN_METHODS=0)"; do
    IFS='|' read -r feat cfgs name <<<"$row"
    build_objs -DIOTHUB_CFG_SAS=$sas $cfgs
    # shellcheck disable=SC2086
    $CC -DIOTHUB_CFG_SAS=$sas $cfgs $feat "$W/app.c" "$W"/ih_*.o "$W"/x_*.o -Wl,--gc-sections \
      -Wl,-Map="$W/app.map" -specs=nano.specs -specs=nosys.specs -o "$W/app.elf"
    text=$(arm-none-eabi-size "$W/app.elf" | awk 'NR==2 {print $1}')
    [ -n "$feat" ] || base=$text
    # Kept .text/.rodata input sections that come from our objects (ih_*, x_*).
    own=$(awk -v OBJ='^(ih|x)_' -f "$SRC/bench/map_own.awk" "$W/app.map")
    printf '%-5s %-50s %8s %8s %8s\n' "$sas" "$name" "$text" "$((text - base))" "$own"
  done
done
