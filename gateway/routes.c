/* routes.c: the gateway's plain HTTP: /healthz, /metrics and the /v1 REST API (friends, sharing). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "friends_db.h"
#include "gateway-internal.h"
#include "log.h"
#include "token.h"

#define JSON "application/json"

/* A REST request waiting for PostgreSQL. */
struct rest_call {
    struct gateway *gw;   /* ref: owned by main */
    struct http_conn *conn; /* ref: owned by the HTTP server until http_reply */
    uint64_t user;
    uint64_t other;
    int op;
};

enum rest_op {
    REST_FRIENDS_LIST,
    REST_FRIEND_ADD,
    REST_FRIEND_DEL,
    REST_SHARING_ON,
    REST_SHARING_OFF,
};

static void reply_json(struct http_conn *c, int status, const char *body)
{
    http_reply(c, status, JSON, body, strlen(body));
}

static void reply_error(struct http_conn *c, int status, const char *code, const char *message)
{
    char body[512];

    snprintf(body, sizeof(body), "{\"error\":\"%s\",\"message\":\"%s\"}\n", code, message);
    reply_json(c, status, body);
}

static int path_is(const struct http_request *req, const char *path)
{
    return req->path_len == strlen(path) && memcmp(req->path, path, req->path_len) == 0;
}

static int method_is(const struct http_request *req, const char *method)
{
    return req->method_len == strlen(method) && memcmp(req->method, method, req->method_len) == 0;
}

static void handle_healthz(struct gateway *gw, struct http_conn *c)
{
    char reason[512];
    size_t len;
    int ready = gateway_ready(gw, reason, sizeof(reason) - 1);

    len = strlen(reason);
    reason[len++] = '\n';
    http_reply(c, ready ? 200 : 503, "text/plain", reason, len);
}

static void handle_metrics(struct gateway *gw, struct http_conn *c)
{
    struct evbuffer *out = evbuffer_new();
    size_t len;

    gateway_refresh_metrics(gw);
    if (out == NULL || metrics_render(gw->m.registry, out) < 0) {
        http_reply(c, 500, "text/plain", "cannot render metrics\n", 22);
    } else {
        len = evbuffer_get_length(out);
        http_reply(c, 200, "text/plain; version=0.0.4", (const char *)evbuffer_pullup(out, -1), len);
    }
    if (out)
        evbuffer_free(out);
}

/* Returns the user the Bearer token names, or 0 after replying 401. */
static uint64_t authenticate(struct gateway *gw, struct http_conn *c, const struct http_request *req)
{
    uint64_t user;
    int rc;

    if (req->authorization == NULL || req->authorization_len <= 7 ||
        strncmp(req->authorization, "Bearer ", 7) != 0) {
        reply_error(c, 401, "bad_token", "send Authorization: Bearer <token>");
        return 0;
    }
    rc = token_verify(gw->cfg.jwt_key, gw->cfg.jwt_key_len, req->authorization + 7,
                      req->authorization_len - 7, (int64_t)time(NULL), &user);
    if (rc < 0) {
        reply_error(c, 401, "bad_token", token_strerror(rc));
        return 0;
    }
    return user;
}

/* Answers a friends_db error with the status and code that fit it. */
static void reply_db_error(struct http_conn *c, int err)
{
    switch (err) {
    case FRIENDS_DB_ERR_LIMIT:
        reply_error(c, 409, "friend_limit", friends_db_strerror(err));
        break;
    case FRIENDS_DB_ERR_NO_USER:
        reply_error(c, 404, "no_such_user", friends_db_strerror(err));
        break;
    case FRIENDS_DB_ERR_INVALID:
        reply_error(c, 400, "bad_value", friends_db_strerror(err));
        break;
    case FRIENDS_DB_ERR_DOWN:
        reply_error(c, 503, "unavailable", friends_db_strerror(err));
        break;
    default:
        reply_error(c, 500, "internal", friends_db_strerror(err));
    }
}

static void on_friends_listed(int err, const uint64_t *ids, size_t n, void *arg)
{
    struct rest_call *call = arg;
    struct evbuffer *out;

    if (err == FRIENDS_DB_ERR_CLOSED)
        goto out; /* shutting down: the connection is gone */
    if (err < 0) {
        reply_db_error(call->conn, err);
        goto out;
    }
    out = evbuffer_new();
    if (out == NULL) {
        reply_error(call->conn, 500, "internal", "out of memory");
        goto out;
    }
    evbuffer_add_printf(out, "{\"user\":%" PRIu64 ",\"friends\":[", call->user);
    for (size_t i = 0; i < n; i++)
        evbuffer_add_printf(out, "%s%" PRIu64, i ? "," : "", ids[i]);
    evbuffer_add_printf(out, "]}\n");
    http_reply(call->conn, 200, JSON, (const char *)evbuffer_pullup(out, -1),
               evbuffer_get_length(out));
    evbuffer_free(out);
out:
    free(call);
}

/* Tells every gateway with a session of user, through user's own channel. */
static void publish_control(struct gateway *gw, uint64_t user, enum proto_payload_kind kind,
                            uint64_t other)
{
    struct proto_payload payload = {.kind = kind, .user = user, .seq = gateway_now_ms() * 1000u};

    payload.friend.other = other;
    gateway_publish(gw, user, &payload);
}

static void on_changed(int err, bool changed, void *arg)
{
    struct rest_call *call = arg;
    struct gateway *gw = call->gw;

    if (err == FRIENDS_DB_ERR_CLOSED)
        goto out;
    if (err < 0) {
        reply_db_error(call->conn, err);
        goto out;
    }
    switch (call->op) {
    case REST_FRIEND_ADD:
    case REST_FRIEND_DEL: {
        enum proto_payload_kind kind =
            call->op == REST_FRIEND_ADD ? PROTO_PAYLOAD_FRIEND_ADD : PROTO_PAYLOAD_FRIEND_DEL;

        publish_control(gw, call->user, kind, call->other);
        publish_control(gw, call->other, kind, call->user);
        break;
    }
    case REST_SHARING_OFF:
    case REST_SHARING_ON:
        for (struct phone *p = gw->phones; p != NULL; p = p->next)
            if (p->session.user == call->user)
                p->sharing = call->op == REST_SHARING_ON;
        if (call->op == REST_SHARING_OFF) {
            location_cache_del(gw->cache, call->user);
            publish_control(gw, call->user, PROTO_PAYLOAD_OFF, 0);
        }
        break;
    }
    reply_json(call->conn, 200, changed ? "{\"ok\":true,\"changed\":true}\n"
                                        : "{\"ok\":true,\"changed\":false}\n");
out:
    free(call);
}

/* Parses the id in "/v1/friends/<id>". Returns it, or 0. */
static uint64_t friend_id(const struct http_request *req)
{
    static const char prefix[] = "/v1/friends/";
    char digits[24];
    size_t n = req->path_len - (sizeof(prefix) - 1);
    char *end;
    unsigned long long id;

    if (req->path_len <= sizeof(prefix) - 1 || memcmp(req->path, prefix, sizeof(prefix) - 1) != 0 ||
        n >= sizeof(digits))
        return 0;
    memcpy(digits, req->path + sizeof(prefix) - 1, n);
    digits[n] = '\0';
    if (digits[0] < '1' || digits[0] > '9')
        return 0;
    id = strtoull(digits, &end, 10);
    return *end == '\0' ? (uint64_t)id : 0;
}

static void handle_rest(struct gateway *gw, struct http_conn *c, const struct http_request *req)
{
    struct rest_call *call;
    uint64_t user, other = 0;
    int op, rc;

    if (path_is(req, "/v1/friends") && method_is(req, "GET"))
        op = REST_FRIENDS_LIST;
    else if ((other = friend_id(req)) != 0 && method_is(req, "PUT"))
        op = REST_FRIEND_ADD;
    else if (other != 0 && method_is(req, "DELETE"))
        op = REST_FRIEND_DEL;
    else if (path_is(req, "/v1/sharing/on") && method_is(req, "PUT"))
        op = REST_SHARING_ON;
    else if (path_is(req, "/v1/sharing/off") && method_is(req, "PUT"))
        op = REST_SHARING_OFF;
    else {
        reply_error(c, 404, "not_found", "no such endpoint");
        return;
    }
    user = authenticate(gw, c, req);
    if (user == 0)
        return;
    call = calloc(1, sizeof(*call));
    if (call == NULL) {
        reply_error(c, 500, "internal", "out of memory");
        return;
    }
    *call = (struct rest_call){gw, c, user, other, op};
    switch (op) {
    case REST_FRIENDS_LIST:
        rc = friends_db_load(gw->pg, user, on_friends_listed, call);
        break;
    case REST_FRIEND_ADD:
        rc = friends_db_add(gw->pg, user, other, on_changed, call);
        break;
    case REST_FRIEND_DEL:
        rc = friends_db_remove(gw->pg, user, other, on_changed, call);
        break;
    default:
        rc = friends_db_set_sharing(gw->pg, user, op == REST_SHARING_ON, on_changed, call);
    }
    if (rc < 0) {
        reply_db_error(c, rc);
        free(call);
    }
}

void routes_handle(struct gateway *gw, struct http_conn *c, const struct http_request *req)
{
    if (path_is(req, "/healthz"))
        handle_healthz(gw, c);
    else if (path_is(req, "/metrics"))
        handle_metrics(gw, c);
    else if (req->path_len >= 4 && memcmp(req->path, "/v1/", 4) == 0)
        handle_rest(gw, c, req);
    else
        reply_error(c, 404, "not_found", "try /ws, /healthz, /metrics or /v1/friends");
}
