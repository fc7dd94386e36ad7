/* Private: bounded text writer that keeps counting past the end, so a
 * builder can report the size it would have needed. */
#ifndef IOTHUB_WBUF_H
#define IOTHUB_WBUF_H

#include <stddef.h>
#include <stdint.h>

#include "tma/status.h"

struct wbuf {
    char *p;
    size_t cap;
    size_t len;
};

void wb_init(struct wbuf *w, char *out, size_t cap);
void wb_putc(struct wbuf *w, char c);
void wb_mem(struct wbuf *w, const char *s, size_t n);
void wb_str(struct wbuf *w, const char *s);
void wb_u32(struct wbuf *w, uint32_t v);
/* Percent-encode: everything outside A-Z a-z 0-9 - _ . ~ as %XX (upper hex).
 * @p n SIZE_MAX (which no buffer has) stands for "up to the NUL". */
void wb_enc(struct wbuf *w, const char *s, size_t n);
/* wb_enc() of a NUL-terminated string (n = SIZE_MAX). */
void wb_encs(struct wbuf *w, const char *s);
/* A JSON string literal (quotes; quote, backslash and control characters
 * escaped), as iothub_json_write_string() writes it. In json.c. */
void wb_json_str(struct wbuf *w, const char *s);
/* NUL-terminate and produce the builder's status and *out_len. */
tma_status wb_finish(struct wbuf *w, size_t *out_len);

#define IOTHUB_E(code) TMA_ERR(TMA_LAYER_IOTHUB, (code))

/* Zero @p n bytes through a volatile pointer, so the compiler cannot drop
 * it as a dead store: the SAS key, HMAC and signature (iothub.c), what is
 * left of a CONNECT with a SAS token in the transmit buffer (client.c). */
void ih_wipe(void *p, size_t n);

#endif
