/* friend_list.h: a strict parser for the gateway's GET /v1/friends answer, {"user":N,"friends":[...]}. No I/O.
 *
 * The accepted shape is exactly what the gateway writes: an object with the
 * members "user" then "friends", the first a decimal user id, the second an
 * array of decimal user ids, with optional JSON whitespace between tokens and
 * after the object. Numbers are canonical (no sign, no leading zero, no
 * fraction or exponent); anything else is refused. Ids are returned sorted
 * and must be distinct, non-zero and at most UINT32_MAX (the load generator
 * keeps them in 4 bytes each).
 */
#ifndef NEARBY_LOADGEN_FRIEND_LIST_H
#define NEARBY_LOADGEN_FRIEND_LIST_H

#include <stddef.h>
#include <stdint.h>

enum friend_list_err {
    FRIEND_LIST_ERR_SYNTAX = -1,    /* not the shape above */
    FRIEND_LIST_ERR_RANGE = -2,     /* an id of 0, above UINT32_MAX, or repeated */
    FRIEND_LIST_ERR_NOMEM = -3,
};

/* Parses body[0..len). Returns 0 and writes *user, *ids (a sorted array
 * the caller frees; NULL when *count is 0) and *count; on failure returns a
 * FRIEND_LIST_ERR_* and writes nothing. */
int friend_list_parse(const char *body, size_t len, uint64_t *user, uint32_t **ids,
                      size_t *count);

/* Returns a static description of a FRIEND_LIST_ERR_*. */
const char *friend_list_strerror(int err);

#endif
