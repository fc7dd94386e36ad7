/*
 * The image has no C library heap. newlib-nano's snprintf (used by mbedTLS
 * and src/tls for messages) carries a reference to _malloc_r/_realloc_r/
 * _free_r for asprintf's growing buffers, a path snprintf into a caller's
 * buffer never takes. These definitions satisfy the link and end the run
 * loudly if anything ever does allocate; tls_m4.sh also checks in the link
 * map that malloc/calloc/free themselves are not in the image.
 */
#include <stddef.h>

#include "board.h"

struct _reent;
void *_malloc_r(struct _reent *r, size_t n);
void *_realloc_r(struct _reent *r, void *p, size_t n);
void _free_r(struct _reent *r, void *p);

static __attribute__((noreturn)) void heap_used(const char *what)
{
    con_str("ERROR the C library heap was used (");
    con_str(what);
    con_str(")\n");
    semi_exit(7);
}

void *_malloc_r(struct _reent *r, size_t n)
{
    (void)r;
    (void)n;
    heap_used("_malloc_r");
}

void *_realloc_r(struct _reent *r, void *p, size_t n)
{
    (void)r;
    (void)p;
    (void)n;
    heap_used("_realloc_r");
}

void _free_r(struct _reent *r, void *p)
{
    (void)r;
    if (p != NULL) {
        heap_used("_free_r");
    }
}
