/* Fuzz target: the two parsers of the flash-file port (port/flash_file.c).
 * Byte 0 even: the rest is an --outbox-flash value for
 * iothub_flash_file_parse_spec(); checked: TMA_OK only with FILE non-empty
 * and either no numbers (geometry all 0, FILE the whole value) or a
 * geometry iothub_flash_file_check_geometry() accepts after FILE and ':'.
 * Byte 0 odd: the rest is the content of an existing flash file, opened
 * without a geometry (its trailer is parsed); checked: TMA_OK only for a
 * file whose size is the trailer's geometry plus the trailer, then reading
 * the whole flash works; TMA_C_MALFORMED otherwise, and the file is left
 * byte for byte as it was. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iothub/flash_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void spec_case(const uint8_t *data, size_t size)
{
    char spec[512];
    struct iothub_flash_geometry g;
    size_t len = 0;
    tma_status st;
    if (size >= sizeof(spec)) {
        size = sizeof(spec) - 1;
    }
    memcpy(spec, data, size);
    spec[size] = '\0';
    st = iothub_flash_file_parse_spec(spec, &len, &g);
    if (st == TMA_OK) {
        int unset = g.sector_count == 0 && g.sector_size == 0 && g.program_unit == 0;
        if (len == 0 || len > strlen(spec) || memchr(spec, ':', len) != NULL) {
            abort();
        }
        if (unset ? len != strlen(spec) : (spec[len] != ':' || iothub_flash_file_check_geometry(&g) != TMA_OK)) {
            abort();
        }
    } else if (st != TMA_ERR(TMA_LAYER_STORE, TMA_C_BAD_PARAM)) {
        abort();
    }
}

static void file_case(const uint8_t *data, size_t size)
{
    static char path[64];
    static uint8_t back[1 << 16];
    struct iothub_flash_geometry unset = {0, 0, 0};
    struct iothub_flash_file ff;
    struct iothub_flash f;
    FILE *w;
    tma_status st;
    size_t n;
    if (size > sizeof(back)) {
        size = sizeof(back);
    }
    if (path[0] == '\0') {
        snprintf(path, sizeof(path), "/tmp/fuzz_flash_file.%ld", (long)getpid());
    }
    w = fopen(path, "wb");
    if (w == NULL || fwrite(data, 1, size, w) != size || fclose(w) != 0) {
        abort();
    }
    st = iothub_flash_file_open(&ff, path, &unset, IOTHUB_FLASH_FILE_STRICT, &f);
    if (st == TMA_OK) {
        uint8_t buf[256];
        uint64_t total = (uint64_t)f.sector_count * f.sector_size, off;
        if (total + IOTHUB_FLASH_FILE_TRAILER != size) {
            abort();
        }
        for (off = 0; off < total; off += sizeof(buf)) {
            size_t k = total - off < sizeof(buf) ? (size_t)(total - off) : sizeof(buf);
            if (f.read(f.ctx, (uint32_t)off, buf, k) != TMA_OK) {
                abort();
            }
        }
        iothub_flash_file_close(&ff);
    } else {
        if (st != TMA_ERR(TMA_LAYER_STORE, TMA_C_MALFORMED) || ff.file_size != size) {
            abort();
        }
        w = fopen(path, "rb");
        if (w == NULL) {
            abort();
        }
        n = fread(back, 1, sizeof(back), w);
        fclose(w);
        if (n != size || memcmp(back, data, size) != 0) {
            abort();
        }
    }
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    if ((data[0] & 1u) == 0) {
        spec_case(data + 1, size - 1);
    } else {
        file_case(data + 1, size - 1);
    }
    return 0;
}
