#include "wbuf.h"

#include <string.h>

void wb_init(struct wbuf *w, char *out, size_t cap)
{
    w->p = out;
    w->cap = out == NULL ? 0u : cap;
    w->len = 0u;
}

void wb_putc(struct wbuf *w, char c)
{
    size_t n = w->len; /* read once: the byte store may alias it */
    if (n < w->cap) {
        w->p[n] = c;
    }
    w->len = n + 1u;
}

void wb_mem(struct wbuf *w, const char *s, size_t n)
{
    size_t i;
    for (i = 0u; i < n; i++) {
        wb_putc(w, s[i]);
    }
}

void wb_str(struct wbuf *w, const char *s)
{
    while (*s != '\0') {
        wb_putc(w, *s++);
    }
}

void wb_u32(struct wbuf *w, uint32_t v)
{
    /* 32-bit on purpose: no 64-bit division helper on small targets. */
    char tmp[10];
    size_t n = 0u;
    do {
        tmp[n++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    while (n > 0u) {
        wb_putc(w, tmp[--n]);
    }
}

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~';
}

void wb_enc(struct wbuf *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i;
    for (i = 0u; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0u && n == SIZE_MAX) {
            break; /* wb_encs(): the end of the string */
        }
        if (unreserved(c)) {
            wb_putc(w, (char)c);
        } else {
            wb_putc(w, '%');
            wb_putc(w, hex[c >> 4]);
            wb_putc(w, hex[c & 0xFu]);
        }
    }
}

void wb_encs(struct wbuf *w, const char *s)
{
    wb_enc(w, s, SIZE_MAX);
}

tma_status wb_finish(struct wbuf *w, size_t *out_len)
{
    *out_len = w->len;
    if (w->len + 1u > w->cap) {
        if (w->cap > 0u) {
            w->p[0] = '\0';
        }
        return IOTHUB_E(TMA_C_TOO_SMALL);
    }
    w->p[w->len] = '\0';
    return TMA_OK;
}
