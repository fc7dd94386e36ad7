# Sourced by qemu_m4.sh and hub_m4.sh: build a firmware image for QEMU's
# mps2-an386 (Cortex-M4) with the device core's warnings as errors. Needs
# ROOT, Q and fail() from the caller.
#
# qemu_fw_build DIR "EXTRA CFLAGS" SOURCE... -> DIR/fw.elf
# Optional: QEMU_FW_LD (another linker script), QEMU_FW_LIBS (archives and
# linker options after the objects), used by tls_m4.sh.
qemu_fw_build() {
  local dir=$1 extra=$2 f arch="-mthumb -mcpu=cortex-m4"
  shift 2
  local cflags="-std=c99 -Os $arch -ffunction-sections -fdata-sections -Wall -Wextra -Werror
    -Wconversion -Wshadow -Wmissing-prototypes -I$ROOT/include -I$Q $extra"
  mkdir -p "$dir/obj"
  for f in "$@"; do
    # shellcheck disable=SC2086
    arm-none-eabi-gcc $cflags -c "$f" -o "$dir/obj/$(basename "$(dirname "$f")")_$(basename "$f" .c).o" \
      2>"$dir/err" || { cat "$dir/err"; fail "$f does not build for the Cortex-M4 firmware"; }
  done
  # no nosys.specs: a call into an OS service would leave _sbrk/_write/...
  # undefined and fail the link
  # shellcheck disable=SC2086
  arm-none-eabi-gcc $arch -nostartfiles --specs=nano.specs -Wl,--gc-sections -T "${QEMU_FW_LD:-$Q/mps2_an386.ld}" \
    "$dir"/obj/*.o ${QEMU_FW_LIBS:-} -o "$dir/fw.elf" 2>"$dir/err" || { cat "$dir/err"; fail "the firmware does not link"; }
  echo "ok: firmware built: $(arm-none-eabi-size "$dir/fw.elf" |
    awk 'NR==2{print $1" B text, "$2" B data, "$3" B bss (incl. 16 KB stack)"}')"
}
