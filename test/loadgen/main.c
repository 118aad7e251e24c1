/* main.c: nearby-loadgen: flags, the simulated phones on one libevent loop, status lines and the summary. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <event2/event.h>

#include "converge.h"
#include "eio.h"
#include "friend_file.h"
#include "ledger.h"
#include "loadgen.h"
#include "tls_io.h"
#include "phone.h"

#define LOADGEN_URLS_MAX 64
#define LOADGEN_RAMP_TICK_MS 10
#define LOADGEN_CLOSE_WAIT_MS 3000
#define LOADGEN_LEDGER_DEPTH 1024 /* ts kept per user: 17 minutes at one loc a second */
#define LOADGEN_CONVERGE_EVERY_MS 50
#define LOADGEN_ONLINE_POLL_MS 50   /* --window: how often the end of the warmup looks again */
#define LOADGEN_ONLINE_WAIT_S 30    /* --window: the longest wait for every phone after --warmup */

struct loadgen_flags {
    const char *urls[LOADGEN_URLS_MAX];
    size_t url_count;
    const char *secret_file;
    const char *ca_file; /* --ca-file: what wss:// servers are verified against */
    uint64_t users;
    uint64_t phones;
    unsigned interval_ms;
    unsigned duration_s;
    double center_lat, center_lng;
    double spread_km;
    double ramp_per_s;
    unsigned report_every_s;
    int json;
    uint64_t seed;
    const char *source_ips;
    unsigned drain_ms;
    unsigned event_at_s;
    unsigned converge_slack_ms;
    unsigned converge_hold_ms;
    unsigned warmup_s;
    unsigned window_s;
    enum loadgen_protocol protocol;
    const char *friends_file;
    int assign_hash;
    double strangers_fraction;
    int strangers_dense;
};

/* The run: loadgen state shared with phones, plus what only main drives. */
struct loadgen_run {
    struct tls_io_ctx *tls; /* for wss:// targets; NULL when none */
    struct loadgen lg;
    struct loadgen_flags flags;
    struct phone *phones;
    size_t phone_count;
    size_t started;
    double ramp_budget;
    double start_ms;
    double counted_from_ms;   /* the summary's totals start here: the start or the warmup's end */
    struct friend_file *friend_file;
    double last_report_ms;
    double stop_ms;
    uint32_t sessions_at_stop;
    int draining;
    int stopped;
    uint64_t lost_tail;       /* counted at the end of the quiet period */
    uint64_t behind_last;     /* pairs not up to date at the last convergence check */
    struct converge converge;
    uint64_t *due;            /* per user: the ts its online friends should show by now */
    struct event *ramp_timer;
    struct event *report_timer;
    struct event *stop_timer;
    struct event *close_timer;
    struct event *drain_timer;
    struct event *event_timer;
    struct event *converge_timer;
    struct event *warmup_timer;
    struct event *sigint;
    struct event *sigterm;
    struct event *sigusr1;
};

static void usage(FILE *out)
{
    fprintf(out,
        "usage: nearby-loadgen --url ws[s]://HOST:PORT/ws [--url ...] --secret-file F [FLAGS]\n"
        "\n"
        "Simulated phones for nearby: each fetches its friend list (GET /v1/friends),\n"
        "holds a WebSocket to a gateway, sends init, walks and sends loc, and checks\n"
        "every frame it gets. Phone i is user i (users 1..P), so with --phones equal to\n"
        "--users every user is online; phone i starts on url (i-1) mod U (see --assign)\n"
        "and moves to the next url each time it reconnects.\n"
        "\n"
        "  --url ws://HOST:PORT/PATH  gateway WebSocket endpoint, numeric host; repeatable;\n"
        "                             wss:// for TLS (and https for GET /v1/friends)\n"
        "  --ca-file F                wss://: trust the CA certificates in F (PEM), e.g. a\n"
        "                             local cluster's DIR/tls/ca.pem (default: the\n"
        "                             system's); the server's certificate must name HOST\n"
        "                             For Socket.IO the path is %s\n"
        "  --protocol P               nearby: the gateway's msgpack frames; socketio:\n"
        "                             Socket.IO v4 (Engine.IO v4 over WebSocket, text\n"
        "                             frames: open, 40 connect with auth {token}, 42\n"
        "                             events nearby/friend in and loc out, pings answered),\n"
        "                             as bench/socketio's server speaks it (default nearby)\n"
        "  --friends-file F           friend lists from F, USER<TAB>FRIEND lines (what\n"
        "                             nearby-bench-graph writes), instead of GET /v1/friends;\n"
        "                             required with --protocol socketio\n"
        "  --assign A                 round-robin: phone i starts on url (i-1) mod U; hash: on\n"
        "                             url hash(i) mod U, friends on random gateways\n"
        "                             (default round-robin)\n", EIO_PATH);
    fprintf(out,
        "  --secret-file F            the tokens' signing key: the HS256 secret of the\n"
        "                             gateways or the Ed25519 private key (required)\n"
        "  --users N                  user ids 1..N exist (default 10000)\n"
        "  --phones P                 simulated phones, users 1..P, P <= N (default 1000)\n"
        "  --interval-ms MS           each phone sends loc this often, +-20%% (default 30000)\n"
        "  --duration S               stop after S seconds; 0 = until SIGINT/SIGTERM (default 0)\n"
        "  --center LAT,LNG           centre of the area (default 48.8566,2.3522)\n"
        "  --spread-km K              phones start uniformly within K km of the centre and\n"
        "                             walk at 1-6 m/s inside that disc (default 10)\n"
        "  --ramp-per-s R             new phones started per second (default 500)\n"
        "  --report-every S           a status line every S seconds (default 1)\n"
        "  --json                     status lines and summary as JSON objects\n"
        "  --seed S                   random seed for positions and timing (default 1)\n"
        "  --source-ips A-B           bind connections round-robin to IPv4 source\n"
        "                             addresses A..B, e.g. 127.0.0.2-127.0.0.20, so more\n"
        "                             than ~28000 connections fit (default: none)\n"
        "  --drain-ms MS              at the end (--duration or the first SIGINT/SIGTERM)\n"
        "                             phones send no more loc but keep reading for MS,\n"
        "                             then updates still not received count as lost\n"
        "                             (default 0: no quiet period, the tail is not counted)\n"
        "  --event-at S               mark an event S seconds after the start (default 0:\n"
        "                             none); SIGUSR1 marks one at any time\n"
        "  --converge-slack-ms MS     after an event, every %d ms: a phone is up to date\n"
        "                             when it shows each online friend's latest ts published\n"
        "                             at least MS ago (default 500)\n"
        "  --converge-hold-ms MS      converged once every phone is online and up to date\n"
        "                             at every check for MS (default 2000)\n"
        "  --warmup S                 the summary's counts, rates and latencies leave out\n"
        "                             the first S seconds (connecting, ramping), except\n"
        "                             check_failures and errors (default 0)\n"
        "  --window S                 instead of --duration: count S seconds from the end of\n"
        "                             --warmup or, if later, from when every phone is online\n"
        "                             (waiting %d s at most), then stop; \"nearby-loadgen:\n"
        "                             window open\" on stderr marks its start, for a caller\n"
        "                             that samples CPU over the same seconds\n"
        "  --strangers-fraction F     the first F x P phones (an even number) are pairs of\n"
        "                             strangers, each pair alone far north of the area,\n"
        "                             counting the partner's updates they missed\n"
        "                             (strangers_lost in the summary; default 0)\n"
        "  --strangers-dense          those phones walk among the others instead, and\n"
        "                             their stranger frames count as pushes (benchmarks)\n"
        "  --help                     this help\n"
        "\n", LOADGEN_CONVERGE_EVERY_MS, LOADGEN_ONLINE_WAIT_S);
    fprintf(out,
        "Status line: t sessions updates_per_s pushes_per_s p50_ms p99_ms reconnects errors\n"
        "check_failures rate_limited lost dup, and behind (pairs not up to date at the\n"
        "last check) once an event is marked. Latency is receive time minus the ts of a\n"
        "friend message that moves an already shown friend.\n"
        "\n"
        "Summary, besides the totals: published (loc sent and not refused), delivered\n"
        "(friend frames), lost (updates of a shown friend its receiver skipped, and with\n"
        "--drain-ms those never received; updates sent before a connection's nearby or\n"
        "before a friend first appears on it are not counted), dup (friend frames not\n"
        "newer than shown; each also a failed check), converged_ms (from the last event\n"
        "until every phone was online and up to date, for --converge-hold-ms; -1: no\n"
        "event, or not converged by the end), p999_ms. Every loc ts rises strictly per\n"
        "user and is the update's sequence number. The counted window runs from the\n"
        "end of --warmup to the end of the run: window_updates (locs sent with a ts in\n"
        "it), window_skipped, window_expected (those locs times their senders' friends)\n"
        "and window_delivered (friend frames about them, whenever received: with\n"
        "--drain-ms the tail arrives too), over window_s seconds; window_sessions:\n"
        "phones online when it opened.\n"
        "\n"
        "Exit status: 0 run completed without check failures, 1 a check failed (or the\n"
        "run could not start), 2 bad usage.\n");
}

double loadgen_random(struct loadgen *lg)
{
    uint64_t x = lg->rng;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    lg->rng = x;
    return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

double loadgen_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

const struct sockaddr *loadgen_next_source(struct loadgen *lg, socklen_t *len)
{
    const struct sockaddr_in *src;

    if (lg->source_count == 0)
        return NULL;
    src = &lg->sources[lg->next_source++ % lg->source_count];
    *len = sizeof(*src);
    return (const struct sockaddr *)src;
}

void loadgen_phone_closed(struct loadgen *lg)
{
    if (lg->closing > 0 && --lg->closing == 0)
        event_base_loopbreak(lg->base);
}

/* Parses an unsigned decimal flag within [min, max]. Returns 0 or -1. */
static int parse_u64(const char *flag, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    if (*s < '0' || *s > '9')
        goto bad;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        goto bad;
    *out = v;
    return 0;
bad:
    fprintf(stderr, "nearby-loadgen: %s wants an integer in %" PRIu64 "..%" PRIu64 ", not '%s'\n",
            flag, min, max, s);
    return -1;
}

/* Parses a finite double flag within [min, max]. Returns 0 or -1. */
static int parse_double(const char *flag, const char *s, double min, double max, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < min || v > max) {
        fprintf(stderr, "nearby-loadgen: %s wants a number in %g..%g, not '%s'\n", flag, min,
                max, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Parses LAT,LNG. Returns 0 or -1. */
static int parse_center(const char *s, double *lat, double *lng)
{
    char buf[128];
    char *comma;

    if (strlen(s) >= sizeof(buf) || (comma = strchr(strcpy(buf, s), ',')) == NULL) {
        fprintf(stderr, "nearby-loadgen: --center wants LAT,LNG, not '%s'\n", s);
        return -1;
    }
    *comma = '\0';
    if (parse_double("--center latitude", buf, -89, 89, lat) < 0 ||
        parse_double("--center longitude", comma + 1, -180, 180, lng) < 0)
        return -1;
    return 0;
}

/* Parses ws://HOST:PORT/PATH with a numeric host into t. Returns 0 or -1. */
/* Parses ws[s]://HOST:PORT/PATH with a numeric host into t (t->tls is set by
 * the caller for wss://). Returns 1 for wss://, 0 for ws://, or -1. */
static int parse_url(const char *url, struct loadgen_target *t)
{
    struct addrinfo hints = {0}, *res = NULL;
    const char *hostport, *slash, *colon;
    char host[LOADGEN_HOST_MAX], port[8];
    size_t hp_len;
    int rc, tls;

    if (strncmp(url, "ws://", 5) == 0)
        tls = 0, hostport = url + 5;
    else if (strncmp(url, "wss://", 6) == 0)
        tls = 1, hostport = url + 6;
    else
        goto bad;
    slash = strchr(hostport, '/');
    if (slash == NULL || strlen(slash) >= sizeof(t->path))
        goto bad;
    hp_len = (size_t)(slash - hostport);
    if (hp_len == 0 || hp_len >= sizeof(t->host))
        goto bad;
    memcpy(t->host, hostport, hp_len);
    t->host[hp_len] = '\0';
    strcpy(t->path, slash);
    colon = strrchr(t->host, ':');
    if (colon == NULL || strlen(colon + 1) == 0 || strlen(colon + 1) >= sizeof(port))
        goto bad;
    strcpy(port, colon + 1);
    memcpy(host, t->host, (size_t)(colon - t->host));
    host[colon - t->host] = '\0';
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    strcpy(t->tls_name, host);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "nearby-loadgen: --url %s: %s (the host must be a numeric address)\n",
                url, gai_strerror(rc));
        return -1;
    }
    memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
    t->addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    return tls;
bad:
    fprintf(stderr, "nearby-loadgen: --url wants ws://HOST:PORT/PATH or wss://HOST:PORT/PATH, "
                    "not '%s'\n", url);
    return -1;
}

/* Parses A-B into an array of IPv4 source addresses. Returns 0 or -1. */
static int parse_sources(const char *s, struct sockaddr_in **out, size_t *count)
{
    char buf[64];
    char *dash;
    struct in_addr a, b;
    uint32_t from, to;
    struct sockaddr_in *list;

    if (strlen(s) >= sizeof(buf) || (dash = strchr(strcpy(buf, s), '-')) == NULL)
        goto bad;
    *dash = '\0';
    if (inet_pton(AF_INET, buf, &a) != 1 || inet_pton(AF_INET, dash + 1, &b) != 1)
        goto bad;
    from = ntohl(a.s_addr);
    to = ntohl(b.s_addr);
    if (to < from || to - from >= 65536)
        goto bad;
    list = calloc(to - from + 1, sizeof(*list));
    if (list == NULL)
        return -1;
    for (uint32_t i = 0; i <= to - from; i++) {
        list[i].sin_family = AF_INET;
        list[i].sin_addr.s_addr = htonl(from + i);
    }
    *out = list;
    *count = to - from + 1;
    return 0;
bad:
    fprintf(stderr, "nearby-loadgen: --source-ips wants A-B (IPv4, at most 65536), not '%s'\n", s);
    return -1;
}

/* Parses argv into f. Returns 0, 1 for --help, or -1 on bad usage. */
static int parse_flags(int argc, char **argv, struct loadgen_flags *f)
{
    enum { F_URL = 256, F_SECRET, F_USERS, F_PHONES, F_INTERVAL, F_DURATION, F_CENTER,
           F_SPREAD, F_RAMP, F_REPORT, F_JSON, F_SEED, F_SOURCES, F_DRAIN, F_EVENT_AT,
           F_SLACK, F_HOLD, F_WARMUP, F_WINDOW, F_PROTOCOL, F_FRIENDS_FILE, F_ASSIGN, F_CA_FILE,
           F_STRANGERS, F_STRANGERS_DENSE, F_HELP };
    static const struct option long_options[] = {
        {"url", required_argument, NULL, F_URL},
        {"secret-file", required_argument, NULL, F_SECRET},
        {"users", required_argument, NULL, F_USERS},
        {"phones", required_argument, NULL, F_PHONES},
        {"interval-ms", required_argument, NULL, F_INTERVAL},
        {"duration", required_argument, NULL, F_DURATION},
        {"center", required_argument, NULL, F_CENTER},
        {"spread-km", required_argument, NULL, F_SPREAD},
        {"ramp-per-s", required_argument, NULL, F_RAMP},
        {"report-every", required_argument, NULL, F_REPORT},
        {"json", no_argument, NULL, F_JSON},
        {"seed", required_argument, NULL, F_SEED},
        {"source-ips", required_argument, NULL, F_SOURCES},
        {"drain-ms", required_argument, NULL, F_DRAIN},
        {"event-at", required_argument, NULL, F_EVENT_AT},
        {"converge-slack-ms", required_argument, NULL, F_SLACK},
        {"converge-hold-ms", required_argument, NULL, F_HOLD},
        {"warmup", required_argument, NULL, F_WARMUP},
        {"window", required_argument, NULL, F_WINDOW},
        {"protocol", required_argument, NULL, F_PROTOCOL},
        {"friends-file", required_argument, NULL, F_FRIENDS_FILE},
        {"assign", required_argument, NULL, F_ASSIGN},
        {"ca-file", required_argument, NULL, F_CA_FILE},
        {"strangers-fraction", required_argument, NULL, F_STRANGERS},
        {"strangers-dense", no_argument, NULL, F_STRANGERS_DENSE},
        {"help", no_argument, NULL, F_HELP},
        {NULL, 0, NULL, 0},
    };
    uint64_t v;
    int opt, rc = 0;

    *f = (struct loadgen_flags){
        .users = 10000, .phones = 1000, .interval_ms = 30000, .duration_s = 0,
        .center_lat = 48.8566, .center_lng = 2.3522, .spread_km = 10, .ramp_per_s = 500,
        .report_every_s = 1, .seed = 1, .converge_slack_ms = 500,
        .converge_hold_ms = 2000,
    };
    opterr = 0;
    while (rc == 0 && (opt = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        switch (opt) {
        case F_URL:
            if (f->url_count == LOADGEN_URLS_MAX) {
                fprintf(stderr, "nearby-loadgen: at most %d --url\n", LOADGEN_URLS_MAX);
                rc = -1;
            } else {
                f->urls[f->url_count++] = optarg;
            }
            break;
        case F_SECRET:
            f->secret_file = optarg;
            break;
        case F_CA_FILE:
            f->ca_file = optarg;
            break;
        case F_USERS:
            rc = parse_u64("--users", optarg, 1, UINT32_MAX, &f->users);
            break;
        case F_PHONES:
            rc = parse_u64("--phones", optarg, 1, 10000000, &f->phones);
            break;
        case F_INTERVAL:
            rc = parse_u64("--interval-ms", optarg, 10, 86400000, &v);
            f->interval_ms = (unsigned)v;
            break;
        case F_DURATION:
            rc = parse_u64("--duration", optarg, 0, 86400 * 365, &v);
            f->duration_s = (unsigned)v;
            break;
        case F_CENTER:
            rc = parse_center(optarg, &f->center_lat, &f->center_lng);
            break;
        case F_SPREAD:
            rc = parse_double("--spread-km", optarg, 0.001, 1000, &f->spread_km);
            break;
        case F_RAMP:
            rc = parse_double("--ramp-per-s", optarg, 0.1, 1e6, &f->ramp_per_s);
            break;
        case F_REPORT:
            rc = parse_u64("--report-every", optarg, 1, 3600, &v);
            f->report_every_s = (unsigned)v;
            break;
        case F_JSON:
            f->json = 1;
            break;
        case F_SEED:
            rc = parse_u64("--seed", optarg, 0, UINT64_MAX, &f->seed);
            break;
        case F_SOURCES:
            f->source_ips = optarg;
            break;
        case F_DRAIN:
            rc = parse_u64("--drain-ms", optarg, 0, 3600000, &v);
            f->drain_ms = (unsigned)v;
            break;
        case F_EVENT_AT:
            rc = parse_u64("--event-at", optarg, 0, 86400 * 365, &v);
            f->event_at_s = (unsigned)v;
            break;
        case F_SLACK:
            rc = parse_u64("--converge-slack-ms", optarg, 0, 600000, &v);
            f->converge_slack_ms = (unsigned)v;
            break;
        case F_HOLD:
            rc = parse_u64("--converge-hold-ms", optarg, 0, 600000, &v);
            f->converge_hold_ms = (unsigned)v;
            break;
        case F_WARMUP:
            rc = parse_u64("--warmup", optarg, 0, 86400, &v);
            f->warmup_s = (unsigned)v;
            break;
        case F_WINDOW:
            rc = parse_u64("--window", optarg, 1, 86400, &v);
            f->window_s = (unsigned)v;
            break;
        case F_PROTOCOL:
            if (strcmp(optarg, "nearby") == 0) {
                f->protocol = LOADGEN_PROTOCOL_NEARBY;
            } else if (strcmp(optarg, "socketio") == 0) {
                f->protocol = LOADGEN_PROTOCOL_SOCKETIO;
            } else {
                fprintf(stderr, "nearby-loadgen: --protocol wants nearby or socketio, not '%s'\n",
                        optarg);
                rc = -1;
            }
            break;
        case F_FRIENDS_FILE:
            f->friends_file = optarg;
            break;
        case F_ASSIGN:
            if (strcmp(optarg, "round-robin") == 0 || strcmp(optarg, "hash") == 0) {
                f->assign_hash = optarg[0] == 'h';
            } else {
                fprintf(stderr, "nearby-loadgen: --assign wants round-robin or hash, not '%s'\n",
                        optarg);
                rc = -1;
            }
            break;
        case F_STRANGERS:
            rc = parse_double("--strangers-fraction", optarg, 0, 1, &f->strangers_fraction);
            break;
        case F_STRANGERS_DENSE:
            f->strangers_dense = 1;
            break;
        case F_HELP:
            return 1;
        default:
            fprintf(stderr, "nearby-loadgen: unknown flag or missing value: %s\n",
                    argv[optind - 1]);
            rc = -1;
        }
    }
    if (rc == 0 && optind < argc) {
        fprintf(stderr, "nearby-loadgen: unexpected argument '%s'\n", argv[optind]);
        rc = -1;
    }
    if (rc == 0 && (f->url_count == 0 || f->secret_file == NULL)) {
        fprintf(stderr, "nearby-loadgen: --url and --secret-file are required\n");
        rc = -1;
    }
    if (rc == 0 && f->protocol == LOADGEN_PROTOCOL_SOCKETIO && f->friends_file == NULL) {
        fprintf(stderr, "nearby-loadgen: --protocol socketio needs --friends-file (a Socket.IO "
                        "server has no GET /v1/friends)\n");
        rc = -1;
    }
    if (rc == 0 && f->strangers_fraction > 0 && f->protocol != LOADGEN_PROTOCOL_NEARBY) {
        fprintf(stderr, "nearby-loadgen: --strangers-fraction is for --protocol nearby\n");
        rc = -1;
    }
    if (rc == 0 && f->window_s > 0 && f->duration_s > 0) {
        fprintf(stderr, "nearby-loadgen: --window and --duration exclude each other\n");
        rc = -1;
    }
    if (rc == 0 && f->phones > f->users) {
        fprintf(stderr, "nearby-loadgen: --phones %" PRIu64 " is more than --users %" PRIu64 "\n",
                f->phones, f->users);
        rc = -1;
    }
    return rc;
}

/* Returns the length of the counted window in seconds (to now while it runs). */
static double window_seconds(const struct loadgen_run *run)
{
    const struct loadgen_window *w = &run->lg.window;
    double to = w->to_ts == UINT64_MAX ? loadgen_now_ms() : (double)w->to_ts;

    return to > (double)w->from_ts ? (to - (double)w->from_ts) / 1000.0 : 0;
}

/* Returns an edge for the window now: the next ms, and above every ts used. */
static uint64_t window_edge(const struct loadgen_run *run)
{
    uint64_t now = (uint64_t)loadgen_now_ms() + 1;

    return now > run->lg.window.ts_max ? now : run->lg.window.ts_max + 1;
}

/* Ends the counted window now, if it has not ended. */
static void window_close(struct loadgen_run *run)
{
    if (run->lg.window.to_ts == UINT64_MAX)
        run->lg.window.to_ts = window_edge(run);
}

/* Prints one status line (or the summary) from counts c and latencies h over seconds. */
static void print_line(const struct loadgen_run *run, const char *kind, double t_s,
                       const struct stats_counts *c, const struct stats_histogram *h,
                       double seconds, uint32_t sessions)
{
    double up = seconds > 0 ? (double)c->updates / seconds : 0;
    double push = seconds > 0 ? (double)c->pushes / seconds : 0;
    double p50 = stats_percentile(h, 0.50), p99 = stats_percentile(h, 0.99);
    int summary = strcmp(kind, "summary") == 0;
    int event = run->converge.event_ms != 0;
    const struct loadgen_window *w = &run->lg.window;

    if (run->flags.json) {
        printf("{\"kind\":\"%s\",\"t\":%.0f,\"sessions\":%" PRIu32 ",\"updates_per_s\":%.0f,"
               "\"pushes_per_s\":%.0f,\"p50_ms\":%.0f,\"p99_ms\":%.0f,\"reconnects\":%" PRIu64
               ",\"errors\":%" PRIu64 ",\"check_failures\":%" PRIu64 ",\"rate_limited\":%" PRIu64
               ",\"lost\":%" PRIu64 ",\"dup\":%" PRIu64,
               kind, t_s, sessions, up, push, p50, p99, c->reconnects, c->errors,
               c->check_failures, c->rate_limited, c->lost, c->dups);
        if (event && !summary)
            printf(",\"behind\":%" PRIu64, run->behind_last);
        if (summary)
            printf(",\"updates\":%" PRIu64 ",\"pushes\":%" PRIu64 ",\"friend\":%" PRIu64
                   ",\"gone\":%" PRIu64 ",\"nearby\":%" PRIu64 ",\"latency_samples\":%" PRIu64
                   ",\"max_ms\":%.0f,\"skipped\":%" PRIu64 ",\"published\":%" PRIu64
                   ",\"delivered\":%" PRIu64 ",\"lost_tail\":%" PRIu64
                   ",\"converged_ms\":%.0f,\"behind_max\":%" PRIu64 ",\"short_counts\":%" PRIu64
                   ",\"p999_ms\":%.0f,\"window_s\":%.3f,\"window_updates\":%" PRIu64
                   ",\"window_skipped\":%" PRIu64 ",\"window_expected\":%" PRIu64
                   ",\"window_delivered\":%" PRIu64 ",\"window_sessions\":%" PRIu32,
                   c->updates, c->pushes, c->friends, c->gones, c->nearbys, h->count, h->max_ms,
                   c->skipped, ledger_published(run->lg.ledger), c->friends, run->lost_tail,
                   converge_result_ms(&run->converge), run->converge.behind_max,
                   ledger_short_counts(run->lg.ledger), stats_percentile(h, 0.999),
                   window_seconds(run), w->updates, w->skipped, w->expected, w->delivered,
                   w->sessions);
        if (summary && run->lg.stranger_phones > 0)
            printf(",\"strangers_phones\":%" PRIu32 ",\"strangers_shown\":%" PRIu64
                   ",\"strangers_lost\":%" PRIu64 ",\"strangers_dup\":%" PRIu64
                   ",\"strangers_gone\":%" PRIu64 ",\"strangers_foreign\":%" PRIu64,
                   run->lg.stranger_phones, run->lg.strangers.shown, run->lg.strangers.lost,
                   run->lg.strangers.dup, run->lg.strangers.gone, run->lg.strangers.foreign);
        printf("}\n");
    } else {
        printf("%st=%.0fs sessions=%" PRIu32 " updates_per_s=%.0f pushes_per_s=%.0f p50_ms=%.0f"
               " p99_ms=%.0f reconnects=%" PRIu64 " errors=%" PRIu64 " check_failures=%" PRIu64
               " rate_limited=%" PRIu64 " lost=%" PRIu64 " dup=%" PRIu64,
               summary ? "summary " : "", t_s, sessions, up, push, p50, p99,
               c->reconnects, c->errors, c->check_failures, c->rate_limited, c->lost, c->dups);
        if (event && !summary)
            printf(" behind=%" PRIu64, run->behind_last);
        if (summary)
            printf(" updates=%" PRIu64 " pushes=%" PRIu64 " friend=%" PRIu64 " gone=%" PRIu64
                   " nearby=%" PRIu64 " latency_samples=%" PRIu64 " max_ms=%.0f skipped=%" PRIu64
                   " published=%" PRIu64 " delivered=%" PRIu64 " lost_tail=%" PRIu64
                   " converged_ms=%.0f behind_max=%" PRIu64 " short_counts=%" PRIu64
                   " p999_ms=%.0f window_s=%.3f window_updates=%" PRIu64 " window_skipped=%" PRIu64
                   " window_expected=%" PRIu64 " window_delivered=%" PRIu64 " window_sessions=%" PRIu32,
                   c->updates, c->pushes, c->friends, c->gones, c->nearbys, h->count, h->max_ms,
                   c->skipped, ledger_published(run->lg.ledger), c->friends, run->lost_tail,
                   converge_result_ms(&run->converge), run->converge.behind_max,
                   ledger_short_counts(run->lg.ledger), stats_percentile(h, 0.999),
                   window_seconds(run), w->updates, w->skipped, w->expected, w->delivered,
                   w->sessions);
        if (summary && run->lg.stranger_phones > 0)
            printf(" strangers_phones=%" PRIu32 " strangers_shown=%" PRIu64 " strangers_lost=%" PRIu64
                   " strangers_dup=%" PRIu64 " strangers_gone=%" PRIu64 " strangers_foreign=%" PRIu64,
                   run->lg.stranger_phones, run->lg.strangers.shown, run->lg.strangers.lost,
                   run->lg.strangers.dup, run->lg.strangers.gone, run->lg.strangers.foreign);
        printf("\n");
    }
    fflush(stdout);
}

static void report(struct loadgen_run *run)
{
    double now = loadgen_now_ms();
    struct stats *s = &run->lg.stats;

    print_line(run, "status", (now - run->start_ms) / 1000.0, &s->period, &s->period_latency,
               (now - run->last_report_ms) / 1000.0, s->sessions);
    run->last_report_ms = now;
    stats_period_end(s);
}

static void on_report(evutil_socket_t fd, short what, void *arg)
{
    report(arg);
}

static void on_ramp(evutil_socket_t fd, short what, void *arg)
{
    struct loadgen_run *run = arg;

    run->ramp_budget += run->flags.ramp_per_s * LOADGEN_RAMP_TICK_MS / 1000.0;
    while (run->ramp_budget >= 1 && run->started < run->phone_count) {
        phone_start(&run->phones[run->started++]);
        run->ramp_budget -= 1;
    }
    if (run->started == run->phone_count)
        event_del(run->ramp_timer);
}

/* Begins the shutdown: every open session gets close 1000; the loop ends
 * when all have closed or after LOADGEN_CLOSE_WAIT_MS. */
static void stop(struct loadgen_run *run)
{
    struct timeval wait = {LOADGEN_CLOSE_WAIT_MS / 1000, 0};

    if (run->stopped) {
        event_base_loopbreak(run->lg.base); /* a second signal: do not wait */
        return;
    }
    run->stopped = 1;
    window_close(run);
    run->stop_ms = loadgen_now_ms();
    run->sessions_at_stop = run->lg.stats.sessions;
    run->lg.shutting_down = 1;
    event_del(run->ramp_timer);
    event_del(run->report_timer);
    event_del(run->stop_timer);
    event_del(run->drain_timer);
    event_del(run->event_timer);
    event_del(run->converge_timer);
    event_del(run->warmup_timer);
    for (size_t i = 0; i < run->phone_count; i++)
        run->lg.closing += (size_t)phone_stop(&run->phones[i]);
    if (run->lg.closing == 0)
        event_base_loopbreak(run->lg.base);
    else
        evtimer_add(run->close_timer, &wait);
}

/* The end of the quiet period: whatever a phone that is online has not
 * received by now is lost. Then the shutdown. */
static void on_drained(evutil_socket_t fd, short what, void *arg)
{
    struct loadgen_run *run = arg;

    for (size_t i = 0; i < run->phone_count; i++)
        run->lost_tail += phone_unreceived(&run->phones[i]);
    run->lg.stats.period.lost += run->lost_tail;
    stop(run);
}

/* The end of the run (--duration or a signal): with --drain-ms, first a
 * quiet period in which phones send nothing and read what is still coming;
 * a second signal during it stops at once. */
static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    struct loadgen_run *run = arg;
    struct timeval drain = {run->flags.drain_ms / 1000, (run->flags.drain_ms % 1000) * 1000};

    if (run->flags.drain_ms == 0 || run->draining || run->stopped) {
        stop(run);
        return;
    }
    run->draining = 1;
    run->lg.quiet = 1;
    window_close(run);
    event_del(run->ramp_timer);
    event_del(run->stop_timer);
    fprintf(stderr, "nearby-loadgen: quiet for %u ms: no more loc, still reading\n",
            run->flags.drain_ms);
    evtimer_add(run->drain_timer, &drain);
}

/* Checks whether every phone is online and shows each online friend's
 * latest ts published at least the slack ago. */
static void on_converge_check(evutil_socket_t fd, short what, void *arg)
{
    struct loadgen_run *run = arg;
    double now = loadgen_now_ms();
    uint64_t as_of = (uint64_t)now - run->flags.converge_slack_ms, behind = 0;

    /* One lookup per user, not per (phone, friend) pair: the check must not
     * load the loop that measures latency. */
    for (size_t i = 0; i < run->phone_count; i++)
        run->due[i] = phone_online(&run->phones[i]) && !strangers_member(&run->lg, (uint32_t)(i + 1))
                          ? ledger_latest(run->lg.ledger, (uint32_t)(i + 1), as_of) : 0;
    for (size_t i = 0; i < run->started; i++)
        behind += phone_behind(&run->phones[i], run->due, run->phone_count);
    run->behind_last = behind;
    converge_record(&run->converge, now, behind);
}

/* Marks the event (a node killed, a gateway stopped) from which convergence is timed. */
static void on_event(evutil_socket_t fd, short what, void *arg)
{
    struct loadgen_run *run = arg;
    struct timeval every = {0, LOADGEN_CONVERGE_EVERY_MS * 1000};
    double now = loadgen_now_ms();

    if (run->stopped)
        return;
    converge_event(&run->converge, now);
    run->behind_last = 0;
    fprintf(stderr, "nearby-loadgen: event marked at t=%.3fs\n", (now - run->start_ms) / 1000.0);
    event_del(run->converge_timer);
    event_add(run->converge_timer, &every);
}

/* The end of the warmup: the summary counts from here; failed checks and
 * errors of the warmup still count, so the exit status sees them. With
 * --window it waits, polling, until every phone is online (at most
 * LOADGEN_ONLINE_WAIT_S), then opens the window and ends the run
 * --window seconds later. */
static void on_warmup(evutil_socket_t fd, short what, void *arg)
{
    struct loadgen_run *run = arg;
    struct stats *s = &run->lg.stats;
    struct timeval poll_tv = {0, LOADGEN_ONLINE_POLL_MS * 1000};
    struct timeval window_tv = {run->flags.window_s, 0};
    uint64_t failures, errors;
    double now = loadgen_now_ms();

    if (run->flags.window_s > 0 && s->sessions < run->phone_count &&
        now < run->start_ms + (run->flags.warmup_s + LOADGEN_ONLINE_WAIT_S) * 1000.0) {
        evtimer_add(run->warmup_timer, &poll_tv);
        return;
    }
    stats_period_end(s);
    failures = s->total.check_failures;
    errors = s->total.errors;
    memset(&s->total, 0, sizeof(s->total));
    memset(&s->total_latency, 0, sizeof(s->total_latency));
    s->total.check_failures = failures;
    s->total.errors = errors;
    run->counted_from_ms = loadgen_now_ms();
    run->last_report_ms = run->counted_from_ms;
    run->lg.window = (struct loadgen_window){
        .from_ts = window_edge(run), .to_ts = UINT64_MAX, .ts_max = run->lg.window.ts_max,
        .sessions = s->sessions,
    };
    if (run->flags.window_s > 0) {
        fprintf(stderr, "nearby-loadgen: window open at t=%.3fs, %" PRIu32 " of %zu phones online\n",
                (now - run->start_ms) / 1000.0, s->sessions, run->phone_count);
        evtimer_add(run->stop_timer, &window_tv);
    }
}

static void on_close_wait(evutil_socket_t fd, short what, void *arg)
{
    struct loadgen_run *run = arg;

    event_base_loopbreak(run->lg.base);
}

/* Raises the open-files limit to the hard limit, so many phones fit. */
static void raise_nofile(size_t phones)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur != RLIM_INFINITY && phones + 64 > rl.rlim_cur)
        fprintf(stderr, "nearby-loadgen: warning: %zu phones but only %llu file descriptors\n",
                phones, (unsigned long long)rl.rlim_cur);
}

/* Returns the target user starts on: round-robin, or a hash of the id, so
 * that with --assign hash each friend sits on a random target. */
static uint32_t first_target(const struct loadgen_run *run, uint64_t user)
{
    uint64_t z = user * 0x9E3779B97F4A7C15ULL;

    if (!run->flags.assign_hash)
        return (uint32_t)((user - 1) % run->lg.target_count);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return (uint32_t)((z ^ (z >> 31)) % run->lg.target_count);
}

/* Builds the run from its flags. Returns 0 or -1 (message printed). */
static int setup(struct loadgen_run *run)
{
    struct loadgen *lg = &run->lg;
    struct timeval report_tv = {run->flags.report_every_s, 0};
    struct timeval ramp_tv = {0, LOADGEN_RAMP_TICK_MS * 1000};
    struct timeval stop_tv = {run->flags.duration_s, 0};
    int rc;

    lg->targets = calloc(run->flags.url_count, sizeof(*lg->targets));
    if (lg->targets == NULL)
        return -1;
    lg->target_count = run->flags.url_count;
    for (size_t i = 0; i < run->flags.url_count; i++) {
        rc = parse_url(run->flags.urls[i], &lg->targets[i]);
        if (rc < 0)
            return -1;
        if (rc == 1 && run->tls == NULL) {
            char why[512];

            run->tls = tls_io_ctx_new(run->flags.ca_file, why, sizeof(why));
            if (run->tls == NULL) {
                fprintf(stderr, "nearby-loadgen: --ca-file: %s\n", why);
                return -1;
            }
        }
        if (rc == 1)
            lg->targets[i].tls = run->tls;
    }
    if (run->flags.source_ips != NULL &&
        parse_sources(run->flags.source_ips, &lg->sources, &lg->source_count) < 0)
        return -1;
    for (size_t i = 0; lg->sources != NULL && i < lg->target_count; i++) {
        if (lg->targets[i].addr.ss_family != AF_INET) {
            fprintf(stderr, "nearby-loadgen: --source-ips needs IPv4 --url addresses\n");
            return -1;
        }
    }
    lg->protocol = run->flags.protocol;
    lg->strangers_dense = run->flags.strangers_dense;
    lg->stranger_phones = (uint32_t)(run->flags.strangers_fraction * (double)run->flags.phones) & ~1u;
    if (run->flags.friends_file != NULL) {
        size_t bad_line = 0;

        if (run->flags.users > UINT32_MAX - 1)
            return -1;
        rc = friend_file_load(run->flags.friends_file, (uint32_t)run->flags.users,
                              &run->friend_file, &bad_line);
        if (rc < 0) {
            fprintf(stderr, "nearby-loadgen: --friends-file %s: %s", run->flags.friends_file,
                    friend_file_strerror(rc));
            if (rc == FRIEND_FILE_ERR_IO)
                fprintf(stderr, ": %s", strerror(errno));
            if (bad_line > 0)
                fprintf(stderr, " (line %zu)", bad_line);
            fputc('\n', stderr);
            return -1;
        }
        lg->friend_file = run->friend_file;
    }
    rc = token_key_load_secret(run->flags.secret_file, &lg->key);
    if (rc < 0) {
        fprintf(stderr, "nearby-loadgen: --secret-file %s: %s%s%s\n", run->flags.secret_file,
                token_strerror(rc), rc == TOKEN_ERR_IO ? ": " : "",
                rc == TOKEN_ERR_IO ? strerror(errno) : "");
        return -1;
    }
    lg->rng = run->flags.seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
    if (lg->rng == 0)
        lg->rng = 1;
    lg->center_lat = run->flags.center_lat;
    lg->center_lng = run->flags.center_lng;
    lg->spread_km = run->flags.spread_km;
    lg->interval_ms = run->flags.interval_ms;
    stats_init(&lg->stats);
    converge_init(&run->converge, run->flags.converge_hold_ms);
    run->due = calloc(run->flags.phones, sizeof(*run->due));
    if (run->flags.phones > UINT32_MAX || run->due == NULL ||
        (lg->ledger = ledger_new((uint32_t)run->flags.phones, LOADGEN_LEDGER_DEPTH)) == NULL) {
        fprintf(stderr, "nearby-loadgen: out of memory for the ledger of %" PRIu64 " phones\n",
                run->flags.phones);
        return -1;
    }
    raise_nofile(run->flags.phones);

    lg->base = event_base_new();
    if (lg->base == NULL)
        return -1;
    run->phones = calloc(run->flags.phones, sizeof(*run->phones));
    if (run->phones == NULL)
        return -1;
    for (size_t i = 0; i < run->flags.phones; i++) {
        run->phone_count++;
        if (phone_init(&run->phones[i], lg, (uint32_t)(i + 1), first_target(run, i + 1)) < 0) {
            fprintf(stderr, "nearby-loadgen: out of memory at phone %zu\n", i + 1);
            return -1;
        }
    }
    run->ramp_timer = event_new(lg->base, -1, EV_PERSIST, on_ramp, run);
    run->report_timer = event_new(lg->base, -1, EV_PERSIST, on_report, run);
    run->stop_timer = evtimer_new(lg->base, on_stop, run);
    run->close_timer = evtimer_new(lg->base, on_close_wait, run);
    run->drain_timer = evtimer_new(lg->base, on_drained, run);
    run->event_timer = evtimer_new(lg->base, on_event, run);
    run->converge_timer = event_new(lg->base, -1, EV_PERSIST, on_converge_check, run);
    run->warmup_timer = evtimer_new(lg->base, on_warmup, run);
    run->sigint = evsignal_new(lg->base, SIGINT, on_stop, run);
    run->sigterm = evsignal_new(lg->base, SIGTERM, on_stop, run);
    run->sigusr1 = evsignal_new(lg->base, SIGUSR1, on_event, run);
    if (run->ramp_timer == NULL || run->report_timer == NULL || run->stop_timer == NULL ||
        run->close_timer == NULL || run->drain_timer == NULL || run->event_timer == NULL ||
        run->converge_timer == NULL || run->warmup_timer == NULL || run->sigint == NULL || run->sigterm == NULL ||
        run->sigusr1 == NULL)
        return -1;
    event_add(run->sigint, NULL);
    event_add(run->sigterm, NULL);
    event_add(run->sigusr1, NULL);
    if (run->flags.warmup_s > 0 || run->flags.window_s > 0) {
        struct timeval warmup_tv = {run->flags.warmup_s, 0};

        evtimer_add(run->warmup_timer, &warmup_tv);
    }
    if (run->flags.event_at_s > 0) {
        struct timeval event_tv = {run->flags.event_at_s, 0};

        evtimer_add(run->event_timer, &event_tv);
    }
    event_add(run->ramp_timer, &ramp_tv);
    event_add(run->report_timer, &report_tv);
    if (run->flags.duration_s > 0)
        evtimer_add(run->stop_timer, &stop_tv);
    run->start_ms = loadgen_now_ms();
    run->counted_from_ms = run->start_ms;
    lg->window.from_ts = (uint64_t)run->start_ms;
    lg->window.to_ts = UINT64_MAX;
    run->last_report_ms = run->start_ms;
    on_ramp(-1, 0, run); /* the first phones now, not in 10 ms */
    return 0;
}

static void teardown(struct loadgen_run *run)
{
    for (size_t i = 0; i < run->phone_count; i++)
        phone_free(&run->phones[i]);
    free(run->phones);
    if (run->ramp_timer != NULL)
        event_free(run->ramp_timer);
    if (run->report_timer != NULL)
        event_free(run->report_timer);
    if (run->stop_timer != NULL)
        event_free(run->stop_timer);
    if (run->close_timer != NULL)
        event_free(run->close_timer);
    if (run->drain_timer != NULL)
        event_free(run->drain_timer);
    if (run->event_timer != NULL)
        event_free(run->event_timer);
    if (run->converge_timer != NULL)
        event_free(run->converge_timer);
    if (run->warmup_timer != NULL)
        event_free(run->warmup_timer);
    if (run->sigusr1 != NULL)
        event_free(run->sigusr1);
    if (run->sigint != NULL)
        event_free(run->sigint);
    if (run->sigterm != NULL)
        event_free(run->sigterm);
    if (run->lg.base != NULL)
        event_base_free(run->lg.base);
    free(run->lg.targets);
    tls_io_ctx_free(run->tls);
    free(run->lg.sources);
    ledger_free(run->lg.ledger);
    friend_file_free(run->friend_file);
    free(run->due);
    libevent_global_shutdown();
}

int main(int argc, char **argv)
{
    static struct loadgen_run run; /* large (the key buffer): not on the stack */
    struct stats *s = &run.lg.stats;
    int rc;

    rc = parse_flags(argc, argv, &run.flags);
    if (rc != 0) {
        usage(rc > 0 ? stdout : stderr);
        return rc > 0 ? 0 : 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (setup(&run) < 0) {
        teardown(&run);
        return 1;
    }
    event_base_dispatch(run.lg.base);
    if (!run.stopped) {
        run.stop_ms = loadgen_now_ms();
        run.sessions_at_stop = s->sessions;
    }
    stats_period_end(s);
    print_line(&run, "summary", (run.stop_ms - run.start_ms) / 1000.0, &s->total,
               &s->total_latency, (run.stop_ms - run.counted_from_ms) / 1000.0,
               run.sessions_at_stop);
    rc = s->total.check_failures > 0 ? 1 : 0;
    teardown(&run);
    return rc;
}
