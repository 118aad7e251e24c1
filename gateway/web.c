/* web.c: serve the embedded pages (web_assets.c) with the headers a browser needs to keep them to themselves. */
#include "web.h"

#include <string.h>

/* Only the gateway's own origin: no CDN, no inline script or style, no
 * frames. The map talks to /ws and /v1 of the origin that served it; ws:
 * and wss: are named because 'self' does not cover WebSockets in every
 * browser. The admin page only polls its own JSON. */
#define WEB_CSP_COMMON                                                                         \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "               \
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
#define WEB_HEADERS_COMMON                                                                     \
    "X-Content-Type-Options: nosniff\r\n"                                                      \
    "Referrer-Policy: no-referrer\r\n"

static const char *const public_headers_html =
    "Content-Security-Policy: " WEB_CSP_COMMON "; connect-src 'self' ws: wss:\r\n"
    WEB_HEADERS_COMMON "Cache-Control: no-store\r\n";
static const char *const public_headers_asset =
    "Content-Security-Policy: " WEB_CSP_COMMON "; connect-src 'self' ws: wss:\r\n"
    WEB_HEADERS_COMMON "Cache-Control: no-cache\r\n";
static const char *const admin_headers_html =
    "Content-Security-Policy: " WEB_CSP_COMMON "; connect-src 'self'\r\n"
    WEB_HEADERS_COMMON "Cache-Control: no-store\r\n";
static const char *const admin_headers_asset =
    "Content-Security-Policy: " WEB_CSP_COMMON "; connect-src 'self'\r\n"
    WEB_HEADERS_COMMON "Cache-Control: no-cache\r\n";

static int span_is(const char *p, size_t len, const char *s)
{
    return len == strlen(s) && memcmp(p, s, len) == 0;
}

const struct web_asset *web_find(const char *path, size_t len, enum web_site site)
{
    if (span_is(path, len, "/"))
        path = "/index.html", len = strlen(path);
    else if (span_is(path, len, "/admin") || span_is(path, len, "/admin/"))
        path = "/admin/index.html", len = strlen(path);
    for (size_t i = 0; i < web_asset_count; i++)
        if ((web_assets[i].sites & (unsigned)site) && span_is(path, len, web_assets[i].path))
            return &web_assets[i];
    return NULL;
}

int web_handle(struct http_conn *c, const struct http_request *req, enum web_site site)
{
    const struct web_asset *a = web_find(req->path, req->path_len, site);
    int html;

    if (a == NULL)
        return 0;
    if (!span_is(req->method, req->method_len, "GET") &&
        !span_is(req->method, req->method_len, "HEAD")) {
        http_reply_headers(c, 405, "text/plain", "Allow: GET, HEAD\r\n", "GET or HEAD\n", 12);
        return 1;
    }
    html = strncmp(a->content_type, "text/html", 9) == 0;
    http_reply_headers(c, 200, a->content_type,
                       site == WEB_SITE_ADMIN ? (html ? admin_headers_html : admin_headers_asset)
                                              : (html ? public_headers_html : public_headers_asset),
                       (const char *)a->data, a->len);
    return 1;
}
