/* Small helpers shared by the C tests (used together with cmocka). */
#ifndef TMA_TEST_H
#define TMA_TEST_H

#include <stddef.h>
#include <stdint.h>

/* Parse hex ("0a 1B:ff" - spaces, colons and newlines ignored) into out.
 * Returns the number of bytes, or -1 on bad input or overflow. */
long tma_test_hex(const char *hex, uint8_t *out, size_t cap);

/* Compare; on mismatch print both sides in hex to stderr with a label.
 * Returns 0 when equal. */
int tma_test_memcmp(const char *label, const uint8_t *got, size_t got_len,
                    const uint8_t *want, size_t want_len);

/* Read $TMA_SOURCE_DIR/<rel_path> (or ./<rel_path>) into a malloc'ed
 * buffer with a NUL after the data; *out_len = bytes read (without the NUL).
 * Returns NULL when the file cannot be read or is empty. */
unsigned char *tma_test_read_source_file(const char *rel_path, size_t *out_len);

/* Print bytes as hex to stderr. */
void tma_test_dump(const char *label, const uint8_t *p, size_t n);

#endif
