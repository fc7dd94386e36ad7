/* Fuzz the trustm CLI's argument parsers: access conditions in words or hex
 * (round trip through libtrustm's encoder/renderer), hex strings, object ids,
 * numbers, key-object lists, X.509 subject strings; the raw input also as a DER ECDSA
 * signature. Input: a NUL-free string (truncated at the first NUL). */
#include <stdlib.h>
#include <string.h>

#include "trustm.h"
#include "trustm/metadata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s;
    uint8_t ac[64], hex[256];
    size_t n = 0;
    uint16_t oid;
    unsigned long v;
    if (size > 1024) {
        return 0;
    }
    s = malloc(size + 1);
    if (s == NULL) {
        return 0;
    }
    memcpy(s, data, size);
    s[size] = '\0';
    if (parse_ac_arg(s, ac, sizeof(ac), &n) == 0) {
        /* Whatever parses must be a valid condition that renders and, as
         * words, parses back to the same bytes. */
        char words[512];
        uint8_t again[64];
        size_t m = 0;
        struct trustm_ac d;
        if (n == 0 || n > sizeof(ac) || trustm_ac_decode(ac, n, &d) != TMA_OK ||
            trustm_ac_render(ac, n, words, sizeof(words)) != TMA_OK ||
            parse_ac_arg(words, again, sizeof(again), &m) != 0 || m != n ||
            memcmp(ac, again, n) != 0) {
            abort();
        }
    }
    (void)parse_hex(s, hex, sizeof(hex));
    (void)parse_oid(s, &oid);
    (void)parse_uint(s, 0, 0xFFFF, &v);
    {
        /* A key list: 1..cap distinct key objects, nothing else. */
        uint16_t keys[4];
        size_t nk = 0, i, j;
        if (parse_key_list(s, keys, 4, &nk) == 0) {
            if (nk == 0 || nk > 4) abort();
            for (i = 0; i < nk; i++) {
                if (!tool_oid_is_key(keys[i]) || (keys[i] >= 0xE100 && keys[i] <= 0xE200)) abort();
                for (j = 0; j < i; j++) {
                    if (keys[i] == keys[j]) abort();
                }
            }
        }
    }
    {
        char why[128];
        why[0] = '\0';
        if (subject_problem(s, why, sizeof(why)) != 0 && why[0] == '\0') abort();
    }
    if (der_ecdsa_sig_ok(data, size) && (size < 8 || data[0] != 0x30)) abort();
    free(s);
    return 0;
}
