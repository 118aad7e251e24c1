/* phone.c: one phone's WebSocket session: init with a token, its channels subscribed and read before anything is shown, loc, radius, refresh, expiry.
 *
 * A session starts in this order, so that no change made meanwhile can be
 * missed (gateway-internal.h, channel_sync.c):
 *   1. init: the token is checked; the user's own channel is referenced and
 *      subscribed (control messages for the user arrive there);
 *   2. once that channel is synced (subscription confirmed, consent read),
 *      the friend list is read from PostgreSQL (which makes the user's row on
 *      first sight);
 *   3. every friend's channel is referenced and subscribed; once all are
 *      synced, `nearby` goes out and the session is live.
 * A friendship change heard on the user's channel at any time re-reads the
 * friend list (a generation counter drops answers older than the change).
 * Strangers (`{t:"strangers", on}`) are off at every session start; asked
 * for before the session is live, they start with it (cell_channels.c).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "friends_db.h"
#include "gateway-internal.h"
#include "log.h"
#include "ordering.h"
#include "proto_msg.h"
#include "ratelimit.h"
#include "token.h"

#define PHONE_INIT_TIMEOUT_S 10
#define PHONE_START_TIMEOUT_S 10 /* from init to nearby */
#define PHONE_BAD_FRAMES_MAX 5
/* A phone's ts may run this far ahead of the gateway's clock (and is then
 * taken as now); further is refused, so nobody can stamp positions that
 * would hide their later ones or show a false time. */
#define PHONE_TS_AHEAD_MAX_MS 30000
/* Past this much unsent output (the kernel's socket buffer is full by then)
 * a phone's friends' changes are held back and coalesced. A phone with
 * --output-max unread even so is not keeping up: the transport resets it
 * (1008, nearby_slow_phones_closed_total) rather than let its buffer grow;
 * it reconnects and gets a fresh nearby. */
#define PHONE_OUTPUT_SOFT (64u << 10)
/* Close code for "try again later" (RFC 6455, IANA registry). */
#define PHONE_CLOSE_TRY_AGAIN 1013
/* Close code of a session replaced by a newer one of the same user. */
#define PHONE_CLOSE_REPLACED 4002

enum phone_state {
    PHONE_AWAIT_INIT,  /* connected, no valid init yet */
    PHONE_WAIT_SELF,   /* token good; the user's own channel being synced */
    PHONE_LOADING,     /* the friend list being read */
    PHONE_WAIT_FRIENDS, /* the friends' channels being synced */
    PHONE_LIVE,
    PHONE_CLOSED,      /* the WebSocket is gone; freed when the last reference goes */
};

/* One connected phone. Reference counted: the connection holds one, a
 * friend-list read in flight holds one. */
struct phone {
    struct session session;   /* session.transport is this phone */
    struct gateway *gw;       /* ref: owned by main */
    struct http_conn *conn;   /* ref: owned by the HTTP server; NULL once closed */
    struct channel *self;     /* ref: the user's own channel entry, owned by the table;
                               * this session is among its owners; NULL before init */
    enum phone_state state;
    unsigned refs;
    unsigned bad_frames;
    int closing;              /* phone_close was called */
    uint64_t seq;             /* last sequence published */
    uint64_t friends_gen;     /* bumped by every friendship change heard */
    uint64_t loading_gen;     /* the generation of the friend read in flight; 0: none */
    uint32_t wait_cursor;     /* WAIT_FRIENDS: friends before this one are synced */
    int64_t token_exp;        /* seconds since the epoch */
    struct ratelimit rate;
    struct ratelimit radius_rate; /* radius messages: the loc rate, a bucket of their own */
    struct ratelimit strangers_rate; /* strangers on/off: the same, a bucket of their own */
    struct stranger_view *strangers; /* strangers on: the view (cell_channels.c), else NULL */
    int strangers_wanted;     /* what the phone last asked for */
    uint64_t started_seq;     /* gw->session_seq at init: the lowest of a user goes first */
    int starting;             /* counted in gw->starting (init accepted, no nearby yet) */
    struct event *timer;      /* init, then start, deadline; then the token's exp */
    struct phone *prev, *next;   /* the gateway's list of phones */
    struct phone *wprev, *wnext; /* the gateway's list of phones waiting for syncs */
    int in_waiting;
};

static void phone_close(struct phone *p, unsigned code, const char *reason);
static void load_friends(struct phone *p);

/* -- sending ---------------------------------------------------------------- */

/* Queues a frame. One that would pass --output-max is dropped and the
 * transport resets the connection at the end of the loop round. */
static void phone_send(struct phone *p, const uint8_t *frame, size_t len)
{
    if (p->conn == NULL || p->closing)
        return;
    if (http_ws_send(p->conn, frame, len) == 0)
        metrics_counter_inc(p->gw->m.pushes_out);
}

/* Returns 1 while the phone has more than PHONE_OUTPUT_SOFT unsent: its
 * friends' changes are then held back and flushed, latest only, once it has
 * read everything (counted in nearby_pushes_coalesced_total). */
static int phone_busy(struct phone *p)
{
    if (p->conn == NULL || p->closing || http_ws_pending(p->conn) <= PHONE_OUTPUT_SOFT)
        return 0;
    if (p->session.held == 0)
        http_ws_notify_drained(p->conn);
    metrics_counter_inc(p->gw->m.coalesced);
    return 1;
}

static void phone_close(struct phone *p, unsigned code, const char *reason)
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

/* -- the sink sessions write through --------------------------------------- */

static void sink_send(void *arg, struct session *s, const uint8_t *frame, size_t len)
{
    struct phone *p = s->transport;

    /* Until its nearby goes out a phone hears nothing: nearby replaces
     * whatever the session decided while it was loading. */
    if (p->state == PHONE_LIVE)
        phone_send(p, frame, len);
}

static void sink_created(void *arg, struct channel *ch)
{
    gateway_channel_created(arg, ch);
}

static void sink_released(void *arg, uint64_t user)
{
    gateway_unsubscribe(arg, user);
}

static int sink_busy(void *arg, struct session *s)
{
    return phone_busy(s->transport);
}

void phone_sink_init(struct gateway *gw)
{
    gw->sink = (struct session_sink){sink_send, sink_created, sink_released, gw, sink_busy};
}

/* -- the lists ---------------------------------------------------------------- */

static void waiting_add(struct phone *p)
{
    struct gateway *gw = p->gw;

    if (p->in_waiting)
        return;
    p->in_waiting = 1;
    p->wprev = NULL;
    p->wnext = gw->waiting;
    if (gw->waiting)
        gw->waiting->wprev = p;
    gw->waiting = p;
}

static void waiting_remove(struct phone *p)
{
    struct gateway *gw = p->gw;

    if (!p->in_waiting)
        return;
    p->in_waiting = 0;
    if (p->wprev)
        p->wprev->wnext = p->wnext;
    else
        gw->waiting = p->wnext;
    if (p->wnext)
        p->wnext->wprev = p->wprev;
}

/* The session is live, or will never be: it no longer counts as starting. */
static void done_starting(struct phone *p)
{
    if (p->starting) {
        p->starting = 0;
        p->gw->starting--;
    }
}

/* Lets go of the session's friends and its own channel. */
static void phone_end_session(struct phone *p)
{
    struct gateway *gw = p->gw;

    done_starting(p);
    waiting_remove(p);
    if (p->strangers != NULL) {
        /* Before the friends go: nobody is shown as a stranger meanwhile. */
        strangers_off(gw, p->strangers);
        p->strangers = NULL;
    }
    session_clear_friends(&p->session, gw->channels, &gw->sink);
    if (p->self != NULL) {
        struct channel *ch = p->self;

        p->self = NULL;
        channel_remove_owner(ch, &p->session);
        if (channels_release(gw->channels, ch))
            gateway_unsubscribe(gw, p->session.user);
    }
}

static void phone_release(struct phone *p)
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
    if (p->timer)
        event_free(p->timer);
    free(p);
}

/* -- timers --------------------------------------------------------------------- */

static void arm_timer(struct phone *p, time_t seconds)
{
    struct timeval tv = {seconds > 0 ? seconds : 0, 0};

    evtimer_add(p->timer, &tv);
}

/* Arms the timer for the token's expiry, to the millisecond. */
static void arm_expiry(struct phone *p)
{
    int64_t left_ms = p->token_exp * 1000 - (int64_t)gateway_now_ms();
    struct timeval tv = {0, 0};

    if (left_ms > 0) {
        tv.tv_sec = (time_t)(left_ms / 1000);
        tv.tv_usec = (suseconds_t)(left_ms % 1000) * 1000;
    }
    evtimer_add(p->timer, &tv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct phone *p = arg;

    switch (p->state) {
    case PHONE_AWAIT_INIT:
        metrics_counter_inc(p->gw->m.init_timeouts);
        phone_close(p, 1008, "no init within 10 s");
        break;
    case PHONE_WAIT_SELF:
    case PHONE_LOADING:
    case PHONE_WAIT_FRIENDS:
        LOG_WARN("user %" PRIu64 ": session not ready after %d s; closing",
                 p->session.user, PHONE_START_TIMEOUT_S);
        send_err(p, PROTO_CODE_INTERNAL, "your session could not start; try again");
        phone_close(p, 1011, "session start timed out");
        break;
    case PHONE_LIVE:
        if ((int64_t)gateway_now_ms() < p->token_exp * 1000) {
            arm_expiry(p); /* refreshed meanwhile */
            break;
        }
        metrics_counter_inc(p->gw->m.tokens_expired);
        send_err(p, PROTO_CODE_TOKEN_EXPIRED, "your token expired; connect with a new one");
        phone_close(p, 4001, "token_expired");
        break;
    case PHONE_CLOSED:
        break;
    }
}

/* -- strangers ------------------------------------------------------------------ */

/* Makes the session's strangers what the phone asked for, once it is live. */
static void apply_strangers(struct phone *p)
{
    struct gateway *gw = p->gw;

    if (p->state != PHONE_LIVE)
        return;
    if (p->strangers_wanted && p->strangers == NULL) {
        p->strangers = strangers_on(gw, &p->session);
        if (p->strangers == NULL) {
            p->strangers_wanted = 0;
            send_err(p, PROTO_CODE_INTERNAL, "cannot switch strangers on; try again");
        }
    } else if (!p->strangers_wanted && p->strangers != NULL) {
        strangers_off(gw, p->strangers);
        p->strangers = NULL;
    }
}

static void handle_strangers(struct phone *p, const struct proto_msg *m)
{
    if (!ratelimit_allow(&p->strangers_rate, gateway_now_ms())) {
        metrics_counter_inc(p->gw->m.rate_limited);
        send_err(p, PROTO_CODE_RATE_LIMITED, "too many strangers messages; slow down");
        return;
    }
    p->strangers_wanted = m->strangers.on;
    apply_strangers(p);
}

/* -- session start ----------------------------------------------------------- */

/* Sends nearby once every friend's channel is synced. */
static void try_go_live(struct phone *p)
{
    struct session *s = &p->session;
    uint8_t *nearby;
    size_t cap;
    int len;

    while (p->wait_cursor < s->friend_count && s->friends[p->wait_cursor].channel->synced)
        p->wait_cursor++;
    if (p->wait_cursor < s->friend_count)
        return;
    waiting_remove(p);
    done_starting(p);
    /* The user's own last position, if this gateway knows one (the own
     * channel's cached position, read as any other). */
    if (!s->has_position && channel_visible(p->self))
        session_set_position(s, p->self->lat, p->self->lng, p->self->ts);
    cap = PROTO_NEARBY_SIZE_MAX(s->friend_count);
    nearby = malloc(cap);
    len = nearby ? session_encode_nearby(s, nearby, cap) : -1;
    if (len < 0) {
        send_err(p, PROTO_CODE_INTERNAL, "cannot build the nearby list");
        phone_close(p, 1011, "internal error");
    } else {
        p->state = PHONE_LIVE;
        phone_send(p, nearby, (size_t)len);
        arm_expiry(p);
        apply_strangers(p);
    }
    free(nearby);
}

void phones_synced(struct gateway *gw)
{
    struct phone *p = gw->waiting, *next;

    for (; p != NULL; p = next) {
        next = p->wnext;
        if (p->state == PHONE_WAIT_SELF && p->self->synced) {
            waiting_remove(p);
            p->state = PHONE_LOADING;
            load_friends(p);
        } else if (p->state == PHONE_WAIT_FRIENDS) {
            try_go_live(p);
        }
    }
}

/* Adds and removes friends so that the session's list is ids (ascending):
 * the answer of a re-read after a friendship change. */
static void sync_friends(struct phone *p, const uint64_t *ids, size_t n)
{
    struct gateway *gw = p->gw;
    struct session *s = &p->session;
    uint64_t *gone = malloc((s->friend_count + 1) * sizeof(*gone));
    size_t ngone = 0, j = 0;

    if (gone == NULL) {
        phone_close(p, 1011, "out of memory");
        return;
    }
    for (uint32_t i = 0; i < s->friend_count; i++) {
        uint64_t id = s->friends[i].channel->user;

        while (j < n && ids[j] < id)
            j++;
        if (j == n || ids[j] != id)
            gone[ngone++] = id;
    }
    for (size_t k = 0; k < ngone; k++)
        session_remove_friend(s, gw->channels, gone[k], &gw->sink);
    free(gone);
    for (size_t k = 0; k < n; k++)
        if (session_add_friend(s, gw->channels, ids[k], &gw->sink) < 0)
            LOG_WARN("user %" PRIu64 ": cannot add friend %" PRIu64, s->user, ids[k]);
    if (p->strangers != NULL)
        stranger_view_friends_read(p->strangers, &gw->sink);
}

static void on_friends(int err, const uint64_t *ids, size_t n, void *arg)
{
    struct phone *p = arg;
    struct gateway *gw = p->gw;
    uint64_t gen = p->loading_gen;

    p->loading_gen = 0;
    if (p->state == PHONE_CLOSED)
        goto release;
    if (err < 0) {
        LOG_WARN("user %" PRIu64 ": cannot load friends: %s", p->session.user,
                 friends_db_strerror(err));
        if (p->state == PHONE_LIVE) {
            /* Keep what it has: what is shown stays consented (removals were
             * applied on receipt); the next change reads again. */
            goto release;
        }
        send_err(p, PROTO_CODE_INTERNAL, "cannot load your friends; try again");
        phone_close(p, 1011, "friends unavailable");
        goto release;
    }
    if (gen != p->friends_gen) {
        load_friends(p); /* a change came while this was read: read again */
        goto release;
    }
    if (p->state == PHONE_LOADING) {
        if (session_set_friends(&p->session, gw->channels, ids, n, &gw->sink) < 0) {
            send_err(p, PROTO_CODE_INTERNAL, "out of memory");
            phone_close(p, 1011, "internal error");
            goto release;
        }
        p->state = PHONE_WAIT_FRIENDS;
        waiting_add(p);
    } else {
        sync_friends(p, ids, n);
    }
    if (p->state == PHONE_WAIT_FRIENDS) {
        p->wait_cursor = 0;
        try_go_live(p);
    }
release:
    phone_release(p);
}

/* Reads the friend list (again) unless a read is in flight; the answer
 * applies only if no change was heard meanwhile. */
static void load_friends(struct phone *p)
{
    int rc;

    if (p->loading_gen != 0 || p->state == PHONE_CLOSED)
        return;
    p->loading_gen = p->friends_gen;
    p->refs++;
    rc = friends_db_load(pg_pool_conn(p->gw->pg, PG_POOL_SESSION), p->session.user, on_friends, p);
    if (rc < 0) {
        p->loading_gen = 0;
        p->refs--;
        if (rc == FRIENDS_DB_ERR_BUSY && p->state != PHONE_LIVE) {
            /* The session connection's queue is full: shed, do not pile up. */
            metrics_counter_inc(p->gw->m.starts_busy);
            send_err(p, PROTO_CODE_BUSY, "the gateway is busy; try again in a few seconds");
            phone_close(p, PHONE_CLOSE_TRY_AGAIN, "busy");
            return;
        }
        LOG_WARN("user %" PRIu64 ": cannot load friends: %s", p->session.user,
                 friends_db_strerror(rc));
        if (p->state != PHONE_LIVE) {
            send_err(p, PROTO_CODE_INTERNAL, "friends unavailable; try again");
            phone_close(p, 1011, "friends unavailable");
        }
    }
}

/* Checks a token for this gateway. Returns 0 and fills *claims, or replies
 * bad_token and closes. */
static int check_token(struct phone *p, const char *token, size_t len, struct token_claims *claims)
{
    struct gateway *gw = p->gw;
    int rc = gateway_token_check(gw, token, len, claims);

    if (rc < 0) {
        send_err(p, PROTO_CODE_BAD_TOKEN, token_strerror(rc));
        phone_close(p, 1008, "bad token");
    }
    return rc;
}

/* Past --user-max-sessions open sessions of p's user, closes the oldest
 * (not p) with 4002 replaced: the newest wins. The user's own channel entry
 * lists the user's sessions (its owners), so no other phone is looked at. */
static void replace_oldest(struct phone *p)
{
    struct channel *self = p->self;

    for (;;) {
        struct phone *oldest = NULL;
        uint32_t open = 0;

        for (uint32_t i = 0; i < self->owner_count; i++) {
            struct phone *o = self->owners[i]->transport;

            if (o->conn == NULL || o->closing)
                continue;
            open++;
            if (o != p && (oldest == NULL || o->started_seq < oldest->started_seq))
                oldest = o;
        }
        if (open <= p->gw->cfg.user_max_sessions || oldest == NULL)
            return;
        metrics_counter_inc(p->gw->m.sessions_replaced);
        phone_close(oldest, PHONE_CLOSE_REPLACED, "replaced");
    }
}

/* Returns 1 when the user may start a session now; otherwise tells the phone
 * why (err busy or rate_limited), closes it with 1013 and returns 0. */
static int start_allowed(struct phone *p, uint64_t user)
{
    struct gateway *gw = p->gw;
    uint8_t key[LIMIT_KEY_LEN];
    uint64_t wait_ms = 0;
    char msg[96];

    if (gw->starting >= gw->cfg.start_queue) {
        metrics_counter_inc(gw->m.starts_busy);
        send_err(p, PROTO_CODE_BUSY, "the gateway is busy; try again in a few seconds");
        phone_close(p, PHONE_CLOSE_TRY_AGAIN, "busy");
        return 0;
    }
    limit_key_user(key, user);
    if (!limit_table_take(gw->start_limits, key, gateway_now_ms(), &wait_ms)) {
        metrics_counter_inc(gw->m.starts_limited);
        snprintf(msg, sizeof(msg), "too many session starts; try again in %" PRIu64 " s",
                 (wait_ms + 999) / 1000);
        send_err(p, PROTO_CODE_RATE_LIMITED, msg);
        phone_close(p, PHONE_CLOSE_TRY_AGAIN, "session starts rate limited");
        return 0;
    }
    return 1;
}

static void handle_init(struct phone *p, const struct proto_msg *m)
{
    struct gateway *gw = p->gw;
    struct token_claims claims;
    int created = 0;

    if (check_token(p, m->init.token, m->init.token_len, &claims) < 0)
        return;
    if (!start_allowed(p, claims.user))
        return;
    p->session.user = claims.user;
    p->token_exp = claims.exp;
    p->friends_gen = 1;
    /* The user's own channel first: every change to the user's friends or
     * sharing made from now on arrives there. */
    p->self = channels_ref(gw->channels, claims.user, &created);
    if (p->self == NULL || channel_add_owner(p->self, &p->session) < 0) {
        if (p->self != NULL)
            channels_release(gw->channels, p->self); /* not subscribed yet */
        p->self = NULL;
        send_err(p, PROTO_CODE_INTERNAL, "out of memory");
        phone_close(p, 1011, "internal error");
        return;
    }
    p->state = PHONE_WAIT_SELF;
    p->started_seq = ++gw->session_seq;
    p->starting = 1;
    gw->starting++;
    replace_oldest(p);
    arm_timer(p, PHONE_START_TIMEOUT_S);
    waiting_add(p);
    if (created)
        gateway_channel_created(gw, p->self);
    if (p->self->synced)
        phones_synced(gw); /* another session of the user has it already */
}

static void handle_refresh(struct phone *p, const struct proto_msg *m)
{
    struct token_claims claims;

    if (check_token(p, m->init.token, m->init.token_len, &claims) < 0)
        return;
    if (claims.user != p->session.user) {
        send_err(p, PROTO_CODE_BAD_TOKEN, "refresh token is for another user");
        phone_close(p, 1008, "bad token");
        return;
    }
    p->token_exp = claims.exp;
    if (p->state == PHONE_LIVE)
        arm_expiry(p);
}

/* Publishes the session's position if the user shares: cache, history,
 * channel, stamped with the consent version the gateway knows. */
static void publish_position(struct phone *p)
{
    struct gateway *gw = p->gw;
    struct channel *self = p->self;
    struct session *s = &p->session;
    uint64_t now = gateway_now_ms();
    struct proto_payload payload = {.kind = PROTO_PAYLOAD_LOC, .user = s->user};

    /* Not synced: whether the user shares is not known yet. Fail closed. */
    if (self == NULL || !self->synced || !self->sharing || !s->has_position)
        return;
    location_cache_set(gw->cache, s->user, s->lat, s->lng, s->ts, self->consent,
                       gw->cfg.location_ttl_s);
    history_push(gw->history, s->user, s->lat, s->lng, (int64_t)s->ts);
    /* Microseconds keep seq increasing across reconnects to other gateways. */
    p->seq = now * 1000u > p->seq ? now * 1000u : p->seq + 1;
    payload.seq = p->seq;
    payload.loc.lat = s->lat;
    payload.loc.lng = s->lng;
    payload.loc.ts = s->ts;
    payload.loc.consent = self->consent;
    gateway_publish(gw, s->user, &payload);
}

static void handle_loc(struct phone *p, const struct proto_msg *m)
{
    struct gateway *gw = p->gw;
    uint64_t now = gateway_now_ms(), ts = m->loc.ts;

    if (!ratelimit_allow(&p->rate, now)) {
        metrics_counter_inc(gw->m.rate_limited);
        send_err(p, PROTO_CODE_RATE_LIMITED, "too many loc messages; slow down");
        return;
    }
    if (ts > now + PHONE_TS_AHEAD_MAX_MS) {
        bad_frame(p, PROTO_CODE_BAD_VALUE, "ts is more than 30 s ahead of the server's clock");
        return;
    }
    if (ts + (uint64_t)gw->cfg.location_ttl_s * 1000u < now) {
        bad_frame(p, PROTO_CODE_BAD_VALUE, "ts is older than the location TTL");
        return;
    }
    if (ts > now)
        ts = now;
    session_moved(&p->session, m->loc.lat, m->loc.lng, ts, &gw->sink);
    publish_position(p);
    if (p->strangers != NULL)
        strangers_moved(gw, p->strangers);
}

static void on_ws_message(void *arg, struct http_conn *c, const uint8_t *msg, size_t len,
                          int binary)
{
    struct phone *p = http_conn_data(c);
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
        if (!ratelimit_allow(&p->radius_rate, gateway_now_ms())) {
            metrics_counter_inc(p->gw->m.radius_limited);
            send_err(p, PROTO_CODE_RATE_LIMITED, "too many radius messages; slow down");
            break;
        }
        if (m.radius.km > p->gw->cfg.max_radius_km) {
            bad_frame(p, PROTO_CODE_BAD_VALUE, "radius above the server's maximum");
            break;
        }
        session_set_radius(&p->session, m.radius.km, &p->gw->sink);
        break;
    case PROTO_MSG_REFRESH:
        handle_refresh(p, &m);
        break;
    case PROTO_MSG_STRANGERS:
        handle_strangers(p, &m);
        break;
    default:
        bad_frame(p, PROTO_CODE_BAD_TYPE, "init was sent already");
    }
}

/* -- what the user's own channel says -------------------------------------- */

void phones_friends_changed(struct gateway *gw, struct channel *self, uint64_t other, int removed)
{
    /* The owners may change as sessions close (not here: nothing below closes). */
    for (uint32_t i = 0; i < self->owner_count; i++) {
        struct phone *p = self->owners[i]->transport;

        /* Removal is safe to act on at once (it only ever hides); whatever
         * the change, PostgreSQL has the last word. */
        if (removed && other != 0 && p->state >= PHONE_WAIT_FRIENDS)
            session_remove_friend(&p->session, gw->channels, other, &gw->sink);
        /* A new friend is never shown as a stranger, even before the read. */
        if (!removed && other != 0 && p->strangers != NULL)
            stranger_view_friend_added(p->strangers, other, &gw->sink);
        p->friends_gen++;
        if (p->state >= PHONE_LOADING && p->state != PHONE_CLOSED)
            load_friends(p);
    }
}

void phones_blocked(struct gateway *gw, struct channel *self, uint64_t other)
{
    for (uint32_t i = 0; i < self->owner_count; i++) {
        struct phone *p = self->owners[i]->transport;

        if (p->strangers != NULL)
            strangers_blocked(gw, p->strangers, other);
    }
}

void phones_close_user(struct gateway *gw, struct channel *self, unsigned code, const char *reason)
{
    for (uint32_t i = 0; i < self->owner_count; i++)
        phone_close(self->owners[i]->transport, code, reason);
}

/* -- connection life cycle ------------------------------------------------- */

/* The slow phone has read everything: send each held friend's latest. */
static void on_ws_drained(void *arg, struct http_conn *c)
{
    struct phone *p = http_conn_data(c);

    if (p->state == PHONE_LIVE)
        session_flush_held(&p->session, &p->gw->sink);
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
    p->timer = evtimer_new(gw->base, on_timer, p);
    if (p->timer == NULL) {
        free(p);
        return 503;
    }
    p->gw = gw;
    p->conn = c;
    p->refs = 1;
    arm_timer(p, PHONE_INIT_TIMEOUT_S);
    session_init(&p->session, 0, gw->cfg.radius_km);
    p->session.transport = p;
    ratelimit_init(&p->rate, gw->cfg.loc_rate, gw->cfg.loc_burst);
    ratelimit_init(&p->radius_rate, gw->cfg.loc_rate, gw->cfg.loc_burst);
    ratelimit_init(&p->strangers_rate, gw->cfg.loc_rate, gw->cfg.loc_burst);
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
    evtimer_del(p->timer);
    phone_end_session(p);
    phone_release(p);
}

static void on_request(void *arg, struct http_conn *c, const struct http_request *req)
{
    routes_handle(arg, c, req);
}

/* Logs a refused connection with its client's address (the phone's, not
 * the balancer's), at most one line a second, saying how many went unlogged. */
static void log_refusal(struct gateway *gw, struct http_conn *c, const char *why)
{
    uint64_t now = gateway_now_ms();

    if (now < gw->refusal_logged_ms + 1000) {
        gw->refusals_unlogged++;
        return;
    }
    LOG_WARN("refused a connection from %s: %s (and %u more since the last such line)",
             http_conn_peer(c), why, gw->refusals_unlogged);
    gw->refusal_logged_ms = now;
    gw->refusals_unlogged = 0;
}

/* Every connection to the phones' port, WebSocket or REST, once its client
 * address is known (the phone's, through a trusted proxy): refused at once
 * above --ip-handshake-rate new connections a second or with --ip-max-conns
 * open from the same address. */
static int on_connect(void *arg, struct http_conn *c)
{
    struct gateway *gw = arg;
    uint8_t ip[LIMIT_KEY_LEN];

    http_conn_addr(c, ip);
    if (!limit_table_take(gw->ip_limits, ip, gateway_now_ms(), NULL)) {
        metrics_counter_inc(gw->m.ip_handshakes_refused);
        log_refusal(gw, c, "new connections above --ip-handshake-rate");
        return 1;
    }
    if (gw->cfg.ip_max_conns && !limit_table_acquire(gw->ip_limits, ip, gw->cfg.ip_max_conns)) {
        metrics_counter_inc(gw->m.ip_conns_refused);
        log_refusal(gw, c, "--ip-max-conns open already");
        return 1;
    }
    return 0;
}

static void on_disconnect(void *arg, struct http_conn *c)
{
    struct gateway *gw = arg;
    uint8_t ip[LIMIT_KEY_LEN];

    if (gw->cfg.ip_max_conns) {
        http_conn_addr(c, ip);
        limit_table_release(gw->ip_limits, ip);
    }
}

const struct http_callbacks phone_http_callbacks = {
    .on_request = on_request,
    .on_ws_open = on_ws_open,
    .on_ws_message = on_ws_message,
    .on_ws_close = on_ws_close,
    .on_ws_drained = on_ws_drained,
    .on_connect = on_connect,
    .on_disconnect = on_disconnect,
};

size_t phones_close_some(struct gateway *gw, size_t n)
{
    size_t open = 0;

    for (struct phone *p = gw->phones; p != NULL; p = p->next) {
        if (p->conn == NULL || p->closing)
            continue;
        if (n > 0) {
            phone_close(p, 1001, "gateway going away");
            n--;
        } else {
            open++;
        }
    }
    return open;
}

void phones_detach_all(struct gateway *gw)
{
    for (struct phone *p = gw->phones; p != NULL; p = p->next) {
        p->conn = NULL;
        p->state = PHONE_CLOSED;
    }
}

void phones_free_all(struct gateway *gw)
{
    while (gw->phones != NULL) {
        gw->phones->refs = 1;
        phone_release(gw->phones);
    }
}
