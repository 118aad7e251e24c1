/* floor.c: nearby-bench-floor: the least a server must do to push the benchmark's updates to phones over WebSocket.
 *
 * It speaks just enough of the gateway's surface for nearby-loadgen to run
 * against it unchanged: GET /v1/friends (the bench graph, graph.h, with the
 * same token check), the WebSocket upgrade, init answered with an empty
 * nearby, and for each loc one `friend` frame, encoded once, copied to the
 * output of every online friend. No Redis, no channel table, no distance: the
 * rest of the gateway's work is what scripts/bench measures against this.
 * Writes are batched like the gateway's: frames are appended to a
 * connection's buffer and each dirty connection gets one send(2) after the
 * event-loop round that filled it. A connection may begin with a PROXY v2
 * header, as HAProxy configured like the cluster's sends one to its backends
 * (send-proxy-v2, health checks too); it is read and ignored.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "graph.h"
#include "proto_msg.h"
#include "proxy_v2.h"
#include "token.h"
#include "ws_frame.h"
#include "ws_handshake.h"

#define FLOOR_IN_CAP (PROXY_V2_HEADER_MAX + WS_HS_HEAD_MAX + PROTO_FRAME_MAX + WS_FRAME_HEADER_MAX)
#define FLOOR_OUT_MAX (8u << 20) /* a phone this far behind is closed, like a slow phone */
#define FLOOR_FRAME_MAX 256

enum floor_state { FLOOR_HTTP, FLOOR_WS, FLOOR_CLOSING };

struct floor_server;

struct floor_conn {
    struct floor_server *srv; /* ref: owned by main */
    int fd;
    enum floor_state state;
    int live;                 /* init accepted: receives pushes */
    int past_proxy;           /* a PROXY v2 header was read, or the connection has none */
    int dirty;                /* on the server's dirty list */
    int dead;                 /* closed; freed by the flush that holds it */
    uint32_t user;
    struct event *ev_read;
    struct event *ev_write;
    struct floor_conn *next_dirty;
    size_t in_len;
    uint8_t *out;
    size_t out_off, out_len, out_cap;
    uint8_t in[FLOOR_IN_CAP];
};

struct floor_server {
    struct event_base *base;
    struct bench_graph *graph;
    struct floor_conn **online; /* per user id, the live connection or NULL */
    struct floor_conn *dirty;
    struct event *ev_flush;
    int flush_pending;
    uint8_t key[TOKEN_KEY_MAX];
    size_t key_len;
    double radius_km;
    uint64_t pushes;
    char *scratch;              /* a friend-list answer */
    size_t scratch_cap;
};

static void usage(FILE *out)
{
    fprintf(out,
        "usage: nearby-bench-floor --jwt-secret-file F --users P --friends K [FLAGS]\n"
        "\n"
        "The floor of scripts/bench: serves GET /v1/friends, GET /healthz and the\n"
        "phones' WebSocket (/ws) the way nearby-gateway does for nearby-loadgen, but a\n"
        "loc is only copied, as one pre-encoded friend frame, to every online friend.\n"
        "Friends are the graph of bench/graph.h for P users with K friends each.\n"
        "\n"
        "  --listen HOST:PORT       where to listen (default 127.0.0.1:33030)\n"
        "  --jwt-secret-file F      HS256 key the tokens are checked with (required)\n"
        "  --users P                users 1..P (required)\n"
        "  --friends K              friends per user, even, below P (required)\n"
        "  --radius-km KM           radius_km told in nearby (default 8.047)\n"
        "  --help                   this help\n"
        "\n"
        "Stops on SIGINT or SIGTERM and prints the pushes it wrote.\n");
}

static void conn_close(struct floor_conn *c);

/* Schedules the flush that runs after the current loop round. */
static void mark_dirty(struct floor_conn *c)
{
    struct floor_server *s = c->srv;

    if (c->dirty)
        return;
    c->dirty = 1;
    c->next_dirty = s->dirty;
    s->dirty = c;
    if (!s->flush_pending) {
        s->flush_pending = 1;
        event_active(s->ev_flush, EV_TIMEOUT, 0);
    }
}

/* Appends len bytes to c's output. Returns 0, or -1 when c is too far behind
 * or memory runs out (c is then to be closed). */
static int out_append(struct floor_conn *c, const void *p, size_t len)
{
    if (c->out_off > 0 && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        uint8_t *grown;

        if (c->out_off > 0) {
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        while (cap < c->out_len + len)
            cap *= 2;
        if (cap > FLOOR_OUT_MAX)
            return -1;
        if (cap > c->out_cap) {
            grown = realloc(c->out, cap);
            if (grown == NULL)
                return -1;
            c->out = grown;
            c->out_cap = cap;
        }
    }
    memcpy(c->out + c->out_len, p, len);
    c->out_len += len;
    mark_dirty(c);
    return 0;
}

/* Queues one unmasked binary frame. Returns 0 or -1 as out_append. */
static int send_frame(struct floor_conn *c, int opcode, const uint8_t *payload, size_t len)
{
    uint8_t head[WS_FRAME_HEADER_MAX];
    int h = ws_frame_header(head, opcode, 1, len, NULL);

    if (h < 0 || out_append(c, head, (size_t)h) < 0)
        return -1;
    return out_append(c, payload, len);
}

/* Writes what c holds in one send(2). Returns 0, or -1 when the connection failed. */
static int conn_send(struct floor_conn *c)
{
    ssize_t w;

    if (c->out_len == c->out_off)
        return 0;
    w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (w < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
    c->out_off += (size_t)w;
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    return 0;
}

/* After a send: wait for writability while bytes remain; close a closing
 * connection once all is out. */
static void conn_after_send(struct floor_conn *c)
{
    if (c->out_len > c->out_off)
        event_add(c->ev_write, NULL);
    else if (c->state == FLOOR_CLOSING)
        conn_close(c);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    struct floor_server *s = arg;
    struct floor_conn *c = s->dirty, *next;

    s->dirty = NULL;
    s->flush_pending = 0;
    for (; c != NULL; c = next) {
        next = c->next_dirty;
        c->dirty = 0;
        c->next_dirty = NULL;
        if (c->dead) {
            free(c->out);
            free(c);
        } else if (conn_send(c) < 0) {
            conn_close(c);
        } else {
            conn_after_send(c);
        }
    }
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    struct floor_conn *c = arg;

    if (conn_send(c) < 0)
        conn_close(c);
    else
        conn_after_send(c);
}

/* Closes c now; frees it now unless the dirty list holds it. */
static void conn_close(struct floor_conn *c)
{
    struct floor_server *s = c->srv;

    if (c->dead)
        return;
    if (c->live && s->online[c->user] == c)
        s->online[c->user] = NULL;
    c->live = 0;
    event_free(c->ev_read);
    event_free(c->ev_write);
    close(c->fd);
    c->dead = 1;
    if (!c->dirty) {
        free(c->out);
        free(c);
    }
}

/* Answers an HTTP request and closes after it. */
static void http_reply(struct floor_conn *c, int status, const char *reason, const char *body,
                       size_t body_len)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     status, reason, body_len);

    c->state = FLOOR_CLOSING;
    if (out_append(c, head, (size_t)n) < 0 || out_append(c, body, body_len) < 0)
        conn_close(c);
}

/* Returns the user of a valid "Bearer <token>", or 0. */
static uint32_t bearer_user(struct floor_server *s, const struct ws_span *auth)
{
    static const char prefix[] = "Bearer ";
    uint64_t user;

    if (auth->len <= sizeof(prefix) - 1 || memcmp(auth->ptr, prefix, sizeof(prefix) - 1) != 0)
        return 0;
    if (token_verify(s->key, s->key_len, auth->ptr + sizeof(prefix) - 1,
                     auth->len - (sizeof(prefix) - 1), (int64_t)time(NULL), &user) != 0 ||
        user == 0 || user > s->graph->users)
        return 0;
    return (uint32_t)user;
}

static void serve_friends(struct floor_conn *c, const struct ws_request *req)
{
    struct floor_server *s = c->srv;
    uint32_t user = bearer_user(s, &req->authorization);
    size_t need = 64 + (size_t)s->graph->friends * 11, len;

    if (user == 0) {
        http_reply(c, 401, "Unauthorized", "{\"error\":\"bad_token\"}", 21);
        return;
    }
    if (need > s->scratch_cap) {
        char *grown = realloc(s->scratch, need);

        if (grown == NULL) {
            http_reply(c, 500, "Internal Server Error", "{}", 2);
            return;
        }
        s->scratch = grown;
        s->scratch_cap = need;
    }
    len = (size_t)snprintf(s->scratch, need, "{\"user\":%" PRIu32 ",\"friends\":[", user);
    for (uint32_t k = 0; k < s->graph->friends; k++)
        len += (size_t)snprintf(s->scratch + len, need - len, "%s%" PRIu32, k ? "," : "",
                                bench_graph_friend(s->graph, user, k));
    len += (size_t)snprintf(s->scratch + len, need - len, "]}");
    http_reply(c, 200, "OK", s->scratch, len);
}

static long http_step(struct floor_conn *c);

/* Reads the PROXY v2 header a connection may start with. Returns the bytes
 * used (0 once there is none, and the request follows), 0 for more too
 * while the header is incomplete, or -1 when c was closed (a broken header). */
static long proxy_step(struct floor_conn *c)
{
    struct proxy_v2_header hdr;
    int n = proxy_v2_parse(c->in, c->in_len, &hdr);

    if (n == PROXY_V2_NEED_MORE)
        return 0;
    if (n == PROXY_V2_ERR_SIGNATURE) {
        c->past_proxy = 1; /* a client of its own: the request starts here */
        return http_step(c);
    }
    if (n < 0) {
        conn_close(c);
        return -1;
    }
    c->past_proxy = 1;
    return n;
}

/* Handles one request head. Returns the bytes used, 0 for more, or -1 when c was closed. */
static long http_step(struct floor_conn *c)
{
    struct ws_request req;
    char answer[WS_HS_ERROR_RESPONSE_MAX > WS_HS_RESPONSE_MAX ? WS_HS_ERROR_RESPONSE_MAX
                                                               : WS_HS_RESPONSE_MAX];
    int n = ws_handshake_parse((const char *)c->in, c->in_len, &req);

    if (n == WS_HS_NEED_MORE)
        return c->in_len == sizeof(c->in) ? (conn_close(c), -1) : 0;
    if (n < 0) {
        int len = ws_handshake_error_response(n, answer, sizeof(answer));

        c->state = FLOOR_CLOSING;
        if (len < 0 || out_append(c, answer, (size_t)len) < 0) {
            conn_close(c);
            return -1;
        }
        return (long)c->in_len;
    }
    if (req.upgrade) {
        int len = ws_handshake_response(req.key.ptr, req.key.len, answer, sizeof(answer));

        if (len < 0 || out_append(c, answer, (size_t)len) < 0) {
            conn_close(c);
            return -1;
        }
        c->state = FLOOR_WS;
        return n;
    }
    if (req.path.len == 11 && memcmp(req.path.ptr, "/v1/friends", 11) == 0)
        serve_friends(c, &req);
    else if (req.path.len == 8 && memcmp(req.path.ptr, "/healthz", 8) == 0)
        http_reply(c, 200, "OK", "ok", 2);
    else
        http_reply(c, 404, "Not Found", "{\"error\":\"not_found\"}", 21);
    return (long)c->in_len; /* closing: whatever follows is dropped */
}

static void on_init(struct floor_conn *c, const struct proto_msg *m)
{
    struct floor_server *s = c->srv;
    uint8_t frame[64];
    uint64_t user;
    int n;

    if (c->live || token_verify(s->key, s->key_len, m->init.token, m->init.token_len,
                                (int64_t)time(NULL), &user) != 0 ||
        user == 0 || user > s->graph->users) {
        conn_close(c);
        return;
    }
    n = proto_msg_encode_nearby(frame, sizeof(frame), s->radius_km, NULL, 0);
    if (n < 0 || send_frame(c, WS_OP_BINARY, frame, (size_t)n) < 0) {
        conn_close(c);
        return;
    }
    if (s->online[user] != NULL)
        conn_close(s->online[user]);
    c->user = (uint32_t)user;
    c->live = 1;
    s->online[user] = c;
}

/* The work under test: one frame, encoded once, to every online friend. */
static void on_loc(struct floor_conn *c, const struct proto_msg *m)
{
    struct floor_server *s = c->srv;
    struct proto_friend f = {c->user, m->loc.lat, m->loc.lng, m->loc.ts, 0};
    uint8_t frame[FLOOR_FRAME_MAX];
    int h, n;

    if (!c->live)
        return;
    n = proto_msg_encode_friend(frame + 2, sizeof(frame) - 2, &f);
    if (n < 0 || n > 125 || (h = ws_frame_header(frame, WS_OP_BINARY, 1, (uint64_t)n, NULL)) != 2)
        return;
    for (uint32_t k = 0; k < s->graph->friends; k++) {
        struct floor_conn *to = s->online[bench_graph_friend(s->graph, c->user, k)];

        if (to == NULL)
            continue;
        if (out_append(to, frame, (size_t)n + 2) < 0)
            to->state = FLOOR_CLOSING; /* too slow: dropped once flushed */
        else
            s->pushes++;
    }
}

/* Handles one frame. Returns the bytes used, 0 for more, or -1 when c was closed. */
static long ws_step(struct floor_conn *c)
{
    struct ws_frame f;
    struct proto_msg m;
    uint8_t *payload;
    uint8_t close_frame[WS_CLOSE_FRAME_MAX];
    int n = ws_frame_parse(c->in, c->in_len, WS_ROLE_SERVER, PROTO_FRAME_MAX, &f);

    if (n == WS_NEED_MORE)
        return 0;
    if (n < 0 || !f.fin || f.opcode == WS_OP_CONTINUATION) {
        conn_close(c);
        return -1;
    }
    payload = c->in + f.header_len;
    ws_mask(payload, f.payload_len, f.mask, 0);
    switch (f.opcode) {
    case WS_OP_BINARY:
        if (proto_msg_decode_from_phone(payload, f.payload_len, &m, NULL) < 0)
            break;
        if (m.type == PROTO_MSG_INIT)
            on_init(c, &m);
        else if (m.type == PROTO_MSG_LOC)
            on_loc(c, &m);
        if (c->dead)
            return -1;
        break;
    case WS_OP_PING:
        if (send_frame(c, WS_OP_PONG, payload, f.payload_len) < 0) {
            conn_close(c);
            return -1;
        }
        break;
    case WS_OP_CLOSE: {
        int len = ws_close_frame(close_frame, sizeof(close_frame), WS_CLOSE_NORMAL, NULL, 0, NULL);

        if (c->live && c->srv->online[c->user] == c)
            c->srv->online[c->user] = NULL;
        c->live = 0;
        c->state = FLOOR_CLOSING;
        if (len < 0 || out_append(c, close_frame, (size_t)len) < 0) {
            conn_close(c);
            return -1;
        }
        return (long)c->in_len;
    }
    default:
        break;
    }
    return n;
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    struct floor_conn *c = arg;
    ssize_t r = recv(fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);

    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        conn_close(c);
        return;
    }
    if (r < 0)
        return;
    c->in_len += (size_t)r;
    while (c->in_len > 0) {
        long used;

        if (c->state == FLOOR_CLOSING) {
            c->in_len = 0; /* closing: whatever else comes is dropped */
            return;
        }
        used = !c->past_proxy ? proxy_step(c) : c->state == FLOOR_HTTP ? http_step(c) : ws_step(c);
        if (used < 0)
            return;
        if (used == 0)
            break;
        /* The parsers look at c->in from its start: keep what is left there. */
        memmove(c->in, c->in + used, c->in_len - (size_t)used);
        c->in_len -= (size_t)used;
    }
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
    struct floor_server *s = arg;

    for (int i = 0; i < 64; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
        struct floor_conn *c;

        if (fd < 0)
            return;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c = calloc(1, sizeof(*c));
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->srv = s;
        c->fd = fd;
        c->ev_read = event_new(s->base, fd, EV_READ | EV_PERSIST, on_read, c);
        c->ev_write = event_new(s->base, fd, EV_WRITE, on_write, c);
        if (c->ev_read == NULL || c->ev_write == NULL || event_add(c->ev_read, NULL) < 0) {
            if (c->ev_read != NULL)
                event_free(c->ev_read);
            if (c->ev_write != NULL)
                event_free(c->ev_write);
            close(fd);
            free(c);
        }
    }
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
    event_base_loopbreak(arg);
}

/* Opens the listening socket on host:port. Returns the fd or -1. */
static int listen_on(const char *hostport)
{
    char host[64];
    const char *colon = strrchr(hostport, ':');
    struct sockaddr_in sa = {.sin_family = AF_INET};
    int fd, one = 1;

    if (colon == NULL || (size_t)(colon - hostport) >= sizeof(host))
        return -1;
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    sa.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return -1;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4096) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    static const struct option long_options[] = {
        {"listen", required_argument, NULL, 'l'},
        {"jwt-secret-file", required_argument, NULL, 's'},
        {"users", required_argument, NULL, 'u'},
        {"friends", required_argument, NULL, 'f'},
        {"radius-km", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static struct floor_server srv;
    const char *listen_addr = "127.0.0.1:33030", *secret = NULL;
    unsigned long users = 0, friends = 0;
    struct event *ev_listen = NULL, *ev_int = NULL, *ev_term = NULL;
    struct rlimit rl;
    int opt, lfd = -1, rc = 1;

    srv.radius_km = 8.047;
    while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        switch (opt) {
        case 'l':
            listen_addr = optarg;
            break;
        case 's':
            secret = optarg;
            break;
        case 'u':
            users = strtoul(optarg, NULL, 10);
            break;
        case 'f':
            friends = strtoul(optarg, NULL, 10);
            break;
        case 'r':
            srv.radius_km = strtod(optarg, NULL);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (secret == NULL || users > BENCH_GRAPH_USERS_MAX || !(srv.radius_km > 0) ||
        (srv.graph = bench_graph_new((uint32_t)users, (uint32_t)friends)) == NULL) {
        fprintf(stderr, "nearby-bench-floor: need --jwt-secret-file, --users P and --friends K "
                        "(even, below P), and a positive --radius-km\n");
        return 2;
    }
    if (token_key_load(secret, srv.key, sizeof(srv.key), &srv.key_len) != 0) {
        fprintf(stderr, "nearby-bench-floor: cannot load the key %s\n", secret);
        goto out;
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    srv.online = calloc((size_t)users + 1, sizeof(*srv.online));
    srv.base = event_base_new();
    lfd = listen_on(listen_addr);
    if (srv.online == NULL || srv.base == NULL || lfd < 0) {
        fprintf(stderr, "nearby-bench-floor: cannot listen on %s: %s\n", listen_addr,
                strerror(errno));
        goto out;
    }
    srv.ev_flush = event_new(srv.base, -1, 0, on_flush, &srv);
    ev_listen = event_new(srv.base, lfd, EV_READ | EV_PERSIST, on_accept, &srv);
    ev_int = evsignal_new(srv.base, SIGINT, on_signal, srv.base);
    ev_term = evsignal_new(srv.base, SIGTERM, on_signal, srv.base);
    if (srv.ev_flush == NULL || ev_listen == NULL || ev_int == NULL || ev_term == NULL)
        goto out;
    event_add(ev_listen, NULL);
    event_add(ev_int, NULL);
    event_add(ev_term, NULL);
    fprintf(stderr, "nearby-bench-floor: listening on %s, %lu users with %lu friends each\n",
            listen_addr, users, friends);
    event_base_dispatch(srv.base);
    printf("{\"pushes\":%" PRIu64 "}\n", srv.pushes);
    rc = 0;
out:
    /* Connections are left to exit(): this is a benchmark process. */
    if (ev_listen != NULL)
        event_free(ev_listen);
    if (ev_int != NULL)
        event_free(ev_int);
    if (ev_term != NULL)
        event_free(ev_term);
    if (lfd >= 0)
        close(lfd);
    bench_graph_free(srv.graph);
    return rc;
}
