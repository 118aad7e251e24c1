/* rest.c: the /v1 REST API: friend requests and friendships by consent, blocks, sharing, and a user's own account and history.
 *
 * Every call carries Authorization: Bearer <token> and acts for the token's
 * user only; answers are JSON. A change that others must see live is a
 * control message on the channels of both users concerned (control.c); the
 * database answers first, so a gateway that hears the message and reads
 * PostgreSQL sees the change.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "friends_db.h"
#include "gateway-internal.h"
#include "history_query.h"
#include "log.h"
#include "token.h"

/* Erasing history runs twice: now, and once more after this, for rows that
 * were in a COPY in flight somewhere when the first ran. */
#define REST_ERASE_AGAIN_MS 5000

enum rest_op {
    REST_ME,
    REST_FRIENDS_LIST,
    REST_FRIEND_DEL,
    REST_REQUEST,
    REST_REQUESTS_LIST,
    REST_REQUEST_ACCEPT,
    REST_REQUEST_DEL,
    REST_BLOCK,
    REST_UNBLOCK,
    REST_BLOCKS_LIST,
    REST_SHARING_ON,
    REST_SHARING_OFF,
    REST_HISTORY_GET,
    REST_HISTORY_DEL,
    REST_ACCOUNT_DEL,
};

/* A REST request waiting for PostgreSQL. */
struct rest_call {
    struct gateway *gw;     /* ref: owned by main */
    struct http_conn *conn; /* ref: owned by the HTTP server until http_reply */
    uint64_t user;
    uint64_t other;
    enum rest_op op;
    int64_t from_ts, to_ts; /* history page */
    size_t limit;
};

/* A second erasure pass waiting for its time. */
struct rest_erasure {
    struct rest *rest;
    struct event *timer;
    uint64_t user;
    struct rest_erasure *next;
};

struct rest {
    struct gateway *gw;
    struct rest_erasure *erasures;
};

struct rest *rest_new(struct gateway *gw)
{
    struct rest *r = calloc(1, sizeof(*r));

    if (r != NULL)
        r->gw = gw;
    return r;
}

static void erasure_free(struct rest_erasure *e)
{
    struct rest_erasure **p = &e->rest->erasures;

    while (*p != NULL && *p != e)
        p = &(*p)->next;
    if (*p == e)
        *p = e->next;
    event_free(e->timer);
    free(e);
}

void rest_free(struct rest *r)
{
    if (r == NULL)
        return;
    while (r->erasures != NULL)
        erasure_free(r->erasures);
    free(r);
}

/* -- requests ---------------------------------------------------------------- */

static int path_is(const struct http_request *req, const char *path)
{
    return req->path_len == strlen(path) && memcmp(req->path, path, req->path_len) == 0;
}

static int method_is(const struct http_request *req, const char *method)
{
    return req->method_len == strlen(method) && memcmp(req->method, method, req->method_len) == 0;
}

/* Parses a canonical decimal user id (1..2^63-1) of len bytes. Returns it, or 0. */
static uint64_t parse_id(const char *s, size_t len)
{
    uint64_t id = 0;

    if (len == 0 || len > 19 || s[0] == '0')
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned char)s[i] - '0';

        if (d > 9)
            return 0;
        id = id * 10 + d;
    }
    return id <= (uint64_t)INT64_MAX ? id : 0;
}

/* Matches "<prefix><id><suffix>" exactly. Returns the id, or 0. */
static uint64_t path_id(const struct http_request *req, const char *prefix, const char *suffix)
{
    size_t pl = strlen(prefix), sl = strlen(suffix);

    if (req->path_len <= pl + sl || memcmp(req->path, prefix, pl) != 0 ||
        memcmp(req->path + req->path_len - sl, suffix, sl) != 0)
        return 0;
    return parse_id(req->path + pl, req->path_len - pl - sl);
}

/* Finds name=value in the query string. Returns 1 and the value's bytes, or 0. */
static int query_param(const struct http_request *req, const char *name, const char **value,
                       size_t *len)
{
    size_t n = strlen(name);
    const char *p = req->query, *end = req->query + req->query_len;

    while (p != NULL && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;

        if ((size_t)(stop - p) > n && memcmp(p, name, n) == 0 && p[n] == '=') {
            *value = p + n + 1;
            *len = (size_t)(stop - p - (ptrdiff_t)n - 1);
            return 1;
        }
        p = amp ? amp + 1 : end;
    }
    return 0;
}

/* Parses a non-negative decimal integer query parameter; dflt when absent.
 * Returns 0, or -1 when present and not one. */
static int query_int(const struct http_request *req, const char *name, int64_t dflt,
                     int64_t *out)
{
    const char *v;
    size_t len;
    int64_t x = 0;

    if (!query_param(req, name, &v, &len)) {
        *out = dflt;
        return 0;
    }
    if (len == 0 || len > 18)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (v[i] - '0');
    }
    *out = x;
    return 0;
}

/* Returns the user the Bearer token names, or 0 after replying 401. */
static uint64_t authenticate(struct gateway *gw, struct http_conn *c, const struct http_request *req)
{
    struct token_claims claims;
    int rc;

    if (req->authorization == NULL || req->authorization_len <= 7 ||
        strncmp(req->authorization, "Bearer ", 7) != 0) {
        reply_error(c, 401, "bad_token", "send Authorization: Bearer <token>");
        return 0;
    }
    rc = gateway_token_check(gw, req->authorization + 7, req->authorization_len - 7, &claims);
    if (rc < 0) {
        reply_error(c, 401, "bad_token", token_strerror(rc));
        return 0;
    }
    return claims.user;
}

/* Answers a store error with the status and code that fit it. */
static void reply_db_error(struct http_conn *c, int err)
{
    static const char busy[] =
        "{\"error\":\"busy\",\"message\":\"too many requests are waiting for the database; "
        "try again\"}\n";

    if (err == FRIENDS_DB_ERR_BUSY || err == HISTORY_QUERY_ERR_BUSY)
        http_reply_headers(c, 503, "application/json", "Retry-After: 1\r\n", busy,
                        sizeof(busy) - 1);
    else if (err == FRIENDS_DB_ERR_DOWN || err == HISTORY_QUERY_ERR_DOWN)
        reply_error(c, 503, "unavailable", "the database is unavailable; try again");
    else if (err == FRIENDS_DB_ERR_INVALID)
        reply_error(c, 400, "bad_value", "invalid user id");
    else
        reply_error(c, 500, "internal", "the database failed; try again");
}

static void reply_buffer(struct http_conn *c, int status, struct evbuffer *out)
{
    http_reply(c, status, "application/json", (const char *)evbuffer_pullup(out, -1),
               evbuffer_get_length(out));
}

/* Tells both users' gateways of a friendship change between a and b. */
static void publish_pair(struct gateway *gw, enum proto_payload_kind kind, uint64_t a, uint64_t b)
{
    struct proto_payload payload = {.kind = kind};

    payload.friend.other = b;
    control_publish(gw, a, &payload);
    payload = (struct proto_payload){.kind = kind};
    payload.friend.other = a;
    control_publish(gw, b, &payload);
}

/* Completion of a request: a store callback's first argument is the call.
 * The connection is gone when the store shuts down first. */
static int call_closed(struct rest_call *call, int err)
{
    if (err == FRIENDS_DB_ERR_CLOSED || err == HISTORY_QUERY_ERR_CLOSED) {
        free(call);
        return 1;
    }
    return 0;
}

/* -- answers ------------------------------------------------------------------- */

static void on_me(int err, bool sharing, uint64_t version, uint64_t friends, void *arg)
{
    struct rest_call *call = arg;
    char body[160];

    if (call_closed(call, err))
        return;
    if (err < 0) {
        reply_db_error(call->conn, err);
    } else {
        snprintf(body, sizeof body,
                 "{\"id\":%" PRIu64 ",\"sharing\":%s,\"consent_version\":%" PRIu64
                 ",\"friends\":%" PRIu64 "}\n",
                 call->user, sharing ? "true" : "false", version, friends);
        reply_json(call->conn, 200, body);
    }
    free(call);
}

/* A list of ids under one key (friends, blocks). */
static void on_ids(int err, const uint64_t *ids, size_t n, void *arg)
{
    struct rest_call *call = arg;
    struct evbuffer *out;

    if (call_closed(call, err))
        return;
    if (err < 0) {
        reply_db_error(call->conn, err);
        free(call);
        return;
    }
    out = evbuffer_new();
    if (out == NULL) {
        reply_error(call->conn, 500, "internal", "out of memory");
        free(call);
        return;
    }
    if (call->op == REST_FRIENDS_LIST)
        evbuffer_add_printf(out, "{\"user\":%" PRIu64 ",\"friends\":[", call->user);
    else
        evbuffer_add_printf(out, "{\"user\":%" PRIu64 ",\"blocks\":[", call->user);
    for (size_t i = 0; i < n; i++)
        evbuffer_add_printf(out, "%s%" PRIu64, i ? "," : "", ids[i]);
    evbuffer_add_printf(out, "]}\n");
    reply_buffer(call->conn, 200, out);
    evbuffer_free(out);
    free(call);
}

static void reply_changed(struct http_conn *c, bool changed)
{
    reply_json(c, 200, changed ? "{\"ok\":true,\"changed\":true}\n"
                               : "{\"ok\":true,\"changed\":false}\n");
}

static void on_done(int err, bool changed, void *arg)
{
    struct rest_call *call = arg;

    if (call_closed(call, err))
        return;
    if (err < 0) {
        reply_db_error(call->conn, err);
        free(call);
        return;
    }
    /* An unfriend is told whether or not it changed anything: a gateway that
     * missed an earlier one catches up, and telling costs nothing. */
    if (call->op == REST_FRIEND_DEL)
        publish_pair(call->gw, PROTO_PAYLOAD_FRIEND_DEL, call->user, call->other);
    reply_changed(call->conn, changed);
    free(call);
}

static void on_block(int err, bool changed, bool were_friends, void *arg)
{
    struct rest_call *call = arg;

    if (call_closed(call, err))
        return;
    if (err < 0) {
        reply_db_error(call->conn, err);
        free(call);
        return;
    }
    publish_pair(call->gw, PROTO_PAYLOAD_BLOCK, call->user, call->other);
    reply_changed(call->conn, changed);
    free(call);
}

static void on_status(int err, enum friends_db_status status, void *arg)
{
    struct rest_call *call = arg;
    struct http_conn *c = call->conn;

    if (call_closed(call, err))
        return;
    if (err < 0) {
        reply_db_error(c, err);
        free(call);
        return;
    }
    switch (status) {
    case FRIENDS_DB_REQUESTED:
        reply_json(c, 202, "{\"status\":\"requested\"}\n");
        break;
    case FRIENDS_DB_FRIENDS:
        publish_pair(call->gw, PROTO_PAYLOAD_FRIEND_ADD, call->user, call->other);
        reply_json(c, 200, "{\"status\":\"friends\"}\n");
        break;
    case FRIENDS_DB_RATE_LIMITED:
        reply_error(c, 429, "rate_limited", "20 friend requests a minute at most; wait a minute");
        break;
    case FRIENDS_DB_REQUEST_LIMIT:
        reply_error(c, 409, "request_limit",
                    "100 friend requests pending at most; cancel some (DELETE /v1/friend-requests/{id})");
        break;
    case FRIENDS_DB_FRIEND_LIMIT:
        reply_error(c, 409, "friend_limit", "one of you has 5000 friends already");
        break;
    case FRIENDS_DB_BLOCKED:
        reply_error(c, 409, "blocked", "you block this user; DELETE /v1/blocks/{id} first");
        break;
    case FRIENDS_DB_SELF:
        reply_error(c, 400, "bad_value", "you cannot befriend yourself");
        break;
    case FRIENDS_DB_NO_REQUEST:
        reply_error(c, 404, "no_request", "this user has not asked you to be friends");
        break;
    }
    free(call);
}

static void on_requests(int err, const struct friends_db_request *rows, size_t n, void *arg)
{
    struct rest_call *call = arg;
    struct evbuffer *out;

    if (call_closed(call, err))
        return;
    if (err < 0 || (out = evbuffer_new()) == NULL) {
        reply_db_error(call->conn, err < 0 ? err : FRIENDS_DB_ERR_NOMEM);
        free(call);
        return;
    }
    for (int incoming = 1; incoming >= 0; incoming--) {
        int first = 1;

        evbuffer_add_printf(out, incoming ? "{\"incoming\":[" : "],\"outgoing\":[");
        for (size_t i = 0; i < n; i++) {
            if (rows[i].incoming != incoming)
                continue;
            evbuffer_add_printf(out, "%s{\"id\":%" PRIu64 ",\"at\":%" PRId64 "}", first ? "" : ",",
                                rows[i].other, rows[i].at_ms);
            first = 0;
        }
    }
    evbuffer_add_printf(out, "]}\n");
    reply_buffer(call->conn, 200, out);
    evbuffer_free(out);
    free(call);
}

static void on_sharing(int err, bool changed, uint64_t version, void *arg)
{
    struct rest_call *call = arg;
    struct gateway *gw = call->gw;
    int on = call->op == REST_SHARING_ON;
    struct proto_payload payload = {.kind = on ? PROTO_PAYLOAD_ON : PROTO_PAYLOAD_OFF};
    char body[128];

    if (call_closed(call, err))
        return;
    if (err < 0) {
        reply_db_error(call->conn, err);
        free(call);
        return;
    }
    /* Sent even when nothing changed: it costs one message and heals a
     * gateway that missed the change itself. */
    if (!on)
        location_cache_del(gw->cache, call->user);
    payload.sharing.consent = version;
    control_publish(gw, call->user, &payload);
    snprintf(body, sizeof body, "{\"ok\":true,\"changed\":%s,\"sharing\":%s}\n",
             changed ? "true" : "false", on ? "true" : "false");
    reply_json(call->conn, 200, body);
    free(call);
}

static void on_page(int err, const struct history_point *points, size_t n, void *arg)
{
    struct rest_call *call = arg;
    struct evbuffer *out;

    if (call_closed(call, err))
        return;
    if (err < 0 || (out = evbuffer_new()) == NULL) {
        reply_db_error(call->conn, err < 0 ? err : HISTORY_QUERY_ERR_NOMEM);
        free(call);
        return;
    }
    evbuffer_add_printf(out, "{\"points\":[");
    for (size_t i = 0; i < n; i++)
        evbuffer_add_printf(out, "%s{\"ts\":%" PRId64 ",\"lat\":%.7f,\"lng\":%.7f}", i ? "," : "",
                            points[i].ts, points[i].lat, points[i].lng);
    /* A full page may have more after it. */
    if (n == call->limit && n > 0)
        evbuffer_add_printf(out, "],\"next\":%" PRId64 "}\n", points[n - 1].ts + 1);
    else
        evbuffer_add_printf(out, "],\"next\":null}\n");
    reply_buffer(call->conn, 200, out);
    evbuffer_free(out);
    free(call);
}

static void on_erased_again(int err, uint64_t rows, void *arg)
{
    uint64_t user = (uint64_t)(uintptr_t)arg;

    if (err == HISTORY_QUERY_ERR_CLOSED)
        return;
    if (err < 0)
        LOG_WARN("user %" PRIu64 ": second history erasure failed: %s", user,
                 history_query_strerror(err));
    else if (rows > 0)
        LOG_INFO("user %" PRIu64 ": second history erasure removed %" PRIu64 " rows written late",
                 user, rows);
}

static void on_erase_timer(evutil_socket_t fd, short what, void *arg)
{
    struct rest_erasure *e = arg;
    struct gateway *gw = e->rest->gw;
    uint64_t user = e->user;

    erasure_free(e);
    history_query_erase(pg_pool_conn(gw->pg, PG_POOL_REST), user, on_erased_again, (void *)(uintptr_t)user);
}

/* Rows of user in flight in some COPY when the erasure ran are removed by a
 * second pass a little later. */
static void erase_again_later(struct gateway *gw, uint64_t user)
{
    struct rest_erasure *e = calloc(1, sizeof(*e));
    struct timeval tv = {REST_ERASE_AGAIN_MS / 1000, (REST_ERASE_AGAIN_MS % 1000) * 1000};

    if (e == NULL)
        return;
    e->rest = gw->rest;
    e->user = user;
    e->timer = evtimer_new(gw->base, on_erase_timer, e);
    if (e->timer == NULL) {
        free(e);
        return;
    }
    e->next = gw->rest->erasures;
    gw->rest->erasures = e;
    evtimer_add(e->timer, &tv);
}

/* Every gateway drops the user's rows still queued for history. */
static void publish_erased(struct gateway *gw, uint64_t user)
{
    struct proto_payload payload = {.kind = PROTO_PAYLOAD_ERASED};

    control_publish(gw, user, &payload);
    erase_again_later(gw, user);
}

static void on_erased(int err, uint64_t rows, void *arg)
{
    struct rest_call *call = arg;
    char body[96];

    if (call_closed(call, err))
        return;
    if (err < 0) {
        reply_db_error(call->conn, err);
    } else {
        publish_erased(call->gw, call->user);
        snprintf(body, sizeof body, "{\"status\":\"erased\",\"rows\":%" PRIu64 "}\n", rows);
        reply_json(call->conn, 202, body);
    }
    free(call);
}

static void on_account_deleted(int err, const uint64_t *friends, size_t n, void *arg)
{
    struct rest_call *call = arg;
    struct gateway *gw = call->gw;
    struct proto_payload gone = {.kind = PROTO_PAYLOAD_GONE};

    if (call_closed(call, err))
        return;
    if (err < 0) {
        reply_db_error(call->conn, err);
        free(call);
        return;
    }
    /* Each former friend's sessions drop the user; every session of the user
     * ends; the cached position and queued history go. */
    for (size_t i = 0; i < n; i++) {
        struct proto_payload del = {.kind = PROTO_PAYLOAD_FRIEND_DEL};

        del.friend.other = call->user;
        control_publish(gw, friends[i], &del);
    }
    location_cache_del(gw->cache, call->user);
    publish_erased(gw, call->user);
    /* The reply goes before the user's own sessions close (this one is a
     * plain HTTP request, not one of them). */
    reply_json(call->conn, 202, "{\"status\":\"deleted\"}\n");
    control_publish(gw, call->user, &gone);
    free(call);
}

/* -- dispatch ------------------------------------------------------------------- */

/* Takes one of user's REST calls from the rate limit. Returns 1 when it may
 * go on, or 0 after answering 429 with the seconds until it may (Retry-After). */
static int rest_allowed(struct gateway *gw, struct http_conn *c, uint64_t user)
{
    uint8_t key[LIMIT_KEY_LEN];
    uint64_t wait_ms = 0;
    char headers[48], body[160];
    int len;

    limit_key_user(key, user);
    if (limit_table_take(gw->rest_limits, key, gateway_now_ms(), &wait_ms))
        return 1;
    metrics_counter_inc(gw->m.rest_limited);
    wait_ms = wait_ms < 1000 ? 1 : (wait_ms + 999) / 1000;
    snprintf(headers, sizeof headers, "Retry-After: %" PRIu64 "\r\n", wait_ms);
    len = snprintf(body, sizeof body,
                   "{\"error\":\"rate_limited\",\"message\":\"more than %g REST calls a "
                   "second; retry after %" PRIu64 " s\"}\n",
                   gw->cfg.rest_rate, wait_ms);
    http_reply_headers(c, 429, "application/json", headers, body, (size_t)len);
    return 0;
}

/* Finds the operation of a request. Returns 0 and fills *op and *other, or
 * -1 after answering (404, 405). */
static int route(const struct http_request *req, struct http_conn *c, enum rest_op *op,
                 uint64_t *other)
{
    uint64_t id;

    *other = 0;
    if (path_is(req, "/v1/me")) {
        if (method_is(req, "GET"))
            return *op = REST_ME, 0;
        if (method_is(req, "DELETE"))
            return *op = REST_ACCOUNT_DEL, 0;
    } else if (path_is(req, "/v1/me/history")) {
        if (method_is(req, "GET"))
            return *op = REST_HISTORY_GET, 0;
        if (method_is(req, "DELETE"))
            return *op = REST_HISTORY_DEL, 0;
    } else if (path_is(req, "/v1/friends")) {
        if (method_is(req, "GET"))
            return *op = REST_FRIENDS_LIST, 0;
    } else if ((id = path_id(req, "/v1/friends/", "")) != 0) {
        *other = id;
        if (method_is(req, "DELETE"))
            return *op = REST_FRIEND_DEL, 0;
        if (method_is(req, "PUT")) {
            reply_error(c, 405, "method_not_allowed",
                        "a friendship needs consent: POST /v1/friend-requests/{id}, and the "
                        "other accepts with PUT /v1/friend-requests/{you}/accept");
            return -1;
        }
    } else if (path_is(req, "/v1/friend-requests")) {
        if (method_is(req, "GET"))
            return *op = REST_REQUESTS_LIST, 0;
    } else if ((id = path_id(req, "/v1/friend-requests/", "/accept")) != 0) {
        *other = id;
        if (method_is(req, "PUT"))
            return *op = REST_REQUEST_ACCEPT, 0;
    } else if ((id = path_id(req, "/v1/friend-requests/", "")) != 0) {
        *other = id;
        if (method_is(req, "POST"))
            return *op = REST_REQUEST, 0;
        if (method_is(req, "DELETE"))
            return *op = REST_REQUEST_DEL, 0;
    } else if (path_is(req, "/v1/blocks")) {
        if (method_is(req, "GET"))
            return *op = REST_BLOCKS_LIST, 0;
    } else if ((id = path_id(req, "/v1/blocks/", "")) != 0) {
        *other = id;
        if (method_is(req, "PUT"))
            return *op = REST_BLOCK, 0;
        if (method_is(req, "DELETE"))
            return *op = REST_UNBLOCK, 0;
    } else if (path_is(req, "/v1/sharing/on") || path_is(req, "/v1/sharing/off")) {
        if (method_is(req, "PUT"))
            return *op = req->path[13] == 'n' ? REST_SHARING_ON : REST_SHARING_OFF, 0;
    } else {
        reply_error(c, 404, "not_found", "no such endpoint; the REST API is listed in the README");
        return -1;
    }
    reply_error(c, 405, "method_not_allowed", "this endpoint does not take that method");
    return -1;
}

void rest_handle(struct gateway *gw, struct http_conn *c, const struct http_request *req)
{
    struct pg_conn *pg = pg_pool_conn(gw->pg, PG_POOL_REST);
    struct rest_call *call;
    enum rest_op op;
    uint64_t user, other;
    int64_t from = 0, to = 0, limit = 0;
    int rc;

    if (route(req, c, &op, &other) < 0)
        return;
    user = authenticate(gw, c, req);
    if (user == 0 || !rest_allowed(gw, c, user))
        return;
    if (other == user && op != REST_REQUEST) {
        reply_error(c, 400, "bad_value", "that id is your own");
        return;
    }
    if (op == REST_HISTORY_GET &&
        (query_int(req, "from", 0, &from) < 0 ||
         query_int(req, "to", (int64_t)gateway_now_ms() + 1, &to) < 0 ||
         query_int(req, "limit", HISTORY_QUERY_PAGE_MAX, &limit) < 0 || to <= from ||
         limit < 1 || limit > HISTORY_QUERY_PAGE_MAX)) {
        reply_error(c, 400, "bad_value",
                    "from and to are ms since the epoch with from < to; limit is 1..1000");
        return;
    }
    call = calloc(1, sizeof(*call));
    if (call == NULL) {
        reply_error(c, 500, "internal", "out of memory");
        return;
    }
    *call = (struct rest_call){gw, c, user, other, op, from, to, (size_t)limit};
    switch (op) {
    case REST_ME: rc = friends_db_me(pg, user, on_me, call); break;
    case REST_FRIENDS_LIST: rc = friends_db_load(pg, user, on_ids, call); break;
    case REST_FRIEND_DEL: rc = friends_db_unfriend(pg, user, other, on_done, call); break;
    case REST_REQUEST: rc = friends_db_request(pg, user, other, on_status, call); break;
    case REST_REQUESTS_LIST: rc = friends_db_requests(pg, user, on_requests, call); break;
    case REST_REQUEST_ACCEPT: rc = friends_db_accept(pg, user, other, on_status, call); break;
    case REST_REQUEST_DEL: rc = friends_db_request_delete(pg, user, other, on_done, call); break;
    case REST_BLOCK: rc = friends_db_block(pg, user, other, on_block, call); break;
    case REST_UNBLOCK: rc = friends_db_unblock(pg, user, other, on_done, call); break;
    case REST_BLOCKS_LIST: rc = friends_db_blocks(pg, user, on_ids, call); break;
    case REST_SHARING_ON:
    case REST_SHARING_OFF:
        rc = friends_db_set_sharing(pg, user, op == REST_SHARING_ON, on_sharing, call);
        break;
    case REST_HISTORY_GET:
        rc = history_query_page(pg, user, from, to, (size_t)limit, on_page, call);
        break;
    case REST_HISTORY_DEL: rc = history_query_erase(pg, user, on_erased, call); break;
    case REST_ACCOUNT_DEL: rc = friends_db_account_delete(pg, user, on_account_deleted, call); break;
    default: rc = FRIENDS_DB_ERR_INVALID;
    }
    if (rc < 0) {
        reply_db_error(c, rc);
        free(call);
    }
}
