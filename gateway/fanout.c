/* fanout.c: what a user's channel carries (a cell channel's goes to cell_channels.c), applied: positions and sharing changes to the channel entry and its watchers, friendship and account changes to the user's own sessions. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "gateway-internal.h"
#include "log.h"
#include "ordering.h"

void fanout_notify_watchers(struct gateway *gw, struct channel *ch)
{
    struct proto_friend_frame frame; /* encoded once, finished per watcher */
    int shared = channel_visible(ch) &&
                 proto_friend_frame_init(&frame, ch->user, ch->lat, ch->lng, ch->ts) == 0;

    for (uint32_t i = 0; i < ch->watcher_count; i++) {
        struct session *s = ch->watchers[i];
        struct session_friend *f = session_find_friend(s, ch->user);

        if (f != NULL)
            session_friend_changed(s, f, shared ? &frame : NULL, &gw->sink);
    }
}

void fanout_expire(struct gateway *gw, uint64_t now_ms)
{
    uint64_t ttl_ms = (uint64_t)gw->cfg.location_ttl_s * 1000u;
    struct channel *ch;
    size_t cursor = 0;

    /* A position the cache would have let expire is gone for the phones too. */
    while ((ch = channels_next(gw->channels, &cursor)) != NULL) {
        if (ch->ts != 0 && now_ms > ch->seen_ms + ttl_ms) {
            ch->ts = 0;
            fanout_notify_watchers(gw, ch);
        }
    }
}

/* A sharing change of ch's user (off, on, or the account gone). */
static void apply_sharing(struct gateway *gw, struct channel *ch, int on, uint64_t consent)
{
    struct channel_update u = {.kind = CHANNEL_UPDATE_SHARING, .on = on, .consent = consent};
    enum channel_verdict v = channel_apply(ch, &u);

    if (v == CHANNEL_HIDDEN)
        fanout_notify_watchers(gw, ch);
    if (v < 0 || ch->owner_count == 0)
        return;
    /* The user has sessions here: this gateway's own SETs of loc:<user> are
     * ordered before this DEL on its one cache connection, so none of them
     * outlives the off in the cache. After on, a session publishes from its
     * next position on: the one it holds was taken while sharing was off. */
    if (!on)
        location_cache_del(gw->cache, ch->user);
}

void fanout_apply(struct gateway *gw, uint64_t user, const struct proto_payload *p)
{
    struct channel *ch = channels_get(gw->channels, user);

    if (p->kind == PROTO_PAYLOAD_ERASED) {
        /* Wherever the rows are queued, not only where the user is watched. */
        history_forget(gw->history, user);
        return;
    }
    if (ch == NULL)
        return;
    switch (p->kind) {
    case PROTO_PAYLOAD_LOC: {
        struct channel_update u = {.kind = CHANNEL_UPDATE_POSITION, .consent = p->loc.consent,
                                   .lat = p->loc.lat, .lng = p->loc.lng, .ts = p->loc.ts,
                                   .seq = p->seq};
        enum channel_verdict v = channel_apply(ch, &u);

        if (v == CHANNEL_STALE)
            metrics_counter_inc(gw->m.stale);
        if (v != CHANNEL_MOVED)
            break;
        ch->seen_ms = gateway_now_ms();
        if (channel_visible(ch))
            fanout_notify_watchers(gw, ch);
        break;
    }
    case PROTO_PAYLOAD_OFF:
    case PROTO_PAYLOAD_ON:
        apply_sharing(gw, ch, p->kind == PROTO_PAYLOAD_ON, p->sharing.consent);
        break;
    case PROTO_PAYLOAD_FRIEND_ADD:
    case PROTO_PAYLOAD_FRIEND_DEL:
    case PROTO_PAYLOAD_BLOCK:
        if (ch->owner_count > 0 && p->kind == PROTO_PAYLOAD_BLOCK)
            phones_blocked(gw, ch, p->friend.other);
        if (ch->owner_count > 0)
            phones_friends_changed(gw, ch, p->friend.other, p->kind != PROTO_PAYLOAD_FRIEND_ADD);
        break;
    case PROTO_PAYLOAD_GONE:
        /* Off at the version known: nothing of the account is shown again
         * until a new account of that id shares. */
        apply_sharing(gw, ch, 0, ch->consent);
        if (ch->owner_count > 0)
            phones_close_user(gw, ch, 4003, "account deleted");
        break;
    case PROTO_PAYLOAD_HB:
    case PROTO_PAYLOAD_ERASED:
    case PROTO_PAYLOAD_STRANGER:       /* never on a user's channel (fanout_on_message) */
    case PROTO_PAYLOAD_STRANGER_GONE:
    case PROTO_PAYLOAD_STRANGER_ASK:
        break;
    }
}

void fanout_on_message(struct gateway *gw, const char *channel, size_t channel_len,
                       const uint8_t *data, size_t len)
{
    uint64_t user = ring_channel_user(channel, channel_len);
    struct proto_payload p;
    const char *reason;

    if (channel_len > 2 && memcmp(channel, "g:", 2) == 0) {
        cell_channels_on_message(gw, channel, channel_len, data, len);
        return;
    }
    if (proto_payload_decode(data, len, &p, &reason) < 0) {
        LOG_WARN("dropped a payload on %.*s: %s", (int)channel_len, channel, reason);
        return;
    }
    metrics_counter_inc(gw->m.updates_in);
    /* Whoever can publish on u:A may say anything about A, never about B. */
    if (p.kind == PROTO_PAYLOAD_HB || p.kind == PROTO_PAYLOAD_STRANGER ||
        p.kind == PROTO_PAYLOAD_STRANGER_GONE || p.kind == PROTO_PAYLOAD_STRANGER_ASK ||
        user == 0 || p.user != user) {
        metrics_counter_inc(gw->m.misrouted);
        return;
    }
    if (p.kind == PROTO_PAYLOAD_LOC) {
        uint64_t now = gateway_now_ms();

        metrics_histogram_observe(gw->m.latency,
                                  now > p.loc.ts ? (double)(now - p.loc.ts) / 1000.0 : 0.0);
    }
    fanout_apply(gw, user, &p);
}
