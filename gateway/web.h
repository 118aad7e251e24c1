/* web.h: the pages the gateway serves from its own binary: the live map on the phones' port, the admin page on the internal port.
 *
 * The files of web/ are compiled in at build time (web/embed.py writes
 * web_assets.c), so serving reads no file and the daemon's sandbox needs
 * nothing for it. Every answer carries a strict Content-Security-Policy (only
 * the gateway's own origin; WebSockets for the map), nosniff and no
 * Referer; HTML is never cached, scripts and styles are revalidated.
 */
#ifndef NEARBY_GATEWAY_WEB_H
#define NEARBY_GATEWAY_WEB_H

#include <stddef.h>

#include "http.h"

/* Which port a file is served on (a bit set). */
enum web_site {
    WEB_SITE_PUBLIC = 1, /* the phones' port: /, /index.html, /map.*, /client/... */
    WEB_SITE_ADMIN = 2,  /* the internal port: /admin, /admin/... */
};

/* One embedded file; web_assets.c (generated) holds the table. */
struct web_asset {
    const char *path;         /* "/index.html": what the URL path must be */
    const char *content_type;
    unsigned sites;           /* enum web_site bits */
    const unsigned char *data;
    size_t len;
};

extern const struct web_asset web_assets[];
extern const size_t web_asset_count;

/* Returns the asset served at path (len bytes, not NUL-terminated) on site,
 * with "/" standing for /index.html and "/admin" and "/admin/" for
 * /admin/index.html; NULL when there is none. */
const struct web_asset *web_find(const char *path, size_t len, enum web_site site);

/* Answers req when its path is a file of site: 200 with the file for GET
 * and HEAD, 405 for other methods. Returns 1 when it answered, 0 when the
 * path is none of site's files (the caller answers). */
int web_handle(struct http_conn *c, const struct http_request *req, enum web_site site);

#endif
