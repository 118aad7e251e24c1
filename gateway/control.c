/* control.c: control messages (sharing, friendships, blocks, accounts) published so that they are not lost: applied here at once, published to every owner, tried again while no owner takes them. */
#include <inttypes.h>
#include <stdlib.h>

#include "gateway-internal.h"
#include "log.h"

#define CONTROL_RETRY_MS 500
#define CONTROL_GIVE_UP_MS 60000 /* about a failover's worth, and more */

struct control_item {
    uint64_t user;
    struct proto_payload payload;
    uint64_t deadline_ms;
};

struct control {
    struct gateway *gw;           /* ref: owner */
    struct control_item *pending; /* publishes no owner took yet */
    size_t count, cap;
    struct event *retry;
    uint64_t seq;                 /* for logs only: control kinds are never deduplicated */
};

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct control *c = arg;
    struct timeval again = {0, CONTROL_RETRY_MS * 1000};
    uint64_t now = gateway_now_ms();
    size_t kept = 0;

    for (size_t i = 0; i < c->count; i++) {
        struct control_item *it = &c->pending[i];

        if (gateway_publish(c->gw, it->user, &it->payload) == 0)
            continue;
        if (now >= it->deadline_ms) {
            LOG_ERROR("gave up publishing %s for user %" PRIu64 " after %d s: gateways that "
                      "missed it catch up when their subscriptions are confirmed again",
                      proto_payload_kind_name(it->payload.kind), it->user,
                      CONTROL_GIVE_UP_MS / 1000);
            continue;
        }
        c->pending[kept++] = *it;
    }
    c->count = kept;
    if (c->count > 0)
        evtimer_add(c->retry, &again);
}

struct control *control_new(struct gateway *gw)
{
    struct control *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->gw = gw;
    c->retry = evtimer_new(gw->base, on_retry, c);
    if (c->retry == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

void control_free(struct control *c)
{
    if (c == NULL)
        return;
    if (c->count > 0)
        LOG_WARN("%zu control messages were never published (no pub/sub owner answered)",
                 c->count);
    event_free(c->retry);
    free(c->pending);
    free(c);
}

void control_publish(struct gateway *gw, uint64_t user, struct proto_payload *payload)
{
    struct control *c = gw->control;
    struct timeval again = {0, CONTROL_RETRY_MS * 1000};
    int published;

    payload->user = user;
    payload->seq = ++c->seq;
    /* Published first, then applied here (this gateway's own sessions need
     * not wait for Redis): what applying it makes a local session publish
     * (its position, after sharing on) then follows it on the channel. */
    published = gateway_publish(gw, user, payload) == 0;
    fanout_apply(gw, user, payload);
    if (published)
        return;
    if (c->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct control_item *grown = realloc(c->pending, cap * sizeof(*grown));

        if (grown == NULL) {
            LOG_ERROR("out of memory keeping %s for user %" PRIu64 " to publish again",
                      proto_payload_kind_name(payload->kind), user);
            return;
        }
        c->pending = grown;
        c->cap = cap;
    }
    c->pending[c->count++] =
        (struct control_item){user, *payload, gateway_now_ms() + CONTROL_GIVE_UP_MS};
    LOG_WARN("%s for user %" PRIu64 " reached no pub/sub owner; trying again every %d ms",
             proto_payload_kind_name(payload->kind), user, CONTROL_RETRY_MS);
    if (!evtimer_pending(c->retry, NULL))
        evtimer_add(c->retry, &again);
}
