/* friend_file.h: the friend graph from a file of USER<TAB>FRIEND lines, for phones whose server has no GET /v1/friends. No I/O but the one read.
 *
 * The file is what nearby-bench-graph writes and what scripts/bench copies
 * into PostgreSQL's friendships table: one line per direction of a
 * friendship, "USER\tFRIEND\n", decimal ids without sign or leading zero, the
 * last newline optional. Every id is in 1..users; a user who is their own
 * friend, or a line given twice, is refused. Friendship is taken as written
 * (a missing mirror line is not added).
 *
 * Ownership: friend_file_parse()/friend_file_load() allocate a struct
 * friend_file; friend_file_free() frees it. Lists returned by
 * friend_file_get() are borrowed from it.
 */
#ifndef NEARBY_LOADGEN_FRIEND_FILE_H
#define NEARBY_LOADGEN_FRIEND_FILE_H

#include <stddef.h>
#include <stdint.h>

enum friend_file_err {
    FRIEND_FILE_ERR_SYNTAX = -1, /* a line that is not USER<TAB>FRIEND */
    FRIEND_FILE_ERR_RANGE = -2,  /* an id of 0 or above users, a self-friendship, a repeat */
    FRIEND_FILE_ERR_NOMEM = -3,
    FRIEND_FILE_ERR_IO = -4,     /* the file cannot be read; errno says why */
};

struct friend_file {
    uint32_t users;    /* ids 1..users */
    size_t *offsets;   /* users + 2 entries: the friends of u are ids[offsets[u]..offsets[u+1]) */
    uint32_t *ids;     /* each user's friends, sorted */
    size_t lines;
    size_t bad_line;   /* after a failed parse, the 1-based line at fault (0: none) */
};

/* Parses text[0..len) for users 1..users. Returns 0 and *out, or a
 * FRIEND_FILE_ERR_* with *out untouched; on SYNTAX or RANGE errors,
 * *bad_line (when not NULL) gets the line at fault. */
int friend_file_parse(const char *text, size_t len, uint32_t users, struct friend_file **out,
                      size_t *bad_line);

/* Reads path whole and parses it as friend_file_parse() does. */
int friend_file_load(const char *path, uint32_t users, struct friend_file **out,
                     size_t *bad_line);

/* Returns the number of friends of user and points *ids at them (sorted);
 * 0 for an id outside 1..users. */
uint32_t friend_file_get(const struct friend_file *ff, uint32_t user, const uint32_t **ids);

/* Frees ff; NULL is a no-op. */
void friend_file_free(struct friend_file *ff);

/* Returns a static description of a FRIEND_FILE_ERR_*. */
const char *friend_file_strerror(int err);

#endif
