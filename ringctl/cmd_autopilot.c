/* cmd_autopilot.c: `ringctl autopilot`, the daemon that gives a dead node a standby's address. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "autopilot_decide.h"
#include "change.h"
#include "gateways.h"
#include "leader.h"
#include "ring_store.h"
#include "ringctl.h"

#define AUTOPILOT_GRACE_DEFAULT 3.0
#define AUTOPILOT_INTERVAL_MS_DEFAULT 250
#define AUTOPILOT_SESSION_MS_DEFAULT 6000
#define AUTOPILOT_RETRY_S 1.0         /* a failed replace is tried again after this */
#define AUTOPILOT_WARN_EVERY_S 60.0   /* "no standby left", and read failures, repeated after this */

enum autopilot_opt {
    OPT_GRACE = 1,
    OPT_INTERVAL_MS,
    OPT_SESSION_MS,
    OPT_DRY_RUN,
};

struct autopilot_cmd {
    double grace_s;
    int grace_set;
    uint64_t interval_ms;
    uint64_t session_ms;
    int dry_run;
    char last_warning[512]; /* the last read failure said, to say it once a minute */
    double last_warning_at;
};

/* The replace autopilot decided on, checked again on the ring the write is
 * made to: the node must still be at the address found dead and the standby
 * still a standby, or someone (an operator, another autopilot) got there
 * first and nothing is written. */
struct failover {
    struct ringctl_change change; /* id and the standby's addr, for ringctl_apply_replace */
    char dead_addr[RING_ADDR_MAX + 1];
    char standby_id[RING_ID_MAX + 1];
};

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Prints "<UTC time> autopilot: <message>" on stderr. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
    char stamp[32];
    struct timeval tv;
    struct tm tm;
    va_list ap;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ autopilot: ", stamp, (long)(tv.tv_usec / 1000));
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void on_leader_log(void *arg, const char *msg)
{
    say("%s", msg);
}

/* Says a failure to read ZooKeeper, but the same one at most once a minute. */
static void warn_read(struct autopilot_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void warn_read(struct autopilot_cmd *cmd, const char *fmt, ...)
{
    char msg[sizeof(cmd->last_warning)];
    double now = now_s();
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (strcmp(msg, cmd->last_warning) == 0 && now - cmd->last_warning_at < AUTOPILOT_WARN_EVERY_S)
        return;
    memcpy(cmd->last_warning, msg, sizeof(msg));
    cmd->last_warning_at = now;
    say("%s", msg);
}

static int on_autopilot_option(int opt, const char *arg, void *state)
{
    struct autopilot_cmd *cmd = state;
    char *end;

    switch (opt) {
    case OPT_GRACE:
        cmd->grace_set = 1;
        errno = 0;
        cmd->grace_s = strtod(arg, &end);
        return errno || end == arg || *end || !isfinite(cmd->grace_s) || cmd->grace_s < 0 ||
                       cmd->grace_s > 3600
                   ? -1
                   : 0;
    case OPT_INTERVAL_MS:
        return ringctl_parse_uint(arg, 10, 60000, &cmd->interval_ms);
    case OPT_SESSION_MS:
        return ringctl_parse_uint(arg, 1000, 600000, &cmd->session_ms);
    case OPT_DRY_RUN:
        cmd->dry_run = 1;
        return 0;
    }
    return -1;
}

static int apply_failover(struct ring *ring, void *arg, char *err, size_t errlen)
{
    struct failover *f = arg;
    const struct ring_node *node = ring_find(ring, f->change.id);
    const struct ring_node *standby = ring_find(ring, f->standby_id);

    if (!node || node->state == RING_STATE_STANDBY || strcmp(node->addr, f->dead_addr) != 0) {
        snprintf(err, errlen, "node %s is no longer an owning node at %s (someone changed the "
                 "ring meanwhile)", f->change.id, f->dead_addr);
        return -1;
    }
    if (!standby || standby->state != RING_STATE_STANDBY ||
        strcmp(standby->addr, f->change.addr) != 0) {
        snprintf(err, errlen, "standby %s is no longer a standby at %s", f->standby_id,
                 f->change.addr);
        return -1;
    }
    return ringctl_apply_replace(ring, &f->change, err, errlen);
}

/* Writes one replace the tracker decided on, and says what happened. */
static void replace(const struct ringctl *ctl, zhandle_t *zh, const struct autopilot_action *a)
{
    struct failover f;
    struct ring *ring = NULL;
    char err[512];

    memset(&f, 0, sizeof(f));
    memcpy(f.change.id, a->node_id, sizeof(f.change.id));
    memcpy(f.change.addr, a->standby_addr, sizeof(f.change.addr));
    memcpy(f.dead_addr, a->node_addr, sizeof(f.dead_addr));
    memcpy(f.standby_id, a->standby_id, sizeof(f.standby_id));
    if (ring_store_update(zh, ctl->root, ctl->ring, apply_failover, &f, &ring, err,
                          sizeof(err)) < 0) {
        say("node %s (%s) reported dead by %zu/%zu gateways for %.1f s; cannot replace it by "
            "standby %s at %s: %s; trying again in %.0f s", a->node_id, a->node_addr, a->votes,
            a->live, a->dead_for_s, a->standby_id, a->standby_addr, err, AUTOPILOT_RETRY_S);
        return;
    }
    say("node %s (%s) reported dead by %zu/%zu gateways for %.1f s; replaced by standby %s at "
        "%s, ring epoch %llu", a->node_id, a->node_addr, a->votes, a->live, a->dead_for_s,
        a->standby_id, a->standby_addr, (unsigned long long)ring_epoch(ring));
    ring_free(ring);
}

/* One look at the ring and the gateways, as leader, at tick time now: acts
 * on what is due. */
static void observe(const struct ringctl *ctl, struct autopilot_cmd *cmd, struct autopilot *ap,
                    zhandle_t *zh, double now)
{
    struct ringctl_gateway *gws = NULL;
    struct autopilot_action *actions = NULL;
    struct ring *ring = NULL;
    size_t gw_count = 0;
    char err[512];
    int n, zrc;

    if (ring_store_get_nodes(zh, ctl->root, ctl->ring, &ring, NULL, err, sizeof(err)) < 0) {
        warn_read(cmd, "cannot read the ring: %s", err);
        return;
    }
    zrc = ringctl_gateways_read(zh, ctl->root, &gws, &gw_count);
    if (zrc != ZOK) {
        warn_read(cmd, "cannot list the gateways under %s: %s", ctl->root, zerror(zrc));
        goto out;
    }
    actions = calloc(ring_node_count(ring) + 1, sizeof(*actions));
    n = actions ? autopilot_decide(ap, ring, gws, gw_count, now, actions,
                                   ring_node_count(ring))
                : -1;
    if (n < 0) {
        warn_read(cmd, "out of memory deciding on ring epoch %llu",
                  (unsigned long long)ring_epoch(ring));
        goto out;
    }
    for (int i = 0; i < n; i++) {
        const struct autopilot_action *a = &actions[i];

        if (a->verdict == AUTOPILOT_NO_STANDBY)
            say("node %s (%s) is dead (reported by %zu/%zu gateways for %.1f s) and no standby "
                "is left: add one with 'ringctl add-standby ID=HOST:PORT'; doing nothing",
                a->node_id, a->node_addr, a->votes, a->live, a->dead_for_s);
        else if (cmd->dry_run)
            say("dry run: node %s (%s) reported dead by %zu/%zu gateways for %.1f s; would "
                "replace it by standby %s at %s", a->node_id, a->node_addr, a->votes, a->live,
                a->dead_for_s, a->standby_id, a->standby_addr);
        else
            replace(ctl, zh, a);
    }
out:
    free(actions);
    free(gws);
    ring_free(ring);
}

/* Sleeps until deadline (monotonic seconds) or a stop signal. */
static void sleep_until(double deadline)
{
    while (!stop_signal) {
        double left = deadline - now_s();
        struct timespec ts;

        if (left <= 0)
            return;
        if (left > 0.05)
            left = 0.05; /* the signal may land on one of ZooKeeper's threads */
        ts.tv_sec = 0;
        ts.tv_nsec = (long)(left * 1e9);
        nanosleep(&ts, NULL);
    }
}

static int run_autopilot(struct ringctl *ctl, int argc, char **argv, void *state)
{
    struct autopilot_cmd *cmd = state;
    struct leader_config lcfg = {0};
    struct autopilot_config acfg;
    struct sigaction sa;
    struct leader *leader = NULL;
    struct autopilot *ap = NULL;
    char path[RING_STORE_PATH_MAX];
    double interval_s;
    int rc = RINGCTL_EXIT_FAILED;

    if (argc != 1)
        return ringctl_usage_error(ctl, "autopilot takes only flags");
    if (ring_store_path(ctl->root, ctl->ring, path) < 0)
        return ringctl_usage_error(ctl, "bad --root '%s': want an absolute znode path such as "
                                   "/nearby", ctl->root);
    if (!cmd->grace_set)
        cmd->grace_s = AUTOPILOT_GRACE_DEFAULT;
    if (!cmd->interval_ms)
        cmd->interval_ms = AUTOPILOT_INTERVAL_MS_DEFAULT;
    if (!cmd->session_ms)
        cmd->session_ms = AUTOPILOT_SESSION_MS_DEFAULT;
    interval_s = (double)cmd->interval_ms / 1000.0;
    acfg.grace_s = cmd->grace_s;
    acfg.retry_s = cmd->dry_run ? AUTOPILOT_WARN_EVERY_S : AUTOPILOT_RETRY_S;
    acfg.warn_every_s = AUTOPILOT_WARN_EVERY_S;
    /* Not having looked for longer than this (as follower, or cut off from
     * ZooKeeper) means not knowing whether a node stayed dead throughout. */
    acfg.max_gap_s = 1.0 + 2 * interval_s;

    lcfg.hosts = ctl->zk;
    lcfg.root = ctl->root;
    lcfg.connect_ms = ctl->connect_ms;
    lcfg.session_ms = (int)cmd->session_ms;
    lcfg.observer = cmd->dry_run;
    lcfg.log = on_leader_log;
    leader = leader_new(&lcfg);
    ap = autopilot_new(&acfg);
    if (!leader || !ap) {
        ringctl_fail(ctl, "out of memory");
        goto out;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    say("watching ring %s under %s at %s: grace %.1f s, every %llu ms, session timeout %llu ms%s",
        ctl->ring, ctl->root, ctl->zk, cmd->grace_s, (unsigned long long)cmd->interval_ms,
        (unsigned long long)cmd->session_ms, cmd->dry_run ? ", dry run (writes nothing)" : "");
    /* Ticks at a fixed rate, each observation stamped with its tick's time:
     * a node first seen dead at one tick is due exactly grace_s / interval_s
     * ticks later, not one tick more because a read took longer that time. */
    for (double tick = now_s(); !stop_signal; tick += interval_s) {
        enum leader_role role = leader_poll(leader);

        if ((role == LEADER_LEADER || cmd->dry_run) && leader_handle(leader))
            observe(ctl, cmd, ap, leader_handle(leader), tick);
        if (tick + interval_s < now_s())
            tick = now_s() - interval_s; /* fell behind (ZooKeeper was slow): no burst */
        sleep_until(tick + interval_s);
    }
    say("stopping on %s", stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
    rc = RINGCTL_EXIT_OK;
out:
    leader_free(leader); /* closes the session: our candidate goes at once */
    autopilot_free(ap);
    return rc;
}

static const struct option autopilot_options[] = {
    {"grace", required_argument, NULL, OPT_GRACE},
    {"interval-ms", required_argument, NULL, OPT_INTERVAL_MS},
    {"session-timeout-ms", required_argument, NULL, OPT_SESSION_MS},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {NULL, 0, NULL, 0},
};

const struct ringctl_command ringctl_cmd_autopilot = {
    .name = "autopilot",
    .summary = "daemon: replace a node the gateways find dead with a standby (leader-elected)",
    .usage = "autopilot [--grace S] [--interval-ms MS] [--session-timeout-ms MS] [--dry-run]\n"
             "  --grace S                 act once a node has been dead this long (default 3;\n"
             "                            fractions allowed)\n"
             "  --interval-ms MS          look at the ring and the gateways this often (default 250)\n"
             "  --session-timeout-ms MS   ZooKeeper session timeout: how soon another autopilot\n"
             "                            takes over after this one dies (default 6000)\n"
             "  --dry-run                 log what would be done, write nothing; takes no\n"
             "                            part in the election\n"
             "A node is dead when a strict majority of the live gateways report it so\n"
             "(ringctl status). Its address is then replaced by the first standby's, by id\n"
             "(ringctl add-standby), in one compare-and-set write: vnode positions and every\n"
             "other channel stay put. With no standby left it logs so once a minute and does\n"
             "nothing. Several may run: they elect a leader under ROOT/autopilot, and only\n"
             "it acts. Logs go to stderr with UTC timestamps. Runs until SIGTERM or SIGINT\n"
             "(exit 0), which hands leadership over at once.\n",
    .options = autopilot_options,
    .on_option = on_autopilot_option,
    .run = run_autopilot,
    .state_size = sizeof(struct autopilot_cmd),
};
