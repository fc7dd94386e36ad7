#!/usr/bin/env bash
# Code and static-RAM footprint of libtrustm on a Cortex-M4 (issue 3).
# Cross-compiles src/trustm/*.c with arm-none-eabi-gcc -Os -mthumb
# -mcpu=cortex-m4 -ffunction-sections -fdata-sections and links each
# configuration with --gc-sections against a tiny application:
#   full-shield    every public function of the library kept, shielding on
#   full-noshield  every public function kept, TRUSTM_CFG_SHIELD=0
#   full-{shield,noshield}-{norsa,nov3,norsa-nov3}  the same with the RSA
#                  commands (TRUSTM_CFG_RSA=0) and/or the Trust M V3
#                  commands (TRUSTM_CFG_V3=0) compiled out (include/trustm/config.h)
#   stack-shield / stack-noshield  the protocol stack alone (trustm_transceive + life cycle)
#   minimal-app    open, read a certificate, random, one ECDSA signature, close
# Output: one line per configuration, "CONFIG text data bss" (bytes of the
# linked image: library + the app (for full-*: a table of 4 bytes per kept
# function) + the newlib-nano memcpy/memset it pulls; bss = one context),
# then the size of one context (struct trustm), and, for the record, the
# text of the host-only helpers in src/trustm_host/ (metadata in words, ESW
# build names): tools link them, a device does not, so no configuration
# above includes them.
# Usage: bench/footprint.sh            (needs gcc-arm-none-eabi, libnewlib-arm-none-eabi)
# Two measuring aids, off by default (the lines above are the figures to quote):
#   FOOTPRINT_LEAVE_OUT="trustm_x trustm_y ..."  leave these public functions
#       out of the full-*/stack-* address tables (what an image without them
#       would link; docs/decisions/size-options-17.md uses it)
#   FOOTPRINT_LIB=1  add a fifth column: the .text/.rodata bytes of the
#       library's own objects in the image (no address table, application,
#       vectors or C start-up), read from the linker map with map_own.awk
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CC=${CC_ARM:-arm-none-eabi-gcc}
command -v "$CC" >/dev/null || { echo "footprint: $CC not found (scripts/setup installs it)" >&2; exit 1; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
ARCH="-mthumb -mcpu=cortex-m4"
CFLAGS="-Os $ARCH -ffunction-sections -fdata-sections -std=c99 -Wall -I$ROOT/include -I$ROOT/src/trustm"
LDFLAGS="$ARCH -Wl,--gc-sections -nostartfiles --specs=nano.specs --specs=nosys.specs -Wl,-e,Reset_Handler"
STACK="link net ccm shield phys transceive"

compile() { # dir defines files...
    local d=$1 defs=$2; shift 2
    mkdir -p "$W/$d"
    for f in "$@"; do
        $CC $CFLAGS $defs -c "$ROOT/src/trustm/$f.c" -o "$W/$d/$f.o"
    done
}

# the startup every configuration shares: vector table stub + reset handler,
# and one context in .bss
cat > "$W/start.c" <<'C'
#include "trustm/trustm.h"
__attribute__((used)) struct trustm ctx_storage;
char *const ctx_ptr = (char *)&ctx_storage;
extern int main(void);
void Reset_Handler(void);
__attribute__((used, section(".isr_vector"))) void (*const vectors[2])(void) = {
    (void (*)(void))0x20010000, Reset_Handler};
void Reset_Handler(void) { main(); for (;;) { } }
C

# keep every public function (declared in include/trustm/*.h) that the given
# objects define: an address table the app walks
keep_all() { # objdir out.c
    local pub
    pub=$(cat "$ROOT"/include/trustm/*.h | grep -o 'trustm_[a-z0-9_]*(' | tr -d '(' | sort -u)
    arm-none-eabi-nm -g --defined-only "$1"/*.o | awk '$2=="T"{print $3}' | sort -u >"$W/defined"
    # shellcheck disable=SC2086
    printf '%s\n' ${FOOTPRINT_LEAVE_OUT:-} | sort -u >"$W/leave_out"
    echo "$pub" | sort -u | comm -12 - "$W/defined" | comm -23 - "$W/leave_out" >"$W/keep"
    {
        echo '#include <stddef.h>'
        sed 's/.*/extern void &(void);/' "$W/keep"
        echo '__attribute__((used)) static void (*const keep[])(void) = {'
        sed 's/.*/    &,/' "$W/keep"
        echo '};'
        echo 'extern char *const ctx_ptr;'
        echo 'int main(void) { size_t i; void (*const *volatile k)(void) = keep;'
        echo '    for (i = 0; i < sizeof keep / sizeof keep[0]; i++) { if (k[i] == (void (*)(void))ctx_ptr) return 1; } return 0; }'
    } > "$2"
    echo "$(wc -l <"$W/keep")" > "$2.n"
}

link() { # name objdir app.c defs
    $CC $CFLAGS $4 -c "$3" -o "$W/$1.app.o"
    $CC $CFLAGS $4 -c "$W/start.c" -o "$W/$1.start.o"
    $CC $LDFLAGS -Wl,-Map="$W/$1.map" "$W/$1.start.o" "$W/$1.app.o" "$2"/*.o -o "$W/$1.elf"
    lib=
    if [ -n "${FOOTPRINT_LIB:-}" ]; then # library objects are named <file>.o
        lib=" $(awk -v OBJ='^[a-z_0-9]+[.]o$' -f "$ROOT/bench/map_own.awk" "$W/$1.map")"
    fi
    arm-none-eabi-size -A "$W/$1.elf" | awk -v n="$1" -v lib="$lib" '
        $1 ~ /^\.(text|rodata|isr_vector|ARM)/ {t += $2}
        $1 == ".data" {d += $2}
        $1 == ".bss" {b += $2}
        END {printf "%s %d %d %d%s\n", n, t, d, b, lib}'
}

ALL=$(cd "$ROOT/src/trustm" && ls *.c | sed 's/\.c$//')
CMD=$(for f in $ALL; do case " $STACK " in *" $f "*) ;; *) echo "$f";; esac; done)

compile full1 "-DTRUSTM_CFG_SHIELD=1" $ALL
compile full0 "-DTRUSTM_CFG_SHIELD=0" $ALL
keep_all "$W/full1" "$W/full1.c"
keep_all "$W/full0" "$W/full0.c"
echo "CONFIG text data bss"
link full-shield "$W/full1" "$W/full1.c" -DTRUSTM_CFG_SHIELD=1
link full-noshield "$W/full0" "$W/full0.c" -DTRUSTM_CFG_SHIELD=0

# the configuration switches of include/trustm/config.h: every public
# function the objects still define is kept, as above
for s in 1 0; do
    for sw in "norsa|-DTRUSTM_CFG_RSA=0" "nov3|-DTRUSTM_CFG_V3=0" \
              "norsa-nov3|-DTRUSTM_CFG_RSA=0 -DTRUSTM_CFG_V3=0"; do
        IFS='|' read -r tag defs <<<"$sw"
        sh=shield; [ "$s" = 1 ] || sh=noshield
        # shellcheck disable=SC2086
        compile "sw$s-$tag" "-DTRUSTM_CFG_SHIELD=$s $defs" $ALL
        keep_all "$W/sw$s-$tag" "$W/sw$s-$tag.c"
        link "full-$sh-$tag" "$W/sw$s-$tag" "$W/sw$s-$tag.c" "-DTRUSTM_CFG_SHIELD=$s $defs"
    done
done

mkdir -p "$W/st1" "$W/st0"
for f in $STACK; do cp "$W/full1/$f.o" "$W/st1/"; cp "$W/full0/$f.o" "$W/st0/"; done
keep_all "$W/st1" "$W/st1.c"
keep_all "$W/st0" "$W/st0.c"
link stack-shield "$W/st1" "$W/st1.c" -DTRUSTM_CFG_SHIELD=1
link stack-noshield "$W/st0" "$W/st0.c" -DTRUSTM_CFG_SHIELD=0

# minimal application through the public API (no shielding used, but the
# library is built as shipped: with TRUSTM_CFG_SHIELD=1 and =0)
cat > "$W/min.c" <<'C'
#include "trustm/cmd.h"
#include "trustm/trustm.h"
static tma_status xfer(void *c, struct trustm_i2c_msg *m, size_t n) { (void)c; (void)n; return m->len ? TMA_OK : -1; }
static void dly(void *c, uint32_t us) { (void)c; (void)us; }
static uint32_t now(void *c) { (void)c; return 0; }
static const struct trustm_port port = {0, xfer, dly, now, 0, 0, 0};
extern struct trustm ctx_storage;
#define ctx ctx_storage
static uint8_t cert[1728], rnd[32], sig[72];
static const uint8_t digest[32] = {1};
int main(void)
{
    size_t n;
    if (trustm_init(&ctx, &port, 0) || trustm_open(&ctx) || trustm_open_app(&ctx, 0, 0)) return 1;
    if (trustm_read_data(&ctx, 0, 0xE0E0, 0, cert, sizeof cert, &n)) return 2;
    if (trustm_get_random(&ctx, 0, TRUSTM_RNG_TRNG, rnd, sizeof rnd)) return 3;
    if (trustm_sign(&ctx, 0, TRUSTM_SIG_ECDSA, 0xE0F0, digest, 32, sig, sizeof sig, &n)) return 4;
    trustm_close(&ctx);
    trustm_deinit(&ctx);
    return 0;
}
C
if grep -q TRUSTM_SIG_ECDSA "$ROOT/include/trustm/cmd.h" 2>/dev/null; then
    link minimal-app-shield "$W/full1" "$W/min.c" -DTRUSTM_CFG_SHIELD=1
    link minimal-app-noshield "$W/full0" "$W/min.c" -DTRUSTM_CFG_SHIELD=0
fi

# one context, as the target compiler lays it out
for s in 1 0; do
    echo '#include "trustm/trustm.h"
char ctx_size[sizeof(struct trustm)];' > "$W/sz.c"
    $CC $CFLAGS -DTRUSTM_CFG_SHIELD=$s -c "$W/sz.c" -o "$W/sz.o"
    printf 'context(shield=%s) sizeof(struct trustm) = %d\n' "$s" \
        "$((16#$(arm-none-eabi-nm -S "$W/sz.o" | awk '$4=="ctx_size"{print $2}')))"
done

# host-only helpers (not in any configuration above), same flags, per object
if [ -d "$ROOT/src/trustm_host" ]; then
    mkdir -p "$W/host"
    for f in "$ROOT"/src/trustm_host/*.c; do
        $CC $CFLAGS -DTRUSTM_CFG_SHIELD=1 -c "$f" -o "$W/host/$(basename "$f" .c).o"
    done
    printf 'host-only src/trustm_host (tools; not linked by a device): %d bytes text in objects\n' \
        "$(arm-none-eabi-size "$W"/host/*.o | awk 'NR>1{t+=$1} END{print t}')"
fi
