/* cells.c: the cell channel table: entries sorted by geohash, found by binary search. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cells.h"

struct cells {
    size_t count, cap;
    struct cell **entry; /* sorted by name */
};

struct cells *cells_new(void)
{
    return calloc(1, sizeof(struct cells));
}

static void cell_free(struct cell *cell)
{
    free(cell->listeners);
    free(cell);
}

void cells_free(struct cells *table)
{
    if (table == NULL)
        return;
    for (size_t i = 0; i < table->count; i++)
        cell_free(table->entry[i]);
    free(table->entry);
    free(table);
}

/* Compares the len bytes at name with a NUL-terminated geohash. */
static int name_cmp(const char *name, size_t len, const char *other)
{
    size_t olen = strlen(other);
    int c = memcmp(name, other, len < olen ? len : olen);

    return c != 0 ? c : (len > olen) - (len < olen);
}

/* Returns where name is or would go. */
static size_t slot_of(const struct cells *table, const char *name, size_t len)
{
    size_t lo = 0, hi = table->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (name_cmp(name, len, table->entry[mid]->name) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct cell *cells_get(const struct cells *table, const char *name, size_t len)
{
    size_t i = slot_of(table, name, len);

    return i < table->count && name_cmp(name, len, table->entry[i]->name) == 0 ? table->entry[i]
                                                                                : NULL;
}

struct cell *cells_ref(struct cells *table, const char *name, int *created)
{
    size_t len = strlen(name), i = slot_of(table, name, len);
    struct cell *cell;

    *created = 0;
    if (i < table->count && name_cmp(name, len, table->entry[i]->name) == 0)
        return table->entry[i];
    if (len >= GEOHASH_SIZE)
        return NULL;
    if (table->count == table->cap) {
        size_t cap = table->cap ? table->cap * 2 : 64;
        struct cell **grown = realloc(table->entry, cap * sizeof(*grown));

        if (grown == NULL)
            return NULL;
        table->entry = grown;
        table->cap = cap;
    }
    cell = calloc(1, sizeof(*cell));
    if (cell == NULL)
        return NULL;
    memcpy(cell->name, name, len + 1);
    cell->channel_len = (size_t)snprintf(cell->channel, sizeof(cell->channel), "g:%s", name);
    memmove(&table->entry[i + 1], &table->entry[i], (table->count - i) * sizeof(*table->entry));
    table->entry[i] = cell;
    table->count++;
    *created = 1;
    return cell;
}

int cells_release(struct cells *table, struct cell *cell)
{
    size_t i;

    if (cell->listener_count > 0)
        return 0;
    i = slot_of(table, cell->name, strlen(cell->name));
    if (i < table->count && table->entry[i] == cell) {
        memmove(&table->entry[i], &table->entry[i + 1],
                (table->count - i - 1) * sizeof(*table->entry));
        table->count--;
    }
    cell_free(cell);
    return 1;
}

int cell_add_listener(struct cell *cell, struct stranger_view *view)
{
    if (cell->listener_count == cell->listener_cap) {
        uint32_t cap = cell->listener_cap ? cell->listener_cap * 2 : 4;
        struct stranger_view **grown = realloc(cell->listeners, cap * sizeof(*grown));

        if (grown == NULL)
            return -1;
        cell->listeners = grown;
        cell->listener_cap = cap;
    }
    cell->listeners[cell->listener_count++] = view;
    return 0;
}

void cell_remove_listener(struct cell *cell, struct stranger_view *view)
{
    for (uint32_t i = 0; i < cell->listener_count; i++) {
        if (cell->listeners[i] == view) {
            cell->listeners[i] = cell->listeners[--cell->listener_count];
            return;
        }
    }
}

size_t cells_count(const struct cells *table)
{
    return table->count;
}

struct cell *cells_at(const struct cells *table, size_t i)
{
    return table->entry[i];
}
