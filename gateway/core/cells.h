/* cells.h: the gateway's table of cell channels g:<geohash>, one entry per cell its local stranger views listen to.
 *
 * The counterpart of channels.h for strangers: an entry exists while some
 * local view (strangers.h) holds the cell, and the gateway keeps one
 * subscription per entry whatever the number of views: the caller
 * subscribes when cells_ref creates an entry and unsubscribes when
 * cells_release removes it. The entry also carries what bounds the cell's
 * publishing from this gateway (gateway/cell_channels.c): a token bucket and
 * the queue of views whose latest position waits for a token.
 *
 * Ownership: the table owns its entries; listeners and queued views are
 * borrowed (a view removes itself before it is freed). Entry pointers stay
 * valid until cells_release removes the entry or cells_free.
 * Single-threaded.
 */
#ifndef NEARBY_GATEWAY_CELLS_H
#define NEARBY_GATEWAY_CELLS_H

#include <stddef.h>
#include <stdint.h>

#include "geohash.h"
#include "ratelimit.h"

struct stranger_view;
struct cells;

#define CELL_CHANNEL_MAX (2 + GEOHASH_PRECISION_MAX + 1) /* "g:", the geohash, a NUL */

struct cell {
    char name[GEOHASH_SIZE];         /* the geohash */
    char channel[CELL_CHANNEL_MAX];  /* "g:<name>" */
    size_t channel_len;
    uint32_t listener_count, listener_cap;
    struct stranger_view **listeners; /* ref: views holding this cell */
    /* cell_channels.c's: this gateway's publishing in the cell. */
    struct ratelimit publish;         /* positions a second, all local sessions together */
    struct stranger_view *queue_head, *queue_tail; /* ref: positions held back */
    uint32_t queued;
};

/* Returns an empty table, or NULL when out of memory. */
struct cells *cells_new(void);

/* Frees the table and every entry (not the views); NULL does nothing. */
void cells_free(struct cells *table);

/* Returns the entry of the len bytes at name, or NULL. */
struct cell *cells_get(const struct cells *table, const char *name, size_t len);

/* Returns the entry of name (a valid geohash), creating it with no listener
 * when missing; *created says which. NULL when out of memory. */
struct cell *cells_ref(struct cells *table, const char *name, int *created);

/* Removes cell when no listener holds it, and returns 1 (it is then freed:
 * the caller unsubscribes first, having read its channel); else 0. */
int cells_release(struct cells *table, struct cell *cell);

/* Adds view to cell's listeners. Returns 0, or -1 when out of memory. */
int cell_add_listener(struct cell *cell, struct stranger_view *view);

/* Removes view from cell's listeners (no-op when absent). */
void cell_remove_listener(struct cell *cell, struct stranger_view *view);

/* Number of entries. */
size_t cells_count(const struct cells *table);

/* The entry at index i (0 <= i < cells_count), for iterating; the table must
 * not change meanwhile. */
struct cell *cells_at(const struct cells *table, size_t i);

#endif
