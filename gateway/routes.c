/* routes.c: the gateway's plain HTTP: on the phones' port a bare /healthz, the /v1 REST API (rest.c) and the live map (web.c); on the internal port /healthz with detail, /metrics and the admin page. */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "gateway-internal.h"
#include "web.h"

#define JSON "application/json"

void reply_json(struct http_conn *c, int status, const char *body)
{
    http_reply(c, status, JSON, body, strlen(body));
}

void reply_error(struct http_conn *c, int status, const char *code, const char *message)
{
    char body[512];

    /* code and message are ours: fixed strings, no quotes to escape. */
    snprintf(body, sizeof(body), "{\"error\":\"%s\",\"message\":\"%s\"}\n", code, message);
    reply_json(c, status, body);
}

static int path_is(const struct http_request *req, const char *path)
{
    return req->path_len == strlen(path) && memcmp(req->path, path, req->path_len) == 0;
}

/* detail: the reason, with addresses and errors (internal port only); else
 * only whether the gateway takes phones, for the load balancer. */
static void handle_healthz(struct gateway *gw, struct http_conn *c, int detail)
{
    char reason[512];
    size_t len;
    int ready = gateway_ready(gw, reason, sizeof(reason) - 1);

    if (!detail)
        snprintf(reason, sizeof(reason) - 1, "%s", ready ? "ok" : "unavailable");
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

void routes_handle(struct gateway *gw, struct http_conn *c, const struct http_request *req)
{
    if (path_is(req, "/healthz"))
        handle_healthz(gw, c, 0);
    else if (req->path_len >= 4 && memcmp(req->path, "/v1/", 4) == 0)
        rest_handle(gw, c, req);
    else if (!web_handle(c, req, WEB_SITE_PUBLIC))
        reply_error(c, 404, "not_found", "this port serves /ws, /v1, /healthz and the map at /");
}

static void on_admin_request(void *arg, struct http_conn *c, const struct http_request *req)
{
    struct gateway *gw = arg;

    if (path_is(req, "/healthz"))
        handle_healthz(gw, c, 1);
    else if (path_is(req, "/metrics"))
        handle_metrics(gw, c);
    else if (req->path_len >= 11 && memcmp(req->path, "/admin/api/", 11) == 0)
        admin_api_handle(gw, c, req);
    else if (!web_handle(c, req, WEB_SITE_ADMIN))
        reply_error(c, 404, "not_found", "the internal port serves /healthz, /metrics and /admin");
}

/* No WebSocket on the internal port. */
static int on_admin_ws_open(void *arg, struct http_conn *c, const struct http_request *req)
{
    return 404;
}

const struct http_callbacks admin_http_callbacks = {
    .on_request = on_admin_request,
    .on_ws_open = on_admin_ws_open,
};
