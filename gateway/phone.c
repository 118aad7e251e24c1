/* phone.c: one phone's WebSocket session: init with a token, friends and positions loaded, loc and radius handled. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "friends_db.h"
#include "gateway-internal.h"
#include "log.h"
#include "proto_msg.h"
#include "token.h"

#define PHONE_INIT_TIMEOUT_S 10
#define PHONE_BAD_FRAMES_MAX 5
#define PHONE_NEARBY_BYTES_PER_FRIEND 64
/* Past this much unsent output (the kernel's socket buffer is full by then)
 * a phone's friends' changes are held back and coalesced. */
#define PHONE_OUTPUT_SOFT (64u << 10)
/* A phone with this much unread output even so is not keeping up: cut it off
 * rather than let its buffer grow (it reconnects and gets a fresh nearby). */
#define PHONE_OUTPUT_MAX (1u << 20)

void phone_send(struct phone *p, const uint8_t *frame, size_t len)
{
    if (p->conn == NULL || p->closing)
        return;
    if (http_ws_pending(p->conn) > PHONE_OUTPUT_MAX) {
        metrics_counter_inc(p->gw->m.slow_closed);
        phone_close(p, 1008, "not reading fast enough");
        return;
    }
    if (http_ws_send(p->conn, frame, len) == 0)
        metrics_counter_inc(p->gw->m.pushes_out);
}

int phone_busy(struct phone *p)
{
    if (p->conn == NULL || p->closing || http_ws_pending(p->conn) <= PHONE_OUTPUT_SOFT)
        return 0;
    if (p->session.held == 0)
        http_ws_notify_drained(p->conn);
    metrics_counter_inc(p->gw->m.coalesced);
    return 1;
}

/* The slow phone has read everything: send each held friend's latest. */
static void on_ws_drained(void *arg, struct http_conn *c)
{
    struct phone *p = http_conn_data(c);
    struct session_sink sink = gateway_session_sink;

    sink.arg = p;
    if (p->state == PHONE_LIVE)
        session_flush_held(&p->session, &sink);
}

void phone_close(struct phone *p, unsigned code, const char *reason)
{
    if (p->conn == NULL || p->closing)
        return;
    p->closing = 1;
    http_ws_close(p->conn, code, reason);
}

static void send_err(struct phone *p, enum proto_code code, const char *msg)
{
    uint8_t frame[PROTO_ERR_MSG_MAX + 64];
    int len = proto_msg_encode_err(frame, sizeof(frame), code, msg, strlen(msg));

    if (len > 0)
        phone_send(p, frame, (size_t)len);
}

/* A frame that is malformed or out of place: the phone is told, and cut off
 * after PHONE_BAD_FRAMES_MAX of them. */
static void bad_frame(struct phone *p, enum proto_code code, const char *msg)
{
    metrics_counter_inc(p->gw->m.bad_frames);
    send_err(p, code, msg);
    if (++p->bad_frames >= PHONE_BAD_FRAMES_MAX)
        phone_close(p, 1008, "too many bad frames");
}

static struct session_sink phone_sink(struct phone *p)
{
    struct session_sink sink = gateway_session_sink;

    sink.arg = p;
    return sink;
}

/* Lets go of the session's friends and its own channel reference. */
static void phone_end_session(struct phone *p)
{
    struct gateway *gw = p->gw;
    struct session_sink sink = phone_sink(p);

    session_clear_friends(&p->session, gw->channels, &sink);
    if (p->self_ref) {
        struct channel *ch = channels_get(gw->channels, p->session.user);

        p->self_ref = 0;
        if (ch != NULL) {
            ch->self_refs--;
            if (channels_release(gw->channels, ch))
                gateway_unsubscribe(gw, p->session.user);
        }
    }
}

void phone_release(struct phone *p)
{
    struct gateway *gw = p->gw;

    if (--p->refs > 0)
        return;
    phone_end_session(p);
    if (p->prev)
        p->prev->next = p->next;
    else
        gw->phones = p->next;
    if (p->next)
        p->next->prev = p->prev;
    gw->phone_count--;
    if (p->init_timer)
        event_free(p->init_timer);
    free(p);
}

static void on_init_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct phone *p = arg;

    if (p->state == PHONE_AWAIT_INIT)
        phone_close(p, 1008, "no init within 10 s");
}

static void on_positions(void *arg, int status, const struct location_cache_entry *entries,
                         size_t n)
{
    struct phone *p = arg;
    struct gateway *gw = p->gw;
    uint8_t *nearby;
    size_t cap;
    int len;

    if (p->state == PHONE_CLOSED) {
        phone_release(p);
        return;
    }
    if (status < 0)
        LOG_WARN("user %llu: no cached positions (%s); starting with none",
                 (unsigned long long)p->session.user, location_cache_strerror(status));
    for (size_t i = 0; status >= 0 && i < n; i++) {
        if (entries[i].user == p->session.user && entries[i].present && !p->session.has_position) {
            session_set_position(&p->session, entries[i].lat, entries[i].lng, entries[i].ts);
        }
    }
    if (status >= 0)
        gateway_apply_cached(gw, entries, n);
    cap = 64 + (size_t)p->session.friend_count * PHONE_NEARBY_BYTES_PER_FRIEND;
    nearby = malloc(cap);
    len = nearby ? session_encode_nearby(&p->session, nearby, cap) : -1;
    if (len < 0) {
        send_err(p, PROTO_CODE_INTERNAL, "cannot build the nearby list");
        phone_close(p, 1011, "internal error");
    } else {
        p->state = PHONE_LIVE;
        phone_send(p, nearby, (size_t)len);
    }
    free(nearby);
    phone_release(p);
}

static void on_friends(int err, const uint64_t *ids, size_t n, void *arg)
{
    struct phone *p = arg;
    struct gateway *gw = p->gw;
    struct session_sink sink = phone_sink(p);
    struct channel *self;
    uint64_t *users = NULL;
    int created = 0, rc;

    if (p->state == PHONE_CLOSED)
        goto release;
    if (err < 0) {
        LOG_WARN("user %llu: cannot load friends: %s", (unsigned long long)p->session.user,
                 friends_db_strerror(err));
        send_err(p, PROTO_CODE_INTERNAL, "cannot load your friends; try again");
        phone_close(p, 1011, "friends unavailable");
        goto release;
    }
    /* Control messages for this user (a friendship added elsewhere) come on
     * its own channel. The reference is taken at once so that the session's
     * end releases it whatever fails next. */
    self = channels_ref(gw->channels, p->session.user, &created);
    if (self != NULL) {
        self->self_refs++;
        p->self_ref = 1;
        if (created)
            gateway_subscribe(gw, p->session.user);
    }
    if (self == NULL || session_set_friends(&p->session, gw->channels, ids, n, &sink) < 0) {
        send_err(p, PROTO_CODE_INTERNAL, "out of memory");
        phone_close(p, 1011, "internal error");
        goto release;
    }
    users = malloc((p->session.friend_count + 1) * sizeof(*users));
    if (users == NULL) {
        on_positions(p, LOCATION_CACHE_ERR_NOMEM, NULL, 0);
        return;
    }
    users[0] = p->session.user;
    for (uint32_t i = 0; i < p->session.friend_count; i++)
        users[i + 1] = p->session.friends[i].channel->user;
    rc = location_cache_mget(gw->cache, users, p->session.friend_count + 1, on_positions, p);
    free(users);
    if (rc < 0)
        on_positions(p, rc, NULL, 0);
    return; /* the reference goes on to on_positions */
release:
    phone_release(p);
}

static void on_sharing(int err, bool sharing, void *arg)
{
    struct phone *p = arg;

    /* A user with no row yet shares, as the column's default says. */
    if (p->state != PHONE_CLOSED)
        p->sharing = err == 0 ? sharing : 1;
    phone_release(p);
}

static void handle_init(struct phone *p, const struct proto_msg *m)
{
    struct gateway *gw = p->gw;
    uint64_t user;
    int rc = token_verify(gw->cfg.jwt_key, gw->cfg.jwt_key_len, m->init.token, m->init.token_len,
                          (int64_t)time(NULL), &user);

    if (rc < 0) {
        send_err(p, PROTO_CODE_BAD_TOKEN, token_strerror(rc));
        phone_close(p, 1008, "bad token");
        return;
    }
    p->session.user = user;
    p->state = PHONE_LOADING;
    evtimer_del(p->init_timer);
    /* Requests on one connection complete in order: sharing is known before
     * the friends arrive and the phone goes live. */
    p->refs++;
    if (friends_db_get_sharing(gw->pg, user, on_sharing, p) < 0)
        p->refs--;
    p->refs++;
    rc = friends_db_load(gw->pg, user, on_friends, p);
    if (rc < 0) {
        p->refs--;
        send_err(p, PROTO_CODE_INTERNAL, "friends unavailable; try again");
        phone_close(p, 1011, "friends unavailable");
    }
}

static void handle_loc(struct phone *p, const struct proto_msg *m)
{
    struct gateway *gw = p->gw;
    struct session_sink sink = phone_sink(p);
    uint64_t now = gateway_now_ms();
    struct proto_payload payload = {.kind = PROTO_PAYLOAD_LOC, .user = p->session.user};

    if (!ratelimit_allow(&p->rate, now)) {
        metrics_counter_inc(gw->m.rate_limited);
        send_err(p, PROTO_CODE_RATE_LIMITED, "too many loc messages; slow down");
        return;
    }
    session_moved(&p->session, m->loc.lat, m->loc.lng, m->loc.ts, &sink);
    if (!p->sharing)
        return;
    location_cache_set(gw->cache, p->session.user, m->loc.lat, m->loc.lng, m->loc.ts,
                       gw->cfg.location_ttl_s);
    history_push(gw->history, p->session.user, m->loc.lat, m->loc.lng, (int64_t)m->loc.ts);
    /* Microseconds keep seq increasing across reconnects to other gateways. */
    p->seq = now * 1000u > p->seq ? now * 1000u : p->seq + 1;
    payload.seq = p->seq;
    payload.loc.lat = m->loc.lat;
    payload.loc.lng = m->loc.lng;
    payload.loc.ts = m->loc.ts;
    gateway_publish(gw, p->session.user, &payload);
}

static void on_ws_message(void *arg, struct http_conn *c, const uint8_t *msg, size_t len,
                          int binary)
{
    struct phone *p = http_conn_data(c);
    struct session_sink sink = phone_sink(p);
    struct proto_msg m;
    const char *reason = "";
    int rc;

    if (!binary) {
        bad_frame(p, PROTO_CODE_BAD_FRAME, "send binary frames");
        return;
    }
    rc = proto_msg_decode_from_phone(msg, len, &m, &reason);
    if (rc < 0) {
        bad_frame(p, proto_err_code(rc), reason);
        return;
    }
    if (p->state == PHONE_AWAIT_INIT) {
        if (m.type == PROTO_MSG_INIT)
            handle_init(p, &m);
        else
            bad_frame(p, PROTO_CODE_NOT_INITIALIZED, "send init first");
        return;
    }
    switch (m.type) {
    case PROTO_MSG_LOC:
        handle_loc(p, &m);
        break;
    case PROTO_MSG_RADIUS:
        if (m.radius.km > p->gw->cfg.max_radius_km) {
            bad_frame(p, PROTO_CODE_BAD_VALUE, "radius above the server's maximum");
            break;
        }
        session_set_radius(&p->session, m.radius.km, &sink);
        break;
    default:
        bad_frame(p, PROTO_CODE_BAD_TYPE, "init was sent already");
    }
}

/* Returns 1 when origin (not NUL-terminated) may connect. */
static int origin_allowed(const struct gateway_config *cfg, const char *origin, size_t len)
{
    if (cfg->origin_count == 0 || origin == NULL)
        return 1; /* no allow-list, or not a browser */
    for (size_t i = 0; i < cfg->origin_count; i++)
        if (strlen(cfg->origins[i]) == len && memcmp(cfg->origins[i], origin, len) == 0)
            return 1;
    return 0;
}

static int on_ws_open(void *arg, struct http_conn *c, const struct http_request *req)
{
    struct gateway *gw = arg;
    struct timeval init_timeout = {PHONE_INIT_TIMEOUT_S, 0};
    struct phone *p;

    if (gw->draining)
        return 503;
    if (req->path_len != 3 || memcmp(req->path, "/ws", 3) != 0)
        return 404;
    if (!origin_allowed(&gw->cfg, req->origin, req->origin_len))
        return 403;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return 503;
    p->init_timer = evtimer_new(gw->base, on_init_timeout, p);
    if (p->init_timer == NULL || evtimer_add(p->init_timer, &init_timeout) < 0) {
        if (p->init_timer)
            event_free(p->init_timer);
        free(p);
        return 503;
    }
    p->gw = gw;
    p->conn = c;
    p->refs = 1;
    p->sharing = 1;
    session_init(&p->session, 0, gw->cfg.radius_km);
    p->session.transport = p;
    ratelimit_init(&p->rate, gw->cfg.loc_rate, gw->cfg.loc_burst);
    p->next = gw->phones;
    if (gw->phones)
        gw->phones->prev = p;
    gw->phones = p;
    gw->phone_count++;
    http_conn_set_data(c, p);
    return 0;
}

static void on_ws_close(void *arg, struct http_conn *c, unsigned code)
{
    struct phone *p = http_conn_data(c);

    p->conn = NULL;
    p->state = PHONE_CLOSED;
    evtimer_del(p->init_timer);
    phone_end_session(p);
    phone_release(p);
}

static void on_request(void *arg, struct http_conn *c, const struct http_request *req)
{
    routes_handle(arg, c, req);
}

const struct http_callbacks phone_http_callbacks = {
    .on_request = on_request,
    .on_ws_open = on_ws_open,
    .on_ws_message = on_ws_message,
    .on_ws_close = on_ws_close,
    .on_ws_drained = on_ws_drained,
};
