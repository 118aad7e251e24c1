/* phone.c: one simulated phone: fetch friends, connect, init, walk and send loc, check every push. */
#include "phone.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "eio.h"
#include "friend_file.h"
#include "friend_list.h"
#include "geo.h"
#include "http_get.h"
#include "proto_msg.h"
#include "wsclient.h"
#include "ws_frame.h"

#define PHONE_TOKEN_TTL_S (7 * 86400)
#define PHONE_KM_PER_DEG_LAT 111.19508 /* pi * GEO_EARTH_RADIUS_KM / 180 */
#define PHONE_MIN_SPEED_MPS 1.0         /* a slow walk */
#define PHONE_MAX_SPEED_MPS 6.0         /* a bicycle in town */
#define PHONE_DIST_SLACK_KM 1e-9
#define PHONE_SIO_FRAME_MAX 160         /* a loc event, a pong */

static void on_open(void *arg);
static void on_message(void *arg, int opcode, uint8_t *payload, size_t len);
static void on_close(void *arg, enum wsclient_end end, unsigned code, const char *detail);
static void on_timer(evutil_socket_t fd, short what, void *arg);

static const struct wsclient_callbacks phone_ws_callbacks = {
    .on_open = on_open,
    .on_message = on_message,
    .on_close = on_close,
};

/* Counts a failed check and prints the first few. */
__attribute__((format(printf, 2, 3)))
static void check_failed(struct phone *p, const char *fmt, ...)
{
    struct loadgen *lg = p->lg;
    va_list ap;

    lg->stats.period.check_failures++;
    if (lg->reported_checks++ >= LOADGEN_REPORTED_MAX)
        return;
    fprintf(stderr, "CHECK FAILED: user %" PRIu32 " on %s: ", p->user,
            lg->targets[p->target].host);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Counts an error (not a broken rule, but something that should not happen
 * under load) and prints the first few. */
__attribute__((format(printf, 2, 3)))
static void error_seen(struct phone *p, const char *fmt, ...)
{
    struct loadgen *lg = p->lg;
    va_list ap;

    lg->stats.period.errors++;
    if (lg->reported_errors++ >= LOADGEN_REPORTED_MAX)
        return;
    fprintf(stderr, "error: user %" PRIu32 " on %s: ", p->user, lg->targets[p->target].host);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void arm(struct phone *p, double ms)
{
    struct timeval tv;

    if (ms < 0)
        ms = 0;
    tv.tv_sec = (time_t)(ms / 1000.0);
    tv.tv_usec = (suseconds_t)(fmod(ms, 1000.0) * 1000.0);
    evtimer_add(p->timer, &tv);
}

int phone_init(struct phone *p, struct loadgen *lg, uint32_t user, uint32_t target)
{
    double r, theta;

    memset(p, 0, sizeof(*p));
    p->lg = lg;
    p->user = user;
    p->target = target;
    p->ws = wsclient_new(lg->base, &phone_ws_callbacks, p);
    p->timer = evtimer_new(lg->base, on_timer, p);
    if (p->ws == NULL || p->timer == NULL)
        return -1;
    /* Uniform over the disc: the radius goes with the square root. */
    r = lg->spread_km * sqrt(loadgen_random(lg));
    theta = 2 * M_PI * loadgen_random(lg);
    p->lat = lg->center_lat + r * cos(theta) / PHONE_KM_PER_DEG_LAT;
    p->lng = lg->center_lng +
             r * sin(theta) / (PHONE_KM_PER_DEG_LAT * cos(lg->center_lat * M_PI / 180));
    p->heading = 2 * M_PI * loadgen_random(lg);
    p->speed_mps = PHONE_MIN_SPEED_MPS +
                   (PHONE_MAX_SPEED_MPS - PHONE_MIN_SPEED_MPS) * loadgen_random(lg);
    if (lg->friend_file != NULL) {
        const uint32_t *ids;
        uint32_t n = friend_file_get(lg->friend_file, user, &ids);

        p->friends = malloc((n ? n : 1) * sizeof(*p->friends));
        p->shown = calloc(n ? n : 1, sizeof(*p->shown));
        if (p->friends == NULL || p->shown == NULL)
            return -1;
        memcpy(p->friends, ids, n * sizeof(*ids));
        p->friend_count = n;
        p->has_friends = 1;
    }
    return 0;
}

void phone_free(struct phone *p)
{
    if (p->fetch != NULL)
        http_get_cancel(p->fetch);
    p->fetch = NULL;
    wsclient_free(p->ws);
    p->ws = NULL;
    if (p->timer != NULL)
        event_free(p->timer);
    p->timer = NULL;
    free(p->friends);
    free(p->shown);
    p->friends = NULL;
    p->shown = NULL;
}

/* Returns the index of user among the friends, or -1. */
static long friend_index(const struct phone *p, uint64_t user)
{
    size_t lo = 0, hi = p->friend_count;

    if (user > UINT32_MAX)
        return -1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (p->friends[mid] < user)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < p->friend_count && p->friends[lo] == user ? (long)lo : -1;
}

/* Waits 100..1000 ms, then tries again on the next target. */
static void retry_later(struct phone *p)
{
    p->state = PHONE_WAITING;
    p->target = (uint32_t)((p->target + 1) % p->lg->target_count);
    arm(p, 100 + 900 * loadgen_random(p->lg));
}

static void connect_ws(struct phone *p)
{
    const struct loadgen_target *t = &p->lg->targets[p->target];
    socklen_t src_len = 0;
    const struct sockaddr *src = loadgen_next_source(p->lg, &src_len);

    if (wsclient_connect(p->ws, (const struct sockaddr *)&t->addr, t->addr_len, src, src_len,
                         t->host, t->path, t->tls, t->tls_name) < 0) {
        error_seen(p, "connect: %s", strerror(errno));
        retry_later(p);
        return;
    }
    p->state = PHONE_CONNECTING;
    arm(p, PHONE_NEARBY_DEADLINE_MS);
}

static void on_friends(void *arg, int status, const char *body, size_t body_len)
{
    struct phone *p = arg;
    uint64_t user;
    uint32_t *ids;
    size_t n;
    int rc;

    p->fetch = NULL;
    if (status < 0) {
        error_seen(p, "GET /v1/friends: %s", http_get_strerror(status));
        retry_later(p);
        return;
    }
    if (status != 200) {
        error_seen(p, "GET /v1/friends: HTTP %d: %.*s", status, (int)(body_len > 200 ? 200 : body_len),
                   body);
        retry_later(p);
        return;
    }
    rc = friend_list_parse(body, body_len, &user, &ids, &n);
    if (rc < 0 || user != p->user) {
        check_failed(p, "GET /v1/friends answered %s: %.*s",
                     rc < 0 ? friend_list_strerror(rc) : "another user's list",
                     (int)(body_len > 200 ? 200 : body_len), body);
        if (rc == 0)
            free(ids);
        retry_later(p);
        return;
    }
    p->shown = n ? calloc(n, sizeof(*p->shown)) : NULL;
    if (n && p->shown == NULL) {
        free(ids);
        error_seen(p, "out of memory for %zu friends", n);
        retry_later(p);
        return;
    }
    p->friends = ids;
    p->friend_count = (uint32_t)n;
    p->has_friends = 1;
    connect_ws(p);
}

static void fetch_friends(struct phone *p)
{
    const struct loadgen_target *t = &p->lg->targets[p->target];
    char token[TOKEN_LEN_MAX];
    socklen_t src_len = 0;
    const struct sockaddr *src = loadgen_next_source(p->lg, &src_len);

    if (token_sign_key(&p->lg->key, p->user, (int64_t)time(NULL) + PHONE_TOKEN_TTL_S,
                   token, sizeof(token)) < 0) {
        error_seen(p, "token_sign_key failed");
        retry_later(p);
        return;
    }
    p->fetch = http_get_start(p->lg->base, (const struct sockaddr *)&t->addr, t->addr_len, src,
                              src_len, t->host, "/v1/friends", token, PHONE_FETCH_TIMEOUT_MS,
                              on_friends, p, t->tls, t->tls_name);
    if (p->fetch == NULL) {
        error_seen(p, "GET /v1/friends: %s", strerror(errno));
        retry_later(p);
        return;
    }
    p->state = PHONE_FETCHING;
}

void phone_start(struct phone *p)
{
    if (p->has_friends)
        connect_ws(p);
    else
        fetch_friends(p);
}

static void on_open(void *arg)
{
    struct phone *p = arg;
    char token[TOKEN_LEN_MAX];
    uint8_t frame[PROTO_FRAME_MAX];
    int tlen, n;

    if (p->lg->protocol == LOADGEN_PROTOCOL_SOCKETIO) {
        /* The server speaks first: its open packet, then we connect. */
        p->state = PHONE_AWAIT_OPEN;
        p->sio_connected = 0;
        return;
    }
    tlen = token_sign_key(&p->lg->key, p->user, (int64_t)time(NULL) + PHONE_TOKEN_TTL_S,
                      token, sizeof(token));
    n = tlen < 0 ? tlen : proto_msg_encode_init(frame, sizeof(frame), token, (size_t)tlen);
    if (n < 0 || wsclient_send(p->ws, WS_OP_BINARY, frame, (size_t)n) < 0) {
        error_seen(p, "could not send init");
        wsclient_abort(p->ws);
        retry_later(p);
        return;
    }
    wsclient_flush(p->ws);
    if (wsclient_is_open(p->ws))
        p->state = PHONE_AWAIT_NEARBY;
}

/* Advances the walk to now: straight on at the phone's speed with a little
 * turning, and back towards the centre whenever a step would leave the area. */
static void walk(struct phone *p, double now_ms)
{
    struct loadgen *lg = p->lg;
    double dt_s = (now_ms - p->moved_at_ms) / 1000.0, step_km, lat, lng;

    p->moved_at_ms = now_ms;
    if (!(dt_s > 0))
        return;
    if (dt_s > 60)
        dt_s = 60;
    step_km = p->speed_mps * dt_s / 1000.0;
    p->heading += (loadgen_random(lg) - 0.5) * 1.2;
    for (int attempt = 0; attempt < 2; attempt++) {
        lat = p->lat + step_km * cos(p->heading) / PHONE_KM_PER_DEG_LAT;
        lng = p->lng + step_km * sin(p->heading) / (PHONE_KM_PER_DEG_LAT * cos(p->lat * M_PI / 180));
        if (geo_distance_km(lat, lng, lg->center_lat, lg->center_lng) <= lg->spread_km)
            break;
        /* Turn towards the centre: atan2 of the (north, east) offsets. */
        p->heading = atan2((lg->center_lng - p->lng) * cos(p->lat * M_PI / 180),
                           lg->center_lat - p->lat);
        lat = p->lat;
        lng = p->lng;
    }
    p->lat = lat;
    p->lng = lng;
}

/* Sends loc with a ts above every earlier one of this user, and records it
 * in the ledger once it is on its way. */
/* Counts a loc of ts, sent or skipped, in the window when it falls in it. */
static void window_loc(struct phone *p, uint64_t ts, int sent)
{
    struct loadgen_window *w = &p->lg->window;

    if (ts < w->from_ts || ts >= w->to_ts)
        return;
    if (sent)
        w->updates++;
    else
        w->skipped++;
    w->expected += p->friend_count;
}

static void send_loc(struct phone *p)
{
    char frame[PHONE_SIO_FRAME_MAX];
    double now = loadgen_now_ms();
    uint64_t ts = ledger_next_ts(p->lg->ledger, p->user, (uint64_t)now);
    int n, opcode = WS_OP_BINARY;

    if (ts > p->lg->window.ts_max)
        p->lg->window.ts_max = ts;
    if (strangers_paired(p->lg, p->user))
        strangers_next_position(p->lg, p->user, &p->strangers, &p->lat, &p->lng);
    else
        walk(p, now);
    if (p->lg->protocol == LOADGEN_PROTOCOL_SOCKETIO) {
        n = eio_encode_loc(frame, sizeof(frame), p->lat, p->lng, ts);
        opcode = WS_OP_TEXT;
    } else {
        n = proto_msg_encode_loc((uint8_t *)frame, sizeof(frame), p->lat, p->lng, ts);
    }
    if (n < 0) {
        check_failed(p, "loc (%f, %f) does not encode: %d", p->lat, p->lng, n);
        return;
    }
    if (wsclient_send(p->ws, opcode, (const uint8_t *)frame, (size_t)n) < 0) {
        p->lg->stats.period.skipped++;
        window_loc(p, ts, 0);
        return;
    }
    p->lg->stats.period.updates++;
    window_loc(p, ts, 1);
    if (strangers_member(p->lg, p->user))
        ; /* far from every friend: nobody is due to see it (strangers.h) */
    else if (ledger_publish(p->lg->ledger, p->user, ts) < 0)
        check_failed(p, "loc ts %" PRIu64 " does not rise", ts);
    wsclient_flush(p->ws);
}

/* A nearby begins: returns 0, or -1 when none was due (a failed check). */
static int nearby_begin(struct phone *p, double radius_km)
{
    if (p->state != PHONE_AWAIT_NEARBY) {
        check_failed(p, "a second nearby on one connection");
        return -1;
    }
    p->radius_km = radius_km;
    for (uint32_t i = 0; i < p->friend_count; i++)
        p->shown[i].ts = 0;
    return 0;
}

/* One friend of the nearby list. */
static void nearby_friend(struct phone *p, const struct proto_friend *f)
{
    long i = friend_index(p, f->id);

    if (f->id == p->user) {
        check_failed(p, "nearby lists the user itself");
    } else if (i < 0) {
        check_failed(p, "nearby lists %" PRIu64 ", who is not a friend", f->id);
    } else if (p->shown[i].ts != 0) {
        check_failed(p, "nearby lists %" PRIu64 " twice", f->id);
    } else {
        p->shown[i].lat = (float)f->lat;
        p->shown[i].lng = (float)f->lng;
        p->shown[i].ts = f->ts ? f->ts : 1;
    }
    if (!(f->dist_km <= p->radius_km + PHONE_DIST_SLACK_KM))
        check_failed(p, "nearby lists %" PRIu64 " at %.6f km, radius %.6f km", f->id,
                     f->dist_km, p->radius_km);
}

/* The nearby list is read: the session is live, and the phone shows itself. */
static void nearby_end(struct phone *p)
{
    p->lg->stats.period.nearbys++;
    p->lg->stats.sessions++;
    if (p->sessions_before++ > 0)
        p->lg->stats.period.reconnects++;
    p->state = PHONE_LIVE;
    p->moved_at_ms = loadgen_now_ms();
    p->nearby_at_ms = (uint64_t)p->moved_at_ms;
    evtimer_del(p->timer);
    if (strangers_member(p->lg, p->user)) {
        uint8_t on[32];
        int n = proto_msg_encode_strangers(on, sizeof(on), 1);

        strangers_session(&p->strangers);
        if (n > 0)
            wsclient_send(p->ws, WS_OP_BINARY, on, (size_t)n);
    }
    if (p->lg->quiet)
        return;
    send_loc(p); /* show ourselves at once; then every interval */
    if (p->state == PHONE_LIVE)
        arm(p, p->lg->interval_ms * (0.8 + 0.4 * loadgen_random(p->lg)));
}

static void handle_nearby(struct phone *p, const struct proto_msg *m)
{
    struct proto_nearby_iter it;
    struct proto_friend f;
    int rc;

    if (nearby_begin(p, m->nearby.radius_km) < 0)
        return;
    proto_nearby_iter_init(&it, &m->nearby);
    while ((rc = proto_nearby_iter_next(&it, &f)) == 1)
        nearby_friend(p, &f);
    if (rc < 0)
        check_failed(p, "nearby friends do not decode: %s", proto_strerror(rc));
    nearby_end(p);
}

/* Returns the ts from which on p counts updates of the friend at index i:
 * the newer of what p shows and p's nearby. */
static uint64_t counted_from(const struct phone *p, uint32_t i)
{
    return p->shown[i].ts > p->nearby_at_ms ? p->shown[i].ts : p->nearby_at_ms;
}

static void handle_friend(struct phone *p, const struct proto_friend *f)
{
    long i = friend_index(p, f->id);

    p->lg->stats.period.pushes++;
    p->lg->stats.period.friends++;
    if (p->state != PHONE_LIVE) {
        check_failed(p, "friend %" PRIu64 " before nearby", f->id);
        return;
    }
    if (f->id == p->user) {
        check_failed(p, "friend message about the user itself");
        return;
    }
    if (i < 0) {
        check_failed(p, "friend message about %" PRIu64 ", who is not a friend", f->id);
        return;
    }
    if (!(f->dist_km <= p->radius_km + PHONE_DIST_SLACK_KM))
        check_failed(p, "friend %" PRIu64 " at %.6f km, radius %.6f km", f->id, f->dist_km,
                     p->radius_km);
    if (p->shown[i].ts != 0) {
        if (f->ts <= p->shown[i].ts) {
            p->lg->stats.period.dups++;
            check_failed(p, "friend %" PRIu64 " with ts %" PRIu64 ", not newer than shown %" PRIu64,
                         f->id, f->ts, p->shown[i].ts);
            return;
        }
        /* Only moves of a shown friend are timed: an appearance can be a
         * stale position re-shown because this phone moved. */
        stats_latency(&p->lg->stats, loadgen_now_ms() - (double)f->ts);
        p->lg->stats.period.lost +=
            ledger_count_between(p->lg->ledger, (uint32_t)f->id, counted_from(p, (uint32_t)i), f->ts);
    }
    if (f->ts >= p->lg->window.from_ts && f->ts < p->lg->window.to_ts)
        p->lg->window.delivered++;
    p->shown[i].lat = (float)f->lat;
    p->shown[i].lng = (float)f->lng;
    p->shown[i].ts = f->ts ? f->ts : 1;
}

static void handle_gone(struct phone *p, uint64_t id)
{
    long i = friend_index(p, id);

    p->lg->stats.period.pushes++;
    p->lg->stats.period.gones++;
    if (p->state != PHONE_LIVE)
        check_failed(p, "gone %" PRIu64 " before nearby", id);
    else if (id == p->user)
        check_failed(p, "gone about the user itself");
    else if (i < 0)
        check_failed(p, "gone about %" PRIu64 ", who is not a friend", id);
    else if (p->shown[i].ts == 0)
        check_failed(p, "gone about %" PRIu64 ", who was not shown", id);
    else
        p->shown[i].ts = 0;
}

/* The server ended the session inside the protocol (Socket.IO's 41 or 1, or
 * a refused connect): hang up and try again later, as after a close. */
static void session_ended(struct phone *p)
{
    if (p->state == PHONE_LIVE)
        p->lg->stats.sessions--;
    evtimer_del(p->timer);
    wsclient_abort(p->ws);
    retry_later(p);
}

/* Sends one Socket.IO text frame now. Returns 0, or -1 when it did not fit. */
static int sio_send(struct phone *p, const char *frame, int n)
{
    if (n < 0 || wsclient_send(p->ws, WS_OP_TEXT, (const uint8_t *)frame, (size_t)n) < 0)
        return -1;
    wsclient_flush(p->ws);
    return 0;
}

/* Socket.IO's open packet: connect to namespace "/" with the token as auth. */
static void sio_open(struct phone *p)
{
    char token[TOKEN_LEN_MAX], frame[TOKEN_LEN_MAX + 32];
    int tlen;

    if (p->state != PHONE_AWAIT_OPEN) {
        check_failed(p, "a second Engine.IO open packet");
        return;
    }
    tlen = token_sign_key(&p->lg->key, p->user, (int64_t)time(NULL) + PHONE_TOKEN_TTL_S,
                      token, sizeof(token));
    if (tlen < 0 || sio_send(p, frame, eio_encode_connect(frame, sizeof(frame), token,
                                                          (size_t)tlen)) < 0) {
        error_seen(p, "could not send the Socket.IO connect");
        session_ended(p);
        return;
    }
    if (wsclient_is_open(p->ws))
        p->state = PHONE_AWAIT_NEARBY;
}

static void sio_event(struct phone *p, const struct eio_packet *pk)
{
    struct eio_nearby n;
    struct eio_nearby_iter it;
    struct proto_friend f;
    int rc;

    if (eio_span_is(pk->event.name, "friend")) {
        rc = eio_decode_friend(pk->event.arg.ptr, pk->event.arg.len, &f);
        if (rc < 0)
            check_failed(p, "a friend event does not decode: %s", eio_strerror(rc));
        else
            handle_friend(p, &f);
    } else if (eio_span_is(pk->event.name, "nearby")) {
        if (!p->sio_connected) {
            check_failed(p, "nearby before the server's connect (40)");
            return;
        }
        rc = eio_decode_nearby(pk->event.arg.ptr, pk->event.arg.len, &n);
        if (rc < 0) {
            check_failed(p, "a nearby event does not decode: %s", eio_strerror(rc));
            return;
        }
        if (nearby_begin(p, n.radius_km) < 0)
            return;
        eio_nearby_iter_init(&it, &n);
        while (eio_nearby_iter_next(&it, &f) == 1)
            nearby_friend(p, &f);
        nearby_end(p);
    } else {
        check_failed(p, "an event '%.*s' nobody sends", (int)pk->event.name.len,
                     pk->event.name.ptr);
    }
}

/* One Engine.IO packet from a Socket.IO server. */
static void sio_message(struct phone *p, int opcode, const char *frame, size_t len)
{
    char pong[PHONE_SIO_FRAME_MAX];
    struct eio_packet pk;
    int rc;

    if (opcode != WS_OP_TEXT) {
        check_failed(p, "a binary frame of %zu bytes from the Socket.IO server", len);
        return;
    }
    rc = eio_parse(frame, len, &pk);
    if (rc < 0) {
        check_failed(p, "a packet of %zu bytes does not parse (%s): %.*s", len, eio_strerror(rc),
                     (int)(len > 80 ? 80 : len), frame);
        return;
    }
    if (pk.kind >= EIO_KIND_CONNECT && !eio_span_is(pk.ns, "/")) {
        check_failed(p, "a packet for namespace %.*s", (int)pk.ns.len, pk.ns.ptr);
        return;
    }
    switch (pk.kind) {
    case EIO_KIND_OPEN:
        sio_open(p);
        break;
    case EIO_KIND_PING:
        if (sio_send(p, pong, eio_encode_pong(pong, sizeof(pong), pk.ping.data)) < 0) {
            error_seen(p, "could not answer a ping");
            session_ended(p);
        }
        break;
    case EIO_KIND_CONNECT:
        if (p->state != PHONE_AWAIT_NEARBY || p->sio_connected)
            check_failed(p, "a Socket.IO connect (40) nobody asked for");
        p->sio_connected = 1;
        break;
    case EIO_KIND_CONNECT_ERROR:
        error_seen(p, "the server refused the connect: %.*s", (int)pk.error.message.len,
                   pk.error.message.ptr);
        session_ended(p);
        break;
    case EIO_KIND_DISCONNECT:
    case EIO_KIND_CLOSE:
        if (!p->lg->shutting_down)
            error_seen(p, "the server ended the session (%s)",
                       pk.kind == EIO_KIND_CLOSE ? "close" : "disconnect");
        session_ended(p);
        break;
    case EIO_KIND_EVENT:
        if (p->state == PHONE_AWAIT_OPEN)
            check_failed(p, "an event before the open packet");
        else
            sio_event(p, &pk);
        break;
    case EIO_KIND_OTHER:
        check_failed(p, "a Socket.IO packet (type %c) nobody asked for", len > 1 ? frame[1] : '?');
        break;
    case EIO_KIND_PONG:
    case EIO_KIND_UPGRADE:
    case EIO_KIND_NOOP:
        break;
    }
}

static void on_message(void *arg, int opcode, uint8_t *payload, size_t len)
{
    struct phone *p = arg;
    struct proto_msg m;
    const char *reason = NULL;
    int rc;

    if (p->lg->protocol == LOADGEN_PROTOCOL_SOCKETIO) {
        sio_message(p, opcode, (const char *)payload, len);
        return;
    }
    if (opcode != WS_OP_BINARY) {
        check_failed(p, "a text frame of %zu bytes", len);
        return;
    }
    rc = proto_msg_decode_from_gateway(payload, len, &m, &reason);
    if (rc < 0) {
        check_failed(p, "a frame of %zu bytes does not decode: %s", len,
                     reason ? reason : proto_strerror(rc));
        return;
    }
    switch (m.type) {
    case PROTO_MSG_NEARBY:
        handle_nearby(p, &m);
        break;
    case PROTO_MSG_FRIEND:
        handle_friend(p, &m.friend);
        break;
    case PROTO_MSG_GONE:
        handle_gone(p, m.gone.id);
        break;
    case PROTO_MSG_STRANGER:
    case PROTO_MSG_STRANGER_GONE:
        if (strangers_member(p->lg, p->user))
            strangers_frame(p->lg, p->user, &p->strangers, &m);
        else
            check_failed(p, "a %s frame without strangers on", proto_msg_type_name(m.type));
        break;
    case PROTO_MSG_ERR:
        if (m.err.code == PROTO_CODE_RATE_LIMITED) {
            /* Frames are answered in order and a phone sends one loc per
             * interval, so the refused one is the last sent. */
            p->lg->stats.period.rate_limited++;
            ledger_retract(p->lg->ledger, p->user);
            if (strangers_member(p->lg, p->user))
                strangers_retract(&p->strangers);
        } else
            error_seen(p, "err %.*s: %.*s", (int)m.err.code_len, m.err.code_str,
                       (int)m.err.msg_len, m.err.msg);
        break;
    default:
        check_failed(p, "a %s frame from the gateway", proto_msg_type_name(m.type));
    }
}

static void on_close(void *arg, enum wsclient_end end, unsigned code, const char *detail)
{
    struct phone *p = arg;

    if (p->state == PHONE_LIVE)
        p->lg->stats.sessions--;
    evtimer_del(p->timer);
    if (p->state == PHONE_DONE) {
        if (p->stopping)
            loadgen_phone_closed(p->lg);
        p->stopping = 0;
        return;
    }
    switch (end) {
    case WSCLIENT_END_CONNECT:
        error_seen(p, "connect: %s", detail);
        break;
    case WSCLIENT_END_HANDSHAKE:
        error_seen(p, "handshake: %s", detail);
        break;
    case WSCLIENT_END_PROTOCOL:
        check_failed(p, "the gateway broke the framing: %s", detail);
        break;
    case WSCLIENT_END_CLOSED:
        /* 1001 from a draining gateway is what reconnects are for; other
         * codes mean the gateway threw us out. */
        if (code != WS_CLOSE_GOING_AWAY && code != WS_CLOSE_NORMAL)
            error_seen(p, "closed by the gateway with %u", code);
        break;
    case WSCLIENT_END_DROPPED:
        break;
    }
    retry_later(p);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct phone *p = arg;

    switch (p->state) {
    case PHONE_WAITING:
        phone_start(p);
        break;
    case PHONE_CONNECTING:
    case PHONE_AWAIT_OPEN:
    case PHONE_AWAIT_NEARBY:
        error_seen(p, "no nearby within %d ms", PHONE_NEARBY_DEADLINE_MS);
        wsclient_abort(p->ws);
        retry_later(p);
        break;
    case PHONE_LIVE:
        if (p->lg->quiet)
            break;
        send_loc(p);
        if (p->state == PHONE_LIVE)
            arm(p, p->lg->interval_ms * (0.8 + 0.4 * loadgen_random(p->lg)));
        break;
    default:
        break;
    }
}

uint64_t phone_unreceived(const struct phone *p)
{
    uint64_t n = 0;

    if (p->state != PHONE_LIVE || strangers_member(p->lg, p->user))
        return 0; /* a member is far from its friends: nothing of theirs is due */
    for (uint32_t i = 0; i < p->friend_count; i++)
        n += ledger_count_after(p->lg->ledger, p->friends[i], counted_from(p, i));
    return n;
}

int phone_online(const struct phone *p)
{
    return p->state == PHONE_LIVE;
}

uint64_t phone_behind(const struct phone *p, const uint64_t *due, size_t n)
{
    uint64_t behind = 0;

    if (p->state != PHONE_LIVE)
        return 1;
    if (strangers_member(p->lg, p->user))
        return 0;
    for (uint32_t i = 0; i < p->friend_count; i++) {
        uint32_t id = p->friends[i];

        if (id <= n && p->shown[i].ts < due[id - 1])
            behind++;
    }
    return behind;
}

int phone_stop(struct phone *p)
{
    evtimer_del(p->timer);
    if (p->fetch != NULL)
        http_get_cancel(p->fetch);
    p->fetch = NULL;
    if (p->state == PHONE_LIVE)
        p->lg->stats.sessions--;
    p->state = PHONE_DONE;
    if (!wsclient_is_open(p->ws)) {
        wsclient_abort(p->ws);
        return 0;
    }
    wsclient_close(p->ws, WS_CLOSE_NORMAL, 2000);
    /* A close that failed at once has called on_close already. */
    p->stopping = wsclient_busy(p->ws);
    return p->stopping;
}
