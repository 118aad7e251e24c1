/* fuzz.h: what the libFuzzer targets share: the entry point, a check that aborts, exact-size copies. */
#ifndef NEARBY_FUZZ_H
#define NEARBY_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libFuzzer calls this once per input; it returns 0 (other values are reserved). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken contract is a crash to libFuzzer: abort() makes it save the input. */
#define FUZZ_CHECK(cond)                                                              \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                  \
        }                                                                             \
    } while (0)

/* Returns a malloc'd copy of the n bytes at p (p may be NULL when n is 0). The
 * parsers are often handed a prefix of the input, and libFuzzer's buffer ends
 * only where the whole input does: a copy of exactly n bytes is what lets ASan
 * see a read even one byte past the prefix. Never returns NULL. */
static inline uint8_t *fuzz_copy(const void *p, size_t n)
{
    uint8_t *copy = malloc(n); /* ASan's malloc(0) is a valid zero-byte block */

    if (copy == NULL)
        abort();
    if (n > 0)
        memcpy(copy, p, n);
    return copy;
}

/* Returns n malloc'd bytes, uninitialised, for output that ASan watches the
 * same way. Never returns NULL. */
static inline uint8_t *fuzz_alloc(size_t n)
{
    uint8_t *p = malloc(n);

    if (p == NULL)
        abort();
    return p;
}

/* Fills an out-parameter with a pattern before a call, so that a write on
 * failure (out-parameters are written only on success) shows as a change. */
#define FUZZ_POISON(x) memset(&(x), 0xa5, sizeof(x))

/* True when x still holds only the pattern FUZZ_POISON wrote. */
static inline int fuzz_poisoned(const void *x, size_t n)
{
    const uint8_t *p = x;

    for (size_t i = 0; i < n; i++) {
        if (p[i] != 0xa5)
            return 0;
    }
    return 1;
}
#define FUZZ_UNTOUCHED(x) fuzz_poisoned(&(x), sizeof(x))

#endif
