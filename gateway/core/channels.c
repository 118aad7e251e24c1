/* channels.c: the watched-user table: open addressing on the user id, linear probing, backward-shift delete. */
#include <stdlib.h>
#include <string.h>

#include "channels.h"

#define CHANNELS_MIN_SLOTS 64

struct channels {
    size_t slots;     /* a power of two */
    size_t count;
    struct channel **slot;
};

/* Spreads sequential user ids over the table (splitmix64's finaliser). */
static size_t slot_of(const struct channels *table, uint64_t user)
{
    user ^= user >> 30;
    user *= UINT64_C(0xbf58476d1ce4e5b9);
    user ^= user >> 27;
    user *= UINT64_C(0x94d049bb133111eb);
    user ^= user >> 31;
    return (size_t)user & (table->slots - 1);
}

struct channels *channels_new(void)
{
    struct channels *table = calloc(1, sizeof(*table));

    if (table == NULL)
        return NULL;
    table->slots = CHANNELS_MIN_SLOTS;
    table->slot = calloc(table->slots, sizeof(*table->slot));
    if (table->slot == NULL) {
        free(table);
        return NULL;
    }
    return table;
}

static void channel_free(struct channel *ch)
{
    free(ch->watchers);
    free(ch->owners);
    free(ch);
}

void channels_free(struct channels *table)
{
    if (table == NULL)
        return;
    for (size_t i = 0; i < table->slots; i++)
        if (table->slot[i] != NULL)
            channel_free(table->slot[i]);
    free(table->slot);
    free(table);
}

struct channel *channels_get(const struct channels *table, uint64_t user)
{
    for (size_t i = slot_of(table, user);; i = (i + 1) & (table->slots - 1)) {
        struct channel *ch = table->slot[i];

        if (ch == NULL || ch->user == user)
            return ch;
    }
}

/* Doubles the slot array. Returns 0, or -1 when out of memory (the table is
 * unchanged then). */
static int grow(struct channels *table)
{
    struct channels bigger = {table->slots * 2, table->count, NULL};

    bigger.slot = calloc(bigger.slots, sizeof(*bigger.slot));
    if (bigger.slot == NULL)
        return -1;
    for (size_t i = 0; i < table->slots; i++) {
        struct channel *ch = table->slot[i];
        size_t j;

        if (ch == NULL)
            continue;
        for (j = slot_of(&bigger, ch->user); bigger.slot[j] != NULL; j = (j + 1) & (bigger.slots - 1))
            ;
        bigger.slot[j] = ch;
    }
    free(table->slot);
    *table = bigger;
    return 0;
}

struct channel *channels_ref(struct channels *table, uint64_t user, int *created)
{
    struct channel *ch = channels_get(table, user);
    size_t i;

    if (ch != NULL) {
        if (created)
            *created = 0;
        return ch;
    }
    /* Keep the load under 1/2 so probe runs stay short. */
    if ((table->count + 1) * 2 > table->slots && grow(table) < 0)
        return NULL;
    ch = calloc(1, sizeof(*ch));
    if (ch == NULL)
        return NULL;
    ch->user = user;
    for (i = slot_of(table, user); table->slot[i] != NULL; i = (i + 1) & (table->slots - 1))
        ;
    table->slot[i] = ch;
    table->count++;
    if (created)
        *created = 1;
    return ch;
}

int channels_release(struct channels *table, struct channel *ch)
{
    size_t mask = table->slots - 1, hole, i;

    if (ch->watcher_count > 0 || ch->owner_count > 0)
        return 0;
    for (hole = slot_of(table, ch->user); table->slot[hole] != ch; hole = (hole + 1) & mask)
        ;
    /* Backward shift: move later members of the probe run into the hole so
     * lookups never need tombstones. */
    for (i = (hole + 1) & mask; table->slot[i] != NULL; i = (i + 1) & mask) {
        size_t home = slot_of(table, table->slot[i]->user);

        /* Entry i may fill the hole when its home is not in (hole, i]. */
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            table->slot[hole] = table->slot[i];
            hole = i;
        }
    }
    table->slot[hole] = NULL;
    table->count--;
    channel_free(ch);
    return 1;
}

/* Appends session to a list of sessions (watchers or owners). Returns 0, or
 * -1 when out of memory. */
static int list_add(struct session ***list, uint32_t *count, uint32_t *cap,
                    struct session *session)
{
    if (*count == *cap) {
        uint32_t grown_cap = *cap ? *cap * 2 : 2;
        struct session **grown = realloc(*list, grown_cap * sizeof(*grown));

        if (grown == NULL)
            return -1;
        *list = grown;
        *cap = grown_cap;
    }
    (*list)[(*count)++] = session;
    return 0;
}

static void list_remove(struct session **list, uint32_t *count, struct session *session)
{
    for (uint32_t i = 0; i < *count; i++) {
        if (list[i] == session) {
            list[i] = list[--*count];
            return;
        }
    }
}

int channel_add_watcher(struct channel *ch, struct session *session)
{
    return list_add(&ch->watchers, &ch->watcher_count, &ch->watcher_cap, session);
}

void channel_remove_watcher(struct channel *ch, struct session *session)
{
    list_remove(ch->watchers, &ch->watcher_count, session);
}

int channel_add_owner(struct channel *ch, struct session *session)
{
    return list_add(&ch->owners, &ch->owner_count, &ch->owner_cap, session);
}

void channel_remove_owner(struct channel *ch, struct session *session)
{
    list_remove(ch->owners, &ch->owner_count, session);
}

size_t channels_count(const struct channels *table)
{
    return table->count;
}

struct channel *channels_next(const struct channels *table, size_t *cursor)
{
    while (*cursor < table->slots) {
        struct channel *ch = table->slot[(*cursor)++];

        if (ch != NULL)
            return ch;
    }
    return NULL;
}

void channels_set_position(struct channel *ch, double lat, double lng, uint64_t ts)
{
    ch->lat = lat;
    ch->lng = lng;
    geo_point_init(&ch->pt, lat, lng);
    ch->ts = ts ? ts : 1;
}
