# The outbox's flash log for microcontrollers (src/iothub/storage_flash.c,
# brief FLASH): contract, outbox on a full flash and power cuts at every
# program/erase, on a strict simulated NOR flash. Prefix: iothub_flash.
if(TARGET iothub AND EXISTS ${PROJECT_SOURCE_DIR}/src/iothub/storage_flash.c)
  tma_add_test(NAME iothub_flash SOURCES unit/test_iothub_flash.c
    LIBS iothub tma_testlib LABELS unit TIMEOUT 120)
  tma_add_test(NAME iothub_flash_cost SOURCES unit/test_iothub_flash_cost.c
    LIBS iothub tma_testlib LABELS unit TIMEOUT 60)
  tma_add_test(NAME iothub_flash_diff SOURCES unit/test_iothub_flash_diff.c unit/test_iothub_flash_ref.c
    LIBS iothub tma_testlib LABELS unit TIMEOUT 60)
  # The same comparison with the log built to remember 1 and 2 sectors,
  # fewer than every geometry has (scans of the others start at their
  # first record; the head and the hint often fall outside the cursors).
  foreach(_n 1 2)
    tma_add_test(NAME iothub_flash_diff_c${_n} SOURCES unit/test_iothub_flash_diff.c unit/test_iothub_flash_ref.c
      unit/test_iothub_flash_few.c LIBS iothub tma_testlib LABELS unit TIMEOUT 60)
    target_compile_definitions(iothub_flash_diff_c${_n} PRIVATE IOTHUB_FLASH_FEW IOTHUB_FLASH_CURSORS=${_n}u)
  endforeach()
  # Every answer against a model of what the log must hold (catches what the
  # log shares with its build without cursors), as shipped and remembering
  # one sector.
  tma_add_test(NAME iothub_flash_model SOURCES unit/test_iothub_flash_model.c
    LIBS iothub tma_testlib LABELS unit TIMEOUT 60)
  tma_add_test(NAME iothub_flash_model_c1 SOURCES unit/test_iothub_flash_model.c unit/test_iothub_flash_few.c
    LIBS iothub tma_testlib LABELS unit TIMEOUT 60)
  target_compile_definitions(iothub_flash_model_c1 PRIVATE IOTHUB_FLASH_FEW IOTHUB_FLASH_CURSORS=1u)
  tma_add_fuzz(NAME iothub_flash SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_iothub_flash.c
    ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_iothub_flash_ref.c
    LIBS iothub CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/vectors/iothub/fuzz/iothub_flash)
  if(TARGET fuzz_iothub_flash)
    target_compile_definitions(fuzz_iothub_flash PRIVATE _POSIX_C_SOURCE=200809L)
  endif()
endif()
# The flash log and the bare-metal flash port template cross-compile for a
# Cortex-M4 with the core's warnings as errors, and link into an image with
# no system stubs (no heap, stdio or OS call can hide in them).
if(TARGET iothub AND EXISTS ${PROJECT_SOURCE_DIR}/port/baremetal/storage_flash_baremetal.c)
  set(_s ${CMAKE_CURRENT_BINARY_DIR}/iothub_flash_port_m4.sh)
  file(WRITE ${_s} [=[
set -euo pipefail
ROOT=$1
command -v arm-none-eabi-gcc >/dev/null || { echo "FAIL: arm-none-eabi-gcc not installed (scripts/setup)"; exit 1; }
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
F="-std=c99 -Os -mthumb -mcpu=cortex-m4 -ffunction-sections -fdata-sections -Wall -Wextra -Werror -Wconversion
   -Wsign-conversion -Wmissing-prototypes -Wstrict-prototypes -Wcast-qual -Wundef -Wshadow -I$ROOT/include"
cat > "$W/fw.c" <<'C'
#include "iothub/outbox.h"
#include "iothub/storage_flash.h"
tma_status outbox_flash_baremetal_open(struct iothub_flash_storage *fs, struct iothub_storage *out_storage);
const uint32_t board_flash_base = 0x08070000u, board_flash_page_size = 2048u, board_flash_pages = 16u,
               board_flash_unit = 8u;
int board_flash_program(uint32_t addr, const uint8_t *data, uint32_t len);
int board_flash_erase_page(uint32_t addr);
int board_flash_ecc_fault(uint32_t addr, uint32_t len);
int board_flash_program(uint32_t addr, const uint8_t *data, uint32_t len) { return (int)(addr + len + data[0]) & 0; }
int board_flash_erase_page(uint32_t addr) { return (int)addr & 0; }
int board_flash_ecc_fault(uint32_t addr, uint32_t len) { return (int)(addr + len) & 0; }
static struct iothub_flash_storage fs;
static struct iothub_storage st;
static struct iothub_outbox ob;
int main(void);
void Reset_Handler(void);
int main(void)
{
    static const uint8_t payload[4] = {1, 2, 3, 4};
    uint32_t seq;
    if (outbox_flash_baremetal_open(&fs, &st) == TMA_OK &&
        iothub_outbox_init(&ob, &st, 100, IOTHUB_OUTBOX_DROP_OLDEST) == TMA_OK &&
        iothub_outbox_push(&ob, "devices/d/messages/events/", payload, sizeof payload, &seq) == TMA_OK) {
        (void)iothub_outbox_ack(&ob, seq);
    }
    return 0;
}
void Reset_Handler(void) { (void)main(); for (;;) { } }
__attribute__((used, section(".isr_vector"))) void (*const vectors[2])(void) = {
    (void (*)(void))0x20020000u, Reset_Handler};
C
for f in "$ROOT/port/baremetal/storage_flash_baremetal.c" "$ROOT/src/iothub/storage_flash.c" \
         "$ROOT/src/iothub/outbox.c" "$ROOT/src/common/status.c"; do
  # shellcheck disable=SC2086
  arm-none-eabi-gcc $F -I"$ROOT/src/iothub" -c "$f" -o "$W/$(basename "$f" .c).o"
done
# shellcheck disable=SC2086
arm-none-eabi-gcc $F -Wno-cast-qual -c "$W/fw.c" -o "$W/fw.o"
arm-none-eabi-gcc -mthumb -mcpu=cortex-m4 -nostartfiles --specs=nano.specs -Wl,--gc-sections -Wl,-e,Reset_Handler \
  "$W"/*.o -o "$W/fw.elf"
bad=$(arm-none-eabi-nm "$W/fw.elf" | awk '{print $NF}' |
  grep -E '^_?(malloc|calloc|realloc|free|_sbrk|printf|_write|_read|_open|time|_gettimeofday|abort|exit)$' || true)
[ -z "$bad" ] || { echo "FAIL: OS/heap symbols in the image: $bad"; exit 1; }
arm-none-eabi-nm "$W/fw.elf" | grep -q iothub_flash_storage_put || { echo "FAIL: the log is not in the image"; exit 1; }
echo "ok: flash log + bare-metal flash port link for Cortex-M4 without system stubs:" \
  "$(arm-none-eabi-size "$W/fw.elf" | awk 'NR==2{print $1" B text"}')"
]=])
  add_test(NAME iothub_flash_port_m4 COMMAND bash ${_s} ${PROJECT_SOURCE_DIR})
  set_tests_properties(iothub_flash_port_m4 PROPERTIES LABELS integration TIMEOUT 60)
endif()
