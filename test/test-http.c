/* test-http.c: gateway/http on 127.0.0.1: plain requests, upgrades, frames, closes, many clients, freeing with open connections; the limits (output bound, control frame rate, idle pings and closes, the handshake deadline, keepalive) and PROXY v2 from trusted peers. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

/* Every check runs; main reports how many failed. */
#define CHECK_STOP_AFTER 0

#include "test-util.h"
#include "http.h"
#include "proxy_v2.h"
#include "ws_frame.h"
#include "ws_handshake.h"

#define MAX_MESSAGE 4096
#define HTTP_IDLE_MS 500
#define CLOSE_WAIT_MS 300
#define SLOTS 1024
#define MANY_CLIENTS 200
#define MANY_MESSAGES 50

/* --- the server side: runs on its own thread ------------------------------- */

/* What the server saw of one accepted WebSocket (http_conn_data points here). */
struct slot {
    atomic_int closes;
    atomic_uint code;
    char peer[64];   /* http_conn_peer at on_ws_open */
    uint8_t addr[16];
};

static struct slot slots[SLOTS];
static atomic_int next_slot;
static atomic_int stop_loop;
static atomic_int send_after_close = 1;
static atomic_int flood_rc = 1;
static atomic_size_t server_conns;
static atomic_int peer_ok = 1;
static struct event_base *base;
static struct http_server *server;
/* LIMITED: small output bound, no control frame limit, short idle and
 * handshake times, PROXY from 127.0.0.2. CONTROL: 10 control frames a second. */
static struct http_server *limited, *control;
#define LIMITED ((void *)1)
#define CONTROL ((void *)2)
#define LIMITED_OUTPUT_MAX (16 * 1024)
#define LIMITED_HANDSHAKE_MS 300
#define LIMITED_PING_MS 300
#define LIMITED_IDLE_MS 800
#define LIMITED_KEEPALIVE_S 7
static atomic_int connects_seen, disconnects_seen, connects_refused;

static bool span_is(const char *p, size_t len, const char *s)
{
    return p && len == strlen(s) && memcmp(p, s, len) == 0;
}

static void async_reply_cb(evutil_socket_t fd, short what, void *arg)
{
    http_reply(arg, 200, "text/plain", "later", 5);
}

static void on_request(void *arg, struct http_conn *c, const struct http_request *req)
{
    struct timeval tv = {0, 20 * 1000};

    if (span_is(req->path, req->path_len, "/healthz"))
        http_reply(c, 200, "text/plain", "ok\n", 3);
    else if (span_is(req->path, req->path_len, "/echo"))
        http_reply(c, 200, "application/octet-stream", (const char *)req->body, req->body_len);
    else if (span_is(req->path, req->path_len, "/headers"))
        http_reply_headers(c, 200, "text/html", "Cache-Control: no-store\r\nX-A: b\r\n", "<p>", 3);
    else if (span_is(req->path, req->path_len, "/injected"))
        http_reply_headers(c, 200, "text/html", "X-A: b\r\nSet-Cookie: x\n", "<p>", 3);
    else if (span_is(req->path, req->path_len, "/async"))
        event_base_once(base, -1, EV_TIMEOUT, async_reply_cb, c, &tv);
    else
        http_reply(c, 404, NULL, NULL, 0);
}

static int on_ws_open(void *arg, struct http_conn *c, const struct http_request *req)
{
    int i;

    if (req->origin && !span_is(req->origin, req->origin_len, "http://good"))
        return 403;
    if (span_is(req->path, req->path_len, "/draining"))
        return 503;
    if (!span_is(req->path, req->path_len, "/ws"))
        return 404;
    if (arg == NULL && strncmp(http_conn_peer(c), "127.0.0.1:", 10) != 0)
        atomic_store(&peer_ok, 0);
    i = atomic_fetch_add(&next_slot, 1);
    if (i >= SLOTS)
        return 503;
    snprintf(slots[i].peer, sizeof slots[i].peer, "%s", http_conn_peer(c));
    http_conn_addr(c, slots[i].addr);
    http_conn_set_data(c, &slots[i]);
    if (span_is(req->query, req->query_len, "hello"))
        http_ws_send(c, (const uint8_t *)"hi", 2); /* a send before the 101 is queued */
    return 0;
}

static void on_ws_message(void *arg, struct http_conn *c, const uint8_t *msg, size_t len,
                          int binary)
{
    struct http_server_stats st;
    char buf[32];

    if (len == 5 && memcmp(msg, "stats", 5) == 0) {
        http_server_get_stats(server, &st);
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)st.write_calls);
        http_ws_send(c, (const uint8_t *)buf, strlen(buf));
    } else if (len == 5 && memcmp(msg, "burst", 5) == 0) {
        for (int i = 0; i < 100; i++) {
            snprintf(buf, sizeof buf, "b%03d", i);
            http_ws_send(c, (const uint8_t *)buf, 4);
        }
    } else if (len == 14 && memcmp(msg, "stop-listening", 14) == 0) {
        http_server_stop_listening(server);
        http_server_stop_listening(server);
        http_ws_send(c, msg, len);
    } else if (len == 5 && memcmp(msg, "flood", 5) == 0) {
        /* Far more than any output bound, as fast as the loop goes. */
        static uint8_t big[4000];
        int rc = 0;

        for (int i = 0; i < 1000 && rc == 0; i++)
            rc = http_ws_send(c, big, sizeof big);
        snprintf(buf, sizeof buf, "%d", rc);
        atomic_store(&flood_rc, rc);
    } else if (len == 8 && memcmp(msg, "close-me", 8) == 0) {
        http_ws_close(c, 4002, "bye");
        atomic_store(&send_after_close, http_ws_send(c, msg, len));
    } else {
        http_ws_send(c, msg, len);
    }
}

static void on_ws_close(void *arg, struct http_conn *c, unsigned code)
{
    struct slot *sl = http_conn_data(c);

    atomic_fetch_add(&sl->closes, 1);
    atomic_store(&sl->code, code);
}

/* Refuses clients 10.9.9.9 (told by a PROXY header) and 127.0.0.3. */
static int on_connect(void *arg, struct http_conn *c)
{
    char peer[64];

    snprintf(peer, sizeof peer, "%s", http_conn_peer(c));
    if (strncmp(peer, "10.9.9.9:", 9) == 0 || strncmp(peer, "127.0.0.3:", 10) == 0) {
        atomic_fetch_add(&connects_refused, 1);
        return 1;
    }
    atomic_fetch_add(&connects_seen, 1);
    return 0;
}

static void on_disconnect(void *arg, struct http_conn *c)
{
    atomic_fetch_add(&disconnects_seen, 1);
}

static atomic_size_t limited_conns;

static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
    atomic_store(&server_conns, http_server_connections(server));
    atomic_store(&limited_conns, http_server_connections(limited));
    if (atomic_load(&stop_loop))
        event_base_loopbreak(base);
}

static void *server_thread(void *arg)
{
    event_base_dispatch(base);
    return NULL;
}

/* --- the client side: blocking sockets on the main thread ------------------ */

struct client {
    int fd;
    size_t len;
    uint8_t buf[64 * 1024];
};

static unsigned port, limited_port, control_port;

/* Connects to to_port on 127.0.0.1 from src (NULL: any), with a receive
 * buffer of rcvbuf bytes (0: the default). */
static struct client *cl_connect_from(unsigned to_port, const char *src, int rcvbuf)
{
    struct client *cl = calloc(1, sizeof *cl);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)to_port)};
    struct timeval tv = {3, 0};
    int one = 1;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cl->fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(cl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(cl->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (rcvbuf > 0)
        setsockopt(cl->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (src) {
        struct sockaddr_in me = {.sin_family = AF_INET};

        inet_pton(AF_INET, src, &me.sin_addr);
        if (bind(cl->fd, (struct sockaddr *)&me, sizeof me) < 0) {
            perror("bind");
            exit(1);
        }
    }
    if (connect(cl->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        perror("connect");
        exit(1);
    }
    return cl;
}

static struct client *cl_connect(void)
{
    return cl_connect_from(port, NULL, 0);
}

static void cl_free(struct client *cl)
{
    if (cl) {
        close(cl->fd);
        free(cl);
    }
}

static void cl_write(struct client *cl, const void *p, size_t n)
{
    const uint8_t *b = p;

    while (n > 0) {
        ssize_t w = send(cl->fd, b, n, MSG_NOSIGNAL);
        if (w <= 0) {
            CHECK(!"send failed");
            return;
        }
        b += w;
        n -= (size_t)w;
    }
}

/* Reads more; returns the bytes read, 0 at EOF, -1 on error or timeout. */
static ssize_t cl_fill(struct client *cl)
{
    ssize_t n;

    if (cl->len == sizeof cl->buf)
        return -1;
    n = recv(cl->fd, cl->buf + cl->len, sizeof cl->buf - cl->len, 0);
    if (n > 0)
        cl->len += (size_t)n;
    return n;
}

static void cl_consume(struct client *cl, size_t n)
{
    memmove(cl->buf, cl->buf + n, cl->len - n);
    cl->len -= n;
}

/* True when the server closed the connection with nothing more sent. */
static bool cl_eof(struct client *cl)
{
    return cl->len == 0 && cl_fill(cl) == 0;
}

/* Reads one HTTP response; returns its status (-1 on failure) and copies the
 * body (NUL-terminated) and whether it said Connection: close. */
static int cl_http_response(struct client *cl, char *body, size_t cap, bool *close_out)
{
    uint8_t *end;
    size_t head, clen = 0;
    int status = -1;
    char *h;

    while (!(end = memmem(cl->buf, cl->len, "\r\n\r\n", 4)))
        if (cl_fill(cl) <= 0)
            return -1;
    head = (size_t)(end - cl->buf) + 4;
    h = strndup((const char *)cl->buf, head);
    sscanf(h, "HTTP/1.1 %d", &status);
    if (strstr(h, "Content-Length: "))
        clen = strtoul(strstr(h, "Content-Length: ") + 16, NULL, 10);
    if (close_out)
        *close_out = strstr(h, "Connection: close\r\n") != NULL;
    free(h);
    while (cl->len < head + clen)
        if (cl_fill(cl) <= 0)
            return -1;
    if (body && cap > clen) {
        memcpy(body, cl->buf + head, clen);
        body[clen] = 0;
    }
    cl_consume(cl, head + clen);
    return status;
}

static int cl_http(struct client *cl, const char *request, char *body, size_t cap, bool *close_out)
{
    cl_write(cl, request, strlen(request));
    return cl_http_response(cl, body, cap, close_out);
}

/* Opens a WebSocket on path with extra headers; returns 101 when the server
 * accepted it with the right Sec-WebSocket-Accept, else the status. */
static int cl_ws_open(struct client *cl, const char *path, const char *extra)
{
    uint8_t nonce[16];
    char key[WS_HS_KEY_LEN + 1], req[1024];
    int n, r, status = -1;

    for (int i = 0; i < 16; i++)
        nonce[i] = (uint8_t)rand();
    ws_handshake_client_key(nonce, key);
    n = ws_handshake_request(req, sizeof req, "127.0.0.1", path, key, extra);
    CHECK(n > 0);
    cl_write(cl, req, (size_t)n);
    for (;;) {
        r = ws_handshake_parse_response((const char *)cl->buf, cl->len, key, WS_HS_KEY_LEN);
        if (r > 0) {
            cl_consume(cl, (size_t)r);
            return 101;
        }
        if (r == WS_HS_ERR_STATUS && memmem(cl->buf, cl->len, "\r\n\r\n", 4)) {
            sscanf((const char *)cl->buf, "HTTP/1.1 %d", &status);
            return cl_http_response(cl, NULL, 0, NULL) >= 0 ? status : -1;
        }
        if (r != WS_HS_NEED_MORE && r != WS_HS_ERR_STATUS)
            return -1;
        if (cl_fill(cl) <= 0)
            return -1;
    }
}

static void cl_frame(struct client *cl, int opcode, int fin, const void *payload, size_t len,
                     bool masked)
{
    uint8_t frame[16 + 8192];
    const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
    int h = ws_frame_header(frame, opcode, fin, len, masked ? mask : NULL);

    CHECK(h > 0 && len <= 8192);
    if (h < 0 || len > 8192)
        return;
    if (masked)
        ws_mask_copy(frame + h, payload, len, mask);
    else
        memcpy(frame + h, payload, len);
    cl_write(cl, frame, (size_t)h + len);
}

static void cl_send(struct client *cl, const char *s)
{
    cl_frame(cl, WS_OP_BINARY, 1, s, strlen(s), true);
}

/* Reads one frame; returns its opcode (payload copied, NUL-terminated) or -1. */
static int cl_recv(struct client *cl, char *payload, size_t cap, size_t *len_out)
{
    struct ws_frame f;
    int r;

    while ((r = ws_frame_parse(cl->buf, cl->len, WS_ROLE_CLIENT, 1 << 20, &f)) == WS_NEED_MORE)
        if (cl_fill(cl) <= 0)
            return -1;
    if (r < 0)
        return -1;
    if (payload && cap > f.payload_len) {
        memcpy(payload, f.payload, f.payload_len);
        payload[f.payload_len] = 0;
    }
    if (len_out)
        *len_out = f.payload_len;
    cl_consume(cl, (size_t)r);
    return f.opcode;
}

/* Reads one frame and checks it is a binary frame carrying want. */
static void cl_expect(struct client *cl, const char *want)
{
    char got[8192];
    size_t len = 0;
    int op = cl_recv(cl, got, sizeof got, &len);

    CHECK(op == WS_OP_BINARY);
    CHECK(len == strlen(want) && memcmp(got, want, len) == 0);
    if (op != WS_OP_BINARY || len != strlen(want) || memcmp(got, want, len) != 0)
        fprintf(stderr, "  want \"%s\", got opcode %d \"%.*s\"\n", want, op, (int)len, got);
}

/* Reads one frame and returns its close code (0 if it is not a close frame). */
static unsigned cl_expect_close(struct client *cl)
{
    char payload[256];
    size_t len = 0;
    struct ws_close wc;

    if (cl_recv(cl, payload, sizeof payload, &len) != WS_OP_CLOSE)
        return 0;
    if (ws_close_parse((const uint8_t *)payload, len, &wc) < 0)
        return 0;
    return wc.code;
}

static struct slot *last_slot(void)
{
    return &slots[atomic_load(&next_slot) - 1];
}

/* Waits up to ms for the slot's close count to reach want. */
static bool wait_closes(struct slot *sl, int want, int ms)
{
    for (int i = 0; i < ms && atomic_load(&sl->closes) < want; i++)
        usleep(1000);
    return atomic_load(&sl->closes) == want;
}

static void msleep(int ms)
{
    usleep((useconds_t)ms * 1000);
}

/* --- the cases ------------------------------------------------------------- */

static void test_plain(void)
{
    struct client *cl = cl_connect();
    char body[256];
    bool closing = true;

    CHECK(cl_http(cl, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", body, sizeof body, &closing) == 200);
    CHECK(strcmp(body, "ok\n") == 0 && !closing);
    CHECK(cl_http(cl, "GET /healthz?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", body, sizeof body, &closing) == 200);
    CHECK(strcmp(body, "ok\n") == 0 && !closing);
    CHECK(cl_http(cl, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", body,
                  sizeof body, NULL) == 200);
    CHECK(strcmp(body, "hello") == 0);
    /* a body that arrives after its head, in two pieces */
    cl_write(cl, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nab", 53);
    msleep(20);
    CHECK(cl_http(cl, "cdef", body, sizeof body, NULL) == 200);
    CHECK(strcmp(body, "abcdef") == 0);
    CHECK(cl_http(cl, "GET /async HTTP/1.1\r\nHost: x\r\n\r\n", body, sizeof body, NULL) == 200);
    CHECK(strcmp(body, "later") == 0);
    /* HEAD: the length, no body; a request pipelined behind it is answered next */
    cl_write(cl, "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 66);
    {
        const char *want = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n"
                           "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        while (cl->len < strlen(want) && cl_fill(cl) > 0)
            ;
        CHECK(cl->len == strlen(want) && memcmp(cl->buf, want, cl->len) == 0);
        cl->len = 0;
    }
    /* extra header lines go after Content-Type; a block that could smuggle
     * a header is refused with a body-less 500 */
    cl_write(cl, "HEAD /headers HTTP/1.1\r\nHost: x\r\n\r\nGET /injected HTTP/1.1\r\nHost: x\r\n\r\n", 70);
    {
        const char *want = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nCache-Control: no-store\r\n"
                           "X-A: b\r\nContent-Length: 3\r\n\r\n"
                           "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n";
        while (cl->len < strlen(want) && cl_fill(cl) > 0)
            ;
        CHECK(cl->len == strlen(want) && memcmp(cl->buf, want, cl->len) == 0);
        cl->len = 0;
    }
    CHECK(cl_http(cl, "GET /headers HTTP/1.1\r\nHost: x\r\n\r\n", body, sizeof body, NULL) == 200);
    CHECK(strcmp(body, "<p>") == 0);
    CHECK(cl_http(cl, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", body,
                  sizeof body, &closing) == 200);
    CHECK(closing);
    CHECK(cl_eof(cl));
    cl_free(cl);

    /* the peer goes while its request is with an async handler: the reply
     * finds it gone and frees it (ASan watches) */
    cl = cl_connect();
    cl_write(cl, "GET /async HTTP/1.1\r\nHost: x\r\n\r\n", 33);
    msleep(5);
    cl_free(cl);
    msleep(40);

    /* the peer shuts its side after the request: answered, then closed */
    cl = cl_connect();
    cl_write(cl, "GET /async HTTP/1.1\r\nHost: x\r\n\r\n", 33);
    shutdown(cl->fd, SHUT_WR);
    CHECK(cl_http_response(cl, body, sizeof body, &closing) == 200);
    CHECK(strcmp(body, "later") == 0 && closing);
    CHECK(cl_eof(cl));
    cl_free(cl);

    /* HTTP/1.0 closes unless asked to keep alive */
    cl = cl_connect();
    CHECK(cl_http(cl, "GET /healthz HTTP/1.0\r\n\r\n", body, sizeof body, &closing) == 200);
    CHECK(closing && cl_eof(cl));
    cl_free(cl);
}

static void test_bad_requests(void)
{
    struct client *cl;
    char big[10000];

    cl = cl_connect();
    CHECK(cl_http(cl, "garbage\r\n\r\n", NULL, 0, NULL) == 400);
    CHECK(cl_eof(cl));
    cl_free(cl);

    /* refused from the first bytes, without waiting for a blank line */
    cl = cl_connect();
    CHECK(cl_http(cl, "\x01\x02\x03 nonsense", NULL, 0, NULL) == 400);
    CHECK(cl_eof(cl));
    cl_free(cl);

    cl = cl_connect();
    memset(big, 'a', sizeof big);
    memcpy(big, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ", 32);
    big[sizeof big - 1] = 0;
    CHECK(cl_http(cl, big, NULL, 0, NULL) == 431);
    CHECK(cl_eof(cl));
    cl_free(cl);

    cl = cl_connect();
    CHECK(cl_http(cl, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", NULL, 0,
                  NULL) == 413);
    CHECK(cl_eof(cl));
    cl_free(cl);

    cl = cl_connect();
    CHECK(cl_http(cl, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", NULL,
                  0, NULL) == 411);
    CHECK(cl_eof(cl));
    cl_free(cl);

    /* idle: closed after HTTP_IDLE_MS with nothing said */
    cl = cl_connect();
    CHECK(cl_http(cl, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", NULL, 0, NULL) == 200);
    CHECK(cl_eof(cl));
    cl_free(cl);
}

static void test_handshake(void)
{
    struct client *cl;
    char accept_line[64];
    const char *req = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n";

    /* RFC 6455 section 1.3's example key and accept value */
    cl = cl_connect();
    cl_write(cl, req, strlen(req));
    while (!memmem(cl->buf, cl->len, "\r\n\r\n", 4))
        if (cl_fill(cl) <= 0)
            break;
    snprintf(accept_line, sizeof accept_line, "Sec-WebSocket-Accept: %s\r\n",
             "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    CHECK(memcmp(cl->buf, "HTTP/1.1 101 ", 13) == 0);
    CHECK(memmem(cl->buf, cl->len, accept_line, strlen(accept_line)) != NULL);
    cl_free(cl);

    cl = cl_connect();
    CHECK(cl_ws_open(cl, "/nope", NULL) == 404);
    CHECK(cl_eof(cl));
    cl_free(cl);
    cl = cl_connect();
    CHECK(cl_ws_open(cl, "/ws", "Origin: http://evil\r\n") == 403);
    CHECK(cl_eof(cl));
    cl_free(cl);
    cl = cl_connect();
    CHECK(cl_ws_open(cl, "/draining", NULL) == 503);
    CHECK(cl_eof(cl));
    cl_free(cl);

    /* a send from on_ws_open follows the 101 */
    cl = cl_connect();
    CHECK(cl_ws_open(cl, "/ws?hello", "Origin: http://good\r\n") == 101);
    cl_expect(cl, "hi");
    cl_free(cl);

    /* an upgrade after a plain request on the same connection */
    cl = cl_connect();
    CHECK(cl_http(cl, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", NULL, 0, NULL) == 200);
    CHECK(cl_ws_open(cl, "/ws", NULL) == 101);
    cl_send(cl, "after");
    cl_expect(cl, "after");
    cl_free(cl);
}

static void test_frames(void)
{
    struct client *cl = cl_connect();
    char big[MAX_MESSAGE + 1], got[64];
    uint8_t frame[64];
    const uint8_t mask[4] = {1, 2, 3, 4};
    int h;

    CHECK(cl_ws_open(cl, "/ws", NULL) == 101);
    cl_send(cl, "hello");
    cl_expect(cl, "hello");
    cl_send(cl, "");
    cl_expect(cl, "");

    /* a message of exactly max_message bytes */
    memset(big, 'x', MAX_MESSAGE);
    big[MAX_MESSAGE] = 0;
    cl_send(cl, big);
    cl_expect(cl, big);

    /* ping -> pong with the same payload; an unsolicited pong is ignored */
    cl_frame(cl, WS_OP_PONG, 1, "junk", 4, true);
    cl_frame(cl, WS_OP_PING, 1, "p1", 2, true);
    CHECK(cl_recv(cl, got, sizeof got, NULL) == WS_OP_PONG && strcmp(got, "p1") == 0);

    /* fragments, with a ping between them, assembled into one text message */
    cl_frame(cl, WS_OP_TEXT, 0, "frag", 4, true);
    cl_frame(cl, WS_OP_PING, 1, "p2", 2, true);
    cl_frame(cl, WS_OP_CONTINUATION, 0, "ment", 4, true);
    cl_frame(cl, WS_OP_CONTINUATION, 1, "ed", 2, true);
    CHECK(cl_recv(cl, got, sizeof got, NULL) == WS_OP_PONG && strcmp(got, "p2") == 0);
    cl_expect(cl, "fragmented");

    /* a frame dribbled in a byte at a time */
    h = ws_frame_header(frame, WS_OP_BINARY, 1, 7, mask);
    ws_mask_copy(frame + h, (const uint8_t *)"dribble", 7, mask);
    for (int i = 0; i < h + 7; i++) {
        cl_write(cl, frame + i, 1);
        msleep(1);
    }
    cl_expect(cl, "dribble");

    /* two frames and part of a third in one write */
    {
        uint8_t three[64];
        size_t n = 0;
        const char *words[] = {"one", "two", "three"};
        for (int i = 0; i < 3; i++) {
            h = ws_frame_header(three + n, WS_OP_BINARY, 1, strlen(words[i]), mask);
            ws_mask_copy(three + n + h, (const uint8_t *)words[i], strlen(words[i]), mask);
            n += (size_t)h + strlen(words[i]);
        }
        cl_write(cl, three, n - 3);
        cl_expect(cl, "one");
        cl_expect(cl, "two");
        msleep(10);
        cl_write(cl, three + n - 3, 3);
        cl_expect(cl, "three");
    }
    cl_free(cl);
}

/* Opens a WebSocket, sends one raw frame, and checks the close code that comes
 * back, the EOF after it and on_ws_close. */
static void expect_error_close(const uint8_t *frame, size_t len, unsigned want)
{
    struct client *cl = cl_connect();
    struct slot *sl;

    CHECK(cl_ws_open(cl, "/ws", NULL) == 101);
    sl = last_slot();
    cl_write(cl, frame, len);
    CHECK(cl_expect_close(cl) == want);
    CHECK(cl_eof(cl));
    CHECK(wait_closes(sl, 1, 1000));
    CHECK(atomic_load(&sl->code) == want);
    cl_free(cl);
}

static void test_errors(void)
{
    uint8_t frame[64];
    const uint8_t mask[4] = {9, 8, 7, 6};
    const uint8_t bad_utf8[2] = {0xC0, 0xAF};
    int h;

    /* 1 MiB announced: refused from the header, the payload never sent */
    h = ws_frame_header(frame, WS_OP_BINARY, 1, 1u << 20, mask);
    expect_error_close(frame, (size_t)h, WS_CLOSE_TOO_BIG);

    h = ws_frame_header(frame, WS_OP_TEXT, 1, 2, mask);
    ws_mask_copy(frame + h, bad_utf8, 2, mask);
    expect_error_close(frame, (size_t)h + 2, WS_CLOSE_BAD_DATA);

    h = ws_frame_header(frame, WS_OP_BINARY, 1, 3, NULL);
    memcpy(frame + h, "abc", 3);
    expect_error_close(frame, (size_t)h + 3, WS_CLOSE_PROTOCOL);

    /* a continuation with no message open */
    h = ws_frame_header(frame, WS_OP_CONTINUATION, 1, 1, mask);
    ws_mask_copy(frame + h, (const uint8_t *)"z", 1, mask);
    expect_error_close(frame, (size_t)h + 1, WS_CLOSE_PROTOCOL);

    /* fragments that add up to more than max_message */
    {
        struct client *cl = cl_connect();
        static char part[3000];
        memset(part, 'q', sizeof part);
        CHECK(cl_ws_open(cl, "/ws", NULL) == 101);
        cl_frame(cl, WS_OP_BINARY, 0, part, sizeof part, true);
        cl_frame(cl, WS_OP_CONTINUATION, 1, part, sizeof part, true);
        CHECK(cl_expect_close(cl) == WS_CLOSE_TOO_BIG);
        CHECK(cl_eof(cl));
        cl_free(cl);
    }
}

static void test_close(void)
{
    struct client *cl;
    struct slot *sl;
    uint8_t frame[WS_CLOSE_FRAME_MAX];
    const uint8_t mask[4] = {5, 6, 7, 8};
    int n;

    /* the peer closes: its code is echoed, the server shuts down, one on_ws_close */
    cl = cl_connect();
    CHECK(cl_ws_open(cl, "/ws", NULL) == 101);
    sl = last_slot();
    n = ws_close_frame(frame, sizeof frame, 4001, "done", 4, mask);
    cl_write(cl, frame, (size_t)n);
    CHECK(cl_expect_close(cl) == 4001);
    CHECK(cl_eof(cl));
    CHECK(wait_closes(sl, 1, 1000));
    CHECK(atomic_load(&sl->code) == 4001);
    cl_free(cl);

    /* an empty close body is echoed empty; on_ws_close says 1005 */
    cl = cl_connect();
    CHECK(cl_ws_open(cl, "/ws", NULL) == 101);
    sl = last_slot();
    n = ws_close_frame(frame, sizeof frame, 0, NULL, 0, mask);
    cl_write(cl, frame, (size_t)n);
    CHECK(cl_expect_close(cl) == WS_CLOSE_NO_STATUS);
    CHECK(cl_eof(cl));
    CHECK(wait_closes(sl, 1, 1000));
    CHECK(atomic_load(&sl->code) == WS_CLOSE_NO_STATUS);
    cl_free(cl);

    /* the server closes from on_ws_message; later sends fail; the client answers */
    cl = cl_connect();
    CHECK(cl_ws_open(cl, "/ws", NULL) == 101);
    sl = last_slot();
    cl_send(cl, "close-me");
    CHECK(cl_expect_close(cl) == 4002);
    CHECK(atomic_load(&send_after_close) == HTTP_ERR_CLOSING);
    cl_send(cl, "ignored after close"); /* data after the server's close is dropped */
    n = ws_close_frame(frame, sizeof frame, 4002, NULL, 0, mask);
    cl_write(cl, frame, (size_t)n);
    CHECK(cl_eof(cl));
    CHECK(wait_closes(sl, 1, 1000));
    CHECK(atomic_load(&sl->code) == 4002);
    cl_free(cl);

    /* the server closes and the client never answers: gone after CLOSE_WAIT_MS */
    cl = cl_connect();
    CHECK(cl_ws_open(cl, "/ws", NULL) == 101);
    sl = last_slot();
    cl_send(cl, "close-me");
    CHECK(cl_expect_close(cl) == 4002);
    CHECK(wait_closes(sl, 1, CLOSE_WAIT_MS + 1000));
    CHECK(cl_eof(cl));
    cl_free(cl);

    /* the client just drops the TCP connection: 1006 */
    cl = cl_connect();
    CHECK(cl_ws_open(cl, "/ws", NULL) == 101);
    sl = last_slot();
    cl_free(cl);
    CHECK(wait_closes(sl, 1, 1000));
    CHECK(atomic_load(&sl->code) == WS_CLOSE_ABNORMAL);
}

static void test_many_clients(void)
{
    static struct client *cls[MANY_CLIENTS];
    char msg[32];

    for (int i = 0; i < MANY_CLIENTS; i++) {
        cls[i] = cl_connect();
        CHECK(cl_ws_open(cls[i], "/ws", NULL) == 101);
    }
    for (int m = 0; m < MANY_MESSAGES; m++)
        for (int i = 0; i < MANY_CLIENTS; i++) {
            snprintf(msg, sizeof msg, "c%d-m%d", i, m);
            cl_send(cls[i], msg);
        }
    for (int i = 0; i < MANY_CLIENTS; i++) {
        for (int m = 0; m < MANY_MESSAGES; m++) {
            snprintf(msg, sizeof msg, "c%d-m%d", i, m);
            cl_expect(cls[i], msg);
        }
        cl_free(cls[i]);
    }
}

static void test_coalescing(void)
{
    struct client *cl = cl_connect();
    char got[64], want[8];
    unsigned long long w0, w1;

    CHECK(cl_ws_open(cl, "/ws", NULL) == 101);
    cl_send(cl, "stats");
    CHECK(cl_recv(cl, got, sizeof got, NULL) == WS_OP_BINARY);
    w0 = strtoull(got, NULL, 10);
    cl_send(cl, "burst");
    for (int i = 0; i < 100; i++) {
        snprintf(want, sizeof want, "b%03d", i);
        cl_expect(cl, want);
    }
    cl_send(cl, "stats");
    CHECK(cl_recv(cl, got, sizeof got, NULL) == WS_OP_BINARY);
    w1 = strtoull(got, NULL, 10);
    /* the first stats reply and the burst: two writes, not 101 */
    CHECK(w1 - w0 <= 3);
    if (w1 - w0 > 3)
        fprintf(stderr, "  %llu writes for a burst of 100\n", w1 - w0);
    cl_free(cl);
}


/* --- the limits ------------------------------------------------------------ */

static struct http_server_stats stats_of(struct http_server *srv)
{
    struct http_server_stats st;

    /* Counters are only ever written by the loop thread; a torn read of
     * one would only make a check fail, not pass. */
    http_server_get_stats(srv, &st);
    return st;
}

/* Writes until the server resets the connection; returns true if it did. */
static bool cl_write_until_reset(struct client *cl, const void *p, size_t n, int max_ms)
{
    struct timespec t0, t;

    /* Bounded by time, not by sends: while the server reads, sends succeed
     * without waiting, and how many fit before the bound depends on how far
     * the kernel grew the server's send buffer. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        ssize_t w = send(cl->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
            return true;
        if (w < 0 && errno != EAGAIN)
            return true;
        if (w < 0)
            msleep(1);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > max_ms)
            return false;
    }
}

/* A client that never reads: the frames queued for it (here pongs to its
 * pings, then data) stop at output_max and it is reset, 1008. */
static void test_output_bound(void)
{
    struct http_server_stats before = stats_of(limited);
    struct client *cl = cl_connect_from(limited_port, NULL, 4096);
    uint8_t ping[6 + 125];
    const uint8_t mask[4] = {1, 2, 3, 4};
    uint8_t payload[125];
    struct slot *sl;
    int h;

    CHECK(cl_ws_open(cl, "/ws", NULL) == 101);
    sl = last_slot();
    memset(payload, 'p', sizeof payload);
    h = ws_frame_header(ping, WS_OP_PING, 1, sizeof payload, mask);
    ws_mask_copy(ping + h, payload, sizeof payload, mask);
    CHECK(cl_write_until_reset(cl, ping, (size_t)h + sizeof payload, 20000));
    CHECK(wait_closes(sl, 1, 2000));
    CHECK_EQ(atomic_load(&sl->code), WS_CLOSE_POLICY);
    CHECK_EQ(stats_of(limited).output_overflows, before.output_overflows + 1);
    cl_free(cl);

    /* The owner's own frames: the send that passes the bound fails. */
    cl = cl_connect_from(limited_port, NULL, 4096);
    CHECK(cl_ws_open(cl, "/ws", NULL) == 101);
    sl = last_slot();
    atomic_store(&flood_rc, 1);
    cl_send(cl, "flood");
    CHECK(wait_closes(sl, 1, 2000));
    CHECK_EQ(atomic_load(&flood_rc), HTTP_ERR_FULL);
    CHECK_EQ(atomic_load(&sl->code), WS_CLOSE_POLICY);
    CHECK_EQ(stats_of(limited).output_overflows, before.output_overflows + 2);
    cl_free(cl);
}

/* Ten control frames a second at most: the eleventh at once closes, 1008. */
static void test_control_rate(void)
{
    struct http_server_stats before = stats_of(control);
    struct client *cl = cl_connect_from(control_port, NULL, 0);
    struct slot *sl;
    char got[64];

    CHECK(cl_ws_open(cl, "/ws", NULL) == 101);
    sl = last_slot();
    for (int i = 0; i < 10; i++)
        cl_frame(cl, WS_OP_PING, 1, "hi", 2, true);
    for (int i = 0; i < 10; i++)
        CHECK(cl_recv(cl, got, sizeof got, NULL) == WS_OP_PONG);
    cl_frame(cl, WS_OP_PONG, 1, "", 0, true);
    CHECK(cl_expect_close(cl) == WS_CLOSE_POLICY);
    CHECK(wait_closes(sl, 1, 1000));
    CHECK_EQ(atomic_load(&sl->code), WS_CLOSE_POLICY);
    CHECK_EQ(stats_of(control).control_floods, before.control_floods + 1);
    cl_free(cl);

    /* At the rate itself nothing happens. */
    cl = cl_connect_from(control_port, NULL, 0);
    CHECK(cl_ws_open(cl, "/ws", NULL) == 101);
    for (int i = 0; i < 25; i++) {
        cl_frame(cl, WS_OP_PING, 1, "ok", 2, true);
        CHECK(cl_recv(cl, got, sizeof got, NULL) == WS_OP_PONG);
        msleep(110);
    }
    cl_send(cl, "still open");
    cl_expect(cl, "still open");
    cl_free(cl);
}

/* Silent for LIMITED_PING_MS: pinged; silent for LIMITED_IDLE_MS: 1001. A
 * pong (anything) starts the silence over. */
static void test_idle(void)
{
    struct http_server_stats before = stats_of(limited);
    struct client *cl = cl_connect_from(limited_port, NULL, 0);
    struct timespec t0, t1;
    struct slot *sl;
    double ms;

    CHECK(cl_ws_open(cl, "/ws", NULL) == 101);
    sl = last_slot();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK(cl_recv(cl, NULL, 0, NULL) == WS_OP_PING);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK(ms >= LIMITED_PING_MS - 50 && ms < LIMITED_PING_MS + 500);
    /* Answered: no close at the idle time, a ping again instead. */
    cl_frame(cl, WS_OP_PONG, 1, "", 0, true);
    CHECK(cl_recv(cl, NULL, 0, NULL) == WS_OP_PING);
    CHECK_EQ(atomic_load(&sl->closes), 0);
    /* Not answered: closed once silent for LIMITED_IDLE_MS. */
    CHECK(cl_expect_close(cl) == WS_CLOSE_GOING_AWAY);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK(ms >= LIMITED_PING_MS + LIMITED_IDLE_MS - 100);
    CHECK(wait_closes(sl, 1, CLOSE_WAIT_MS + 2500));
    CHECK_EQ(atomic_load(&sl->code), WS_CLOSE_GOING_AWAY);
    CHECK_EQ(stats_of(limited).pings_sent, before.pings_sent + 2);
    CHECK_EQ(stats_of(limited).idle_closed, before.idle_closed + 1);
    cl_free(cl);
}

/* The first request must be whole within LIMITED_HANDSHAKE_MS. */
static void test_handshake_deadline(void)
{
    struct http_server_stats before = stats_of(limited);
    struct client *cl = cl_connect_from(limited_port, NULL, 0);
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

    /* One byte every 50 ms: never whole in time. */
    for (size_t i = 0; i < 4; i++) {
        cl_write(cl, req + i, 1);
        msleep(50);
    }
    msleep(LIMITED_HANDSHAKE_MS);
    CHECK(cl_eof(cl));
    CHECK_EQ(stats_of(limited).handshake_timeouts, before.handshake_timeouts + 1);
    cl_free(cl);
    /* Whole in time: answered, then kept with the idle time of HTTP. */
    cl = cl_connect_from(limited_port, NULL, 0);
    msleep(LIMITED_HANDSHAKE_MS / 2);
    CHECK(cl_http(cl, req, NULL, 0, NULL) == 200);
    msleep(LIMITED_HANDSHAKE_MS);
    CHECK(cl_http(cl, req, NULL, 0, NULL) == 200);
    cl_free(cl);
    CHECK_EQ(stats_of(limited).handshake_timeouts, before.handshake_timeouts + 1);
}

/* Returns the seconds left on the keepalive timer of the server's side of
 * the connection from local port lport (/proc/net/tcp: "tr" 2, "tm->when"
 * in 1/100 s), or -1 when it has none. */
static double keepalive_left_s(unsigned srv_port, unsigned lport)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    char line[512];
    double left = -1;

    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        unsigned la, lp, ra, rp, st, tr, when;

        if (sscanf(line, " %*d: %x:%x %x:%x %x %*x:%*x %x:%x", &la, &lp, &ra, &rp, &st, &tr,
                   &when) == 7 &&
            lp == srv_port && rp == lport)
            left = tr == 2 ? when / 100.0 : -1;
    }
    fclose(f);
    return left;
}

/* keepalive_s replaces the kernel's 2 h (libevent's listener turns
 * keepalive on for every socket, with the system's times). */
static void test_keepalive(void)
{
    struct client *a = cl_connect_from(limited_port, NULL, 0);
    struct client *b = cl_connect();
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    unsigned pa, pb;
    double left;

    CHECK(cl_ws_open(a, "/ws", NULL) == 101);
    CHECK(cl_ws_open(b, "/ws", NULL) == 101);
    getsockname(a->fd, (struct sockaddr *)&me, &len);
    pa = ntohs(me.sin_port);
    len = sizeof me;
    getsockname(b->fd, (struct sockaddr *)&me, &len);
    pb = ntohs(me.sin_port);
    left = keepalive_left_s(limited_port, pa);
    CHECK(left > 0 && left <= LIMITED_KEEPALIVE_S);
    left = keepalive_left_s(port, pb);
    CHECK(left < 0 || left > 600);
    cl_free(a);
    cl_free(b);
}

static void test_addr_range(void)
{
    struct http_addr_range r;
    static const uint8_t v4[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 0};

    CHECK(http_addr_range_parse("10.0.0.0/8", &r) == 0);
    CHECK(r.prefix == 104 && memcmp(r.ip, v4, 16) == 0);
    CHECK(http_addr_range_parse("1.2.3.4", &r) == 0 && r.prefix == 128);
    CHECK(http_addr_range_parse("::1", &r) == 0 && r.prefix == 128 && r.ip[15] == 1);
    CHECK(http_addr_range_parse("2001:db8::/32", &r) == 0 && r.prefix == 32 && r.ip[1] == 0x01);
    CHECK(http_addr_range_parse("0.0.0.0/0", &r) == 0 && r.prefix == 96);
    const char *bad[] = {"", "/8", "1.2.3.4/", "1.2.3.4/33", "::1/129", "1.2.3.4/x", "1.2.3.4/-1",
                         "host", "1.2.3", "1.2.3.4 ", "[::1]", "10.0.0.0/8/8"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_IN(http_addr_range_parse(bad[i], &r) == HTTP_ERR_INVALID, bad[i]);
    CHECK(http_addr_range_parse(NULL, &r) == HTTP_ERR_INVALID);
}

static size_t proxy_header(uint8_t *out, const char *client, unsigned cport, bool six)
{
    struct proxy_v2_addr c = {.port = (uint16_t)cport, .v4 = !six}, d = {.port = 80, .v4 = !six};

    if (six) {
        inet_pton(AF_INET6, client, c.ip);
        inet_pton(AF_INET6, "2001:db8::1", d.ip);
    } else {
        c.ip[10] = c.ip[11] = d.ip[10] = d.ip[11] = 0xff;
        inet_pton(AF_INET, client, c.ip + 12);
        inet_pton(AF_INET, "127.0.0.1", d.ip + 12);
    }
    return (size_t)proxy_v2_encode(out, 64, &c, &d);
}

static void test_proxy(void)
{
    struct http_server_stats before = stats_of(limited);
    uint8_t hdr[64];
    size_t n;
    struct client *cl;
    static const uint8_t want4[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 7};

    /* The trusted proxy tells the phone's address. */
    cl = cl_connect_from(limited_port, "127.0.0.2", 0);
    n = proxy_header(hdr, "203.0.113.7", 5555, false);
    cl_write(cl, hdr, n);
    CHECK(cl_ws_open(cl, "/ws", NULL) == 101);
    CHECK(strcmp(last_slot()->peer, "203.0.113.7:5555") == 0);
    CHECK(memcmp(last_slot()->addr, want4, 16) == 0);
    cl_free(cl);
    /* IPv6, and a header that comes a byte at a time with the request after it. */
    cl = cl_connect_from(limited_port, "127.0.0.2", 0);
    n = proxy_header(hdr, "2001:db8::7", 4242, true);
    for (size_t i = 0; i < n; i++) {
        cl_write(cl, hdr + i, 1);
        msleep(1);
    }
    CHECK(cl_ws_open(cl, "/ws", NULL) == 101);
    CHECK(strcmp(last_slot()->peer, "[2001:db8::7]:4242") == 0);
    cl_free(cl);
    /* LOCAL (the balancer's health check): its own address stands. */
    cl = cl_connect_from(limited_port, "127.0.0.2", 0);
    CHECK(proxy_v2_encode(hdr, sizeof hdr, NULL, NULL) == 16);
    cl_write(cl, hdr, 16);
    CHECK(cl_ws_open(cl, "/ws", NULL) == 101);
    CHECK(strncmp(last_slot()->peer, "127.0.0.2:", 10) == 0);
    cl_free(cl);
    CHECK_EQ(stats_of(limited).proxy_headers, before.proxy_headers + 3);
    /* A trusted peer without a header, or with a bad one: closed unanswered. */
    cl = cl_connect_from(limited_port, "127.0.0.2", 0);
    cl_write(cl, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 35);
    CHECK(cl_eof(cl));
    cl_free(cl);
    cl = cl_connect_from(limited_port, "127.0.0.2", 0);
    n = proxy_header(hdr, "203.0.113.7", 5555, false);
    hdr[12] = 0x11; /* version 1 */
    cl_write(cl, hdr, n);
    CHECK(cl_eof(cl));
    cl_free(cl);
    CHECK_EQ(stats_of(limited).proxy_errors, before.proxy_errors + 2);
    /* A header that never finishes: the handshake deadline. */
    cl = cl_connect_from(limited_port, "127.0.0.2", 0);
    cl_write(cl, hdr, 10);
    msleep(LIMITED_HANDSHAKE_MS + 100);
    CHECK(cl_eof(cl));
    cl_free(cl);
    /* From anyone else a PROXY header is refused: nobody else may speak for a client. */
    cl = cl_connect_from(limited_port, NULL, 0);
    n = proxy_header(hdr, "203.0.113.7", 5555, false);
    cl_write(cl, hdr, n);
    cl_write(cl, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 35);
    CHECK(cl_eof(cl));
    cl_free(cl);
    CHECK_EQ(stats_of(limited).proxy_untrusted, before.proxy_untrusted + 1);
    /* Plain clients are unaffected. */
    cl = cl_connect_from(limited_port, NULL, 0);
    CHECK(cl_http(cl, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", NULL, 0, NULL) == 200);
    cl_free(cl);
}

/* on_connect sees the client's address (told by the proxy or not) and may
 * refuse it; every served connection gets one on_disconnect. */
static void test_on_connect(void)
{
    struct http_server_stats before = stats_of(limited);
    int refused = atomic_load(&connects_refused);
    uint8_t hdr[64];
    size_t n;
    struct client *cl;

    cl = cl_connect_from(limited_port, "127.0.0.2", 0);
    n = proxy_header(hdr, "10.9.9.9", 1, false);
    cl_write(cl, hdr, n);
    cl_write(cl, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 35);
    CHECK(cl_eof(cl));
    cl_free(cl);
    cl = cl_connect_from(limited_port, "127.0.0.3", 0);
    CHECK(cl_eof(cl));
    cl_free(cl);
    CHECK_EQ(atomic_load(&connects_refused), refused + 2);
    CHECK_EQ(stats_of(limited).refused, before.refused + 2);
    /* Every connection of the limited server so far is closed: as many
     * disconnects as connects served. */
    for (int i = 0; i < 2000 && atomic_load(&limited_conns) > 0; i++)
        msleep(1);
    CHECK_EQ(atomic_load(&limited_conns), 0);
    CHECK_EQ(atomic_load(&disconnects_seen), atomic_load(&connects_seen));
}

int main(void)
{
    struct http_callbacks cb = {
        .on_request = on_request,
        .on_ws_open = on_ws_open,
        .on_ws_message = on_ws_message,
        .on_ws_close = on_ws_close,
    };
    char err[256];
    struct event *poll_ev;
    struct timeval tick = {0, 5000};
    pthread_t th;
    struct client *left[3];

    srand((unsigned)time(NULL));
    base = event_base_new();
    CHECK(http_server_new(base, "300.0.0.1:1", &cb, NULL, MAX_MESSAGE, err, sizeof err) == NULL);
    CHECK(strstr(err, "bad listen address") != NULL);
    server = http_server_new(base, "127.0.0.1:0", &cb, NULL, MAX_MESSAGE, err, sizeof err);
    if (!server) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    http_server_set_timeouts(server, HTTP_IDLE_MS, 0, CLOSE_WAIT_MS);
    port = http_server_port(server);
    CHECK(port > 0);
    {
        struct http_callbacks lcb = cb;
        struct http_limits lim = {
            .output_max = LIMITED_OUTPUT_MAX,
            .control_rate = 0,
            .handshake_ms = LIMITED_HANDSHAKE_MS,
            .ws_ping_ms = LIMITED_PING_MS,
            .ws_idle_ms = LIMITED_IDLE_MS,
            .keepalive_s = LIMITED_KEEPALIVE_S,
        };
        struct http_limits ctl = {.control_rate = 10, .control_burst = 10};

        lcb.on_connect = on_connect;
        lcb.on_disconnect = on_disconnect;
        limited = http_server_new(base, "127.0.0.1:0", &lcb, LIMITED, MAX_MESSAGE, err, sizeof err);
        control = http_server_new(base, "127.0.0.1:0", &cb, CONTROL, MAX_MESSAGE, err, sizeof err);
        if (!limited || !control) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        http_server_set_timeouts(limited, HTTP_IDLE_MS, 0, CLOSE_WAIT_MS);
        http_server_set_limits(limited, &lim);
        CHECK(http_server_add_trusted_proxy(limited, "127.0.0.2") == 0);
        CHECK(http_server_add_trusted_proxy(limited, "127.0.0.2/33") == HTTP_ERR_INVALID);
        http_server_set_timeouts(control, HTTP_IDLE_MS, 0, CLOSE_WAIT_MS);
        http_server_set_limits(control, &ctl);
        limited_port = http_server_port(limited);
        control_port = http_server_port(control);
    }
    poll_ev = event_new(base, -1, EV_PERSIST, poll_cb, NULL);
    event_add(poll_ev, &tick);
    pthread_create(&th, NULL, server_thread, NULL);

    test_plain();
    test_bad_requests();
    test_handshake();
    test_frames();
    test_errors();
    test_close();
    test_many_clients();
    test_coalescing();
    test_addr_range();
    test_output_bound();
    test_control_rate();
    test_idle();
    test_handshake_deadline();
    test_keepalive();
    test_proxy();
    test_on_connect();

    /* no callback ran twice for any WebSocket */
    for (int i = 0; i < atomic_load(&next_slot); i++)
        CHECK(atomic_load(&slots[i].closes) <= 1);

    /* leave connections open in every state and free the server under them */
    left[0] = cl_connect();
    CHECK(cl_ws_open(left[0], "/ws", NULL) == 101);
    cl_send(left[0], "x");
    cl_expect(left[0], "x");
    cl_frame(left[0], WS_OP_TEXT, 0, "half", 4, true); /* an open fragmented message */
    left[1] = cl_connect();
    cl_write(left[1], "GET /healthz HTTP/1.1\r\nHost:", 28); /* half a head */
    left[2] = cl_connect();
    CHECK(cl_ws_open(left[2], "/ws", NULL) == 101);
    cl_send(left[2], "close-me"); /* closing, waiting for the client */
    CHECK(cl_expect_close(left[2]) == 4002);
    msleep(50);
    CHECK(atomic_load(&server_conns) == 3);

    /* stop listening: new connections are refused, old ones carry on */
    cl_frame(left[0], WS_OP_CONTINUATION, 1, "", 0, true);
    cl_expect(left[0], "half");
    cl_send(left[0], "stop-listening");
    cl_expect(left[0], "stop-listening");
    {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno == ECONNREFUSED);
        close(fd);
    }
    cl_send(left[0], "still here");
    cl_expect(left[0], "still here");
    cl_frame(left[0], WS_OP_TEXT, 0, "half", 4, true); /* open again for the free below */
    CHECK(atomic_load(&peer_ok));

    atomic_store(&stop_loop, 1);
    pthread_join(th, NULL);
    http_server_free(server);
    http_server_free(limited);
    http_server_free(control);
    http_server_free(NULL);
    for (int i = 0; i < 3; i++) {
        CHECK(cl_eof(left[i]) || left[i]->len == 0);
        cl_free(left[i]);
    }
    event_free(poll_ev);
    event_base_free(base);

    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("http: all checks passed\n");
    return 0;
}
