/* fuzz-ws-handshake.c: libFuzzer target for proto/ws_handshake.c: request heads and the 101 response.
 *
 * Input: the bytes a peer sends. They are read as a request head (the
 * gateway's side) and as the response to an upgrade sent with the RFC 6455
 * sample key (the load generator's side). What parses is checked against
 * the contract in ws_handshake.h and taken round: an upgrade is answered with
 * ws_handshake_response() and the answer must pass the client's parser; its
 * host and target go into ws_handshake_request() and must come back; an error
 * is answered with ws_handshake_error_response(), which the client must read
 * as a refusal.
 */
#include "fuzz.h"
#include "ws_handshake.h"

#define SAMPLE_KEY "dGhlIHNhbXBsZSBub25jZQ=="

/* Prefix checks cost a parse each: all of them up to this head length. */
#define PREFIX_ALL_MAX 512

static int span_inside(struct ws_span s, const char *buf, size_t len)
{
    if (s.ptr == NULL)
        return s.len == 0;
    return s.ptr >= buf && s.len <= len && (size_t)(s.ptr - buf) <= len - s.len;
}

static int span_is(struct ws_span s, const char *lit)
{
    return s.ptr != NULL && s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

static int span_eq(struct ws_span a, struct ws_span b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* Non-empty printable ASCII without spaces: what ws_handshake_request takes. */
static int plain_word(struct ws_span s)
{
    if (s.len == 0)
        return 0;
    for (size_t i = 0; i < s.len; i++) {
        if ((unsigned char)s.ptr[i] <= 0x20 || (unsigned char)s.ptr[i] >= 0x7f)
            return 0;
    }
    return 1;
}

static char *span_dup(struct ws_span s)
{
    char *copy = (char *)fuzz_alloc(s.len + 1);
    if (s.len > 0)
        memcpy(copy, s.ptr, s.len);
    copy[s.len] = '\0';
    return copy;
}

static int request_error(int r)
{
    return r == WS_HS_ERR_BAD_REQUEST || r == WS_HS_ERR_TOO_LARGE ||
           r == WS_HS_ERR_HTTP_VERSION || r == WS_HS_ERR_HOST || r == WS_HS_ERR_LENGTH ||
           r == WS_HS_ERR_BODY_TOO_BIG || r == WS_HS_ERR_TRANSFER_ENCODING ||
           r == WS_HS_ERR_DUPLICATE || r == WS_HS_ERR_REQUEST_LINE || r == WS_HS_ERR_UPGRADE ||
           r == WS_HS_ERR_CONNECTION || r == WS_HS_ERR_VERSION || r == WS_HS_ERR_KEY;
}

static int response_error(int r)
{
    return r == WS_HS_ERR_BAD_REQUEST || r == WS_HS_ERR_TOO_LARGE ||
           r == WS_HS_ERR_HTTP_VERSION || r == WS_HS_ERR_STATUS || r == WS_HS_ERR_UPGRADE ||
           r == WS_HS_ERR_CONNECTION || r == WS_HS_ERR_EXTENSION || r == WS_HS_ERR_ACCEPT ||
           r == WS_HS_ERR_DUPLICATE;
}

static int parse_request(const char *buf, size_t len, struct ws_request *req)
{
    char *copy = (char *)fuzz_copy(buf, len);
    int r = ws_handshake_parse(copy, len, req);
    /* Spans point into copy; rebase them onto buf. */
    if (r > 0) {
        struct ws_span *spans[] = {&req->method, &req->target, &req->path, &req->query,
                                   &req->host, &req->origin, &req->authorization, &req->key,
                                   &req->protocol};
        for (size_t i = 0; i < sizeof spans / sizeof spans[0]; i++) {
            if (spans[i]->ptr != NULL)
                spans[i]->ptr = buf + (spans[i]->ptr - copy);
        }
    }
    free(copy);
    return r;
}

static int parse_response(const char *buf, size_t len)
{
    char *copy = (char *)fuzz_copy(buf, len);
    int r = ws_handshake_parse_response(copy, len, SAMPLE_KEY, strlen(SAMPLE_KEY));
    free(copy);
    return r;
}

/* A head of r bytes was complete in buf: each of its prefixes (all of them
 * for a short head, some for a long one) is only incomplete. */
static void check_prefixes(const char *buf, int r, int response)
{
    size_t head = (size_t)r;

    for (size_t k = 0; k < head; k++) {
        if (head > PREFIX_ALL_MAX && k + 4 < head && k % 61 != 0)
            continue;
        struct ws_request req;
        int rk = response ? parse_response(buf, k) : parse_request(buf, k, &req);
        FUZZ_CHECK(rk == WS_HS_NEED_MORE);
    }
    struct ws_request req;
    FUZZ_CHECK((response ? parse_response(buf, head) : parse_request(buf, head, &req)) == r);
}

/* The answer to a refused request must be a response the client refuses. */
static void check_error_response(int err)
{
    char out[WS_HS_ERROR_RESPONSE_MAX];
    int n = ws_handshake_error_response(err, out, sizeof out);
    int status = ws_handshake_status(err);

    FUZZ_CHECK(status == 400 || status == 411 || status == 413 || status == 426 ||
               status == 431 || status == 505);
    FUZZ_CHECK(n > 0 && (size_t)n < sizeof out && out[n] == '\0');
    FUZZ_CHECK(ws_handshake_error_response(err, out, (size_t)n) == WS_HS_ERR_INVALID);
    n = ws_handshake_error_response(err, out, sizeof out);
    FUZZ_CHECK(parse_response(out, (size_t)n) == WS_HS_ERR_STATUS);
    FUZZ_CHECK(strcmp(ws_handshake_strerror(err), "unknown error") != 0);
}

/* An upgrade's answer, and a client's request for the same host and target. */
static void check_upgrade_round_trip(const struct ws_request *req)
{
    char out[WS_HS_RESPONSE_MAX];
    int n = ws_handshake_response(req->key.ptr, req->key.len, out, sizeof out);
    FUZZ_CHECK(n > 0);
    char *key = span_dup(req->key);
    char *copy = (char *)fuzz_copy(out, (size_t)n);
    FUZZ_CHECK(ws_handshake_parse_response(copy, (size_t)n, key, req->key.len) == n);
    free(copy);

    char *host = span_dup(req->host), *path = span_dup(req->target);
    char request[WS_HS_HEAD_MAX + 256];
    int rn = ws_handshake_request(request, sizeof request, host, path, key, NULL);
    if (!plain_word(req->host)) {
        FUZZ_CHECK(rn == WS_HS_ERR_INVALID);
    } else {
        FUZZ_CHECK(rn > 0);
        /* Our own header spellings may be a few bytes longer than the
         * peer's, which can push a head near the limit past it. */
        struct ws_request again;
        int ra = parse_request(request, (size_t)rn, &again);
        if (rn > WS_HS_HEAD_MAX) {
            FUZZ_CHECK(ra == WS_HS_ERR_TOO_LARGE);
        } else {
            FUZZ_CHECK(ra == rn && again.upgrade && span_eq(again.key, req->key));
            FUZZ_CHECK(span_eq(again.host, req->host) && span_eq(again.target, req->target));
        }
    }
    free(host);
    free(path);
    free(key);
}

static void check_request(const char *buf, size_t len)
{
    struct ws_request req;
    FUZZ_POISON(req);
    int r = parse_request(buf, len, &req);

    if (r < 0) {
        FUZZ_CHECK(FUZZ_UNTOUCHED(req));
        if (r == WS_HS_NEED_MORE) {
            FUZZ_CHECK(len < WS_HS_HEAD_MAX);
            return;
        }
        FUZZ_CHECK(request_error(r));
        FUZZ_CHECK(r != WS_HS_ERR_TOO_LARGE || len >= WS_HS_HEAD_MAX);
        check_error_response(r);
        return;
    }
    size_t head = (size_t)r;
    FUZZ_CHECK(head <= len && head <= WS_HS_HEAD_MAX && head >= 4);
    FUZZ_CHECK(memcmp(buf + head - 4, "\r\n\r\n", 4) == 0);
    struct ws_span spans[] = {req.method, req.target, req.path, req.query, req.host,
                              req.origin, req.authorization, req.key, req.protocol};
    for (size_t i = 0; i < sizeof spans / sizeof spans[0]; i++)
        FUZZ_CHECK(span_inside(spans[i], buf, head));
    FUZZ_CHECK(req.method.len > 0 && req.target.len > 0);
    FUZZ_CHECK(req.path.ptr == req.target.ptr);
    if (req.query.ptr == NULL) {
        FUZZ_CHECK(req.path.len == req.target.len);
    } else {
        FUZZ_CHECK(req.path.len + 1 + req.query.len == req.target.len);
        FUZZ_CHECK(req.target.ptr[req.path.len] == '?');
    }
    FUZZ_CHECK(memchr(req.path.ptr, '?', req.path.len) == NULL);
    FUZZ_CHECK(req.http_minor == 0 || req.http_minor == 1);
    FUZZ_CHECK(req.http_minor == 0 || req.host.ptr != NULL);
    FUZZ_CHECK(req.content_length <= WS_HS_BODY_MAX);
    FUZZ_CHECK(req.has_content_length || req.content_length == 0);
    check_prefixes(buf, r, 0);
    if (req.upgrade) {
        FUZZ_CHECK(span_is(req.method, "GET") && req.http_minor == 1);
        FUZZ_CHECK(req.content_length == 0 && req.keep_alive);
        FUZZ_CHECK(req.key.len == WS_HS_KEY_LEN);
        check_upgrade_round_trip(&req);
    }
}

static void check_response(const char *buf, size_t len)
{
    int r = parse_response(buf, len);

    if (r == WS_HS_NEED_MORE) {
        FUZZ_CHECK(len < WS_HS_HEAD_MAX);
        return;
    }
    if (r < 0) {
        FUZZ_CHECK(response_error(r));
        FUZZ_CHECK(r != WS_HS_ERR_TOO_LARGE || len >= WS_HS_HEAD_MAX);
        return;
    }
    size_t head = (size_t)r;
    FUZZ_CHECK(head <= len && head <= WS_HS_HEAD_MAX && head >= 4);
    FUZZ_CHECK(memcmp(buf + head - 4, "\r\n\r\n", 4) == 0);
    FUZZ_CHECK(memcmp(buf, "HTTP/1.", 7) == 0 && memcmp(buf + 8, " 101", 4) == 0);
    check_prefixes(buf, r, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_request((const char *)data, size);
    check_response((const char *)data, size);
    return 0;
}
