#!/usr/bin/env bash
# Cortex-M4 code size of the TLS binding's files (-Os -mthumb, sections),
# compiled against Debian's mbedTLS 2.28 headers with the host-only options
# (threading, sockets, file I/O, HAVEGE, PSA storage) switched off. mbedTLS
# itself is not counted. Prints one line per file, "CONFIG text data bss".
set -euo pipefail
SRC=${TMA_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
command -v arm-none-eabi-gcc >/dev/null || { echo "tls_size: arm-none-eabi-gcc missing (scripts/setup)"; exit 0; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/inc"
ln -s /usr/include/mbedtls "$W/inc/mbedtls"
cat > "$W/user.h" <<'CFG'
#undef MBEDTLS_THREADING_C
#undef MBEDTLS_THREADING_PTHREAD
#undef MBEDTLS_NET_C
#undef MBEDTLS_TIMING_C
#undef MBEDTLS_FS_IO
#undef MBEDTLS_HAVE_TIME_DATE
#undef MBEDTLS_HAVEGE_C
#undef MBEDTLS_PSA_ITS_FILE_C
#undef MBEDTLS_PSA_CRYPTO_STORAGE_C
#undef MBEDTLS_ENTROPY_NV_SEED
#define MBEDTLS_NO_PLATFORM_ENTROPY
CFG
total=0
echo "CONFIG text data bss"
for f in tls_key tls_der tls_certs tls_chip tls_client; do
  arm-none-eabi-gcc -std=c99 -Os -mthumb -mcpu=cortex-m4 -ffunction-sections -fdata-sections \
    -DMBEDTLS_USER_CONFIG_FILE="\"$W/user.h\"" -I"$SRC/include" -I"$W/inc" \
    -c "$SRC/src/tls/$f.c" -o "$W/$f.o"
  read -r text data bss _ < <(arm-none-eabi-size "$W/$f.o" | tail -1)
  echo "$f $text $data $bss"
  total=$((total + text))
done
echo "tls-glue-total $total 0 0"
