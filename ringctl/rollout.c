/* rollout.c: a planned ring change in two phases, waiting for every live gateway between them. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gateways.h"
#include "rollout.h"

#define POLL_MS 100
#define PLAIN_PROGRESS_EVERY_MS 5000
#define STRAGGLERS_MAX 512

enum wait_result {
    WAIT_DONE,
    WAIT_TIMEOUT,
    WAIT_INTERRUPTED,
    WAIT_DEAD, /* a gateway on the epoch finds the node dead */
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    interrupted = sig;
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000u, (long)(ms % 1000u) * 1000000L};

    nanosleep(&ts, NULL); /* a signal ends it early; the caller checks */
}

/* Where progress goes: stdout, unless --json keeps stdout for the result. */
struct progress {
    FILE *out;
    int tty;
    int drawn;      /* a line is drawn on the terminal and not yet ended */
    size_t last_k;  /* gateways applied at the last plain line */
    uint64_t last_ms;
};

static void progress_end(struct progress *pr)
{
    if (pr->drawn)
        fputc('\n', pr->out);
    pr->drawn = 0;
    fflush(pr->out);
}

/* Draws a progress line: on a terminal in place, else a plain line whenever
 * another gateway applied the epoch and every few seconds. */
static void progress_show(struct progress *pr, int phase, uint64_t epoch, size_t k, size_t n,
                          long long pending, uint64_t waited_ms)
{
    char line[256];
    uint64_t now = now_ms();

    snprintf(line, sizeof(line),
             "phase %d/2, epoch %llu: %zu/%zu gateways applied, %lld channels still subscribing, "
             "%.1f s",
             phase, (unsigned long long)epoch, k, n, pending, (double)waited_ms / 1000.0);
    if (pr->tty) {
        fprintf(pr->out, "\r\033[K%s", line);
        fflush(pr->out);
        pr->drawn = 1;
    } else if (k != pr->last_k || now >= pr->last_ms + PLAIN_PROGRESS_EVERY_MS) {
        fprintf(pr->out, "%s\n", line);
        fflush(pr->out);
        pr->last_k = k;
        pr->last_ms = now;
    }
}

/* Waits until every gateway registered under root reports epoch or later.
 * A gateway whose ephemeral znode goes (it died or drained) is no longer
 * waited for. On a timeout, names the gateways still behind in stragglers.
 * ZooKeeper being away for a while is waited out up to the deadline. */
static enum wait_result wait_gateways(const struct ringctl *ctl, zhandle_t *zh, int phase,
                                      uint64_t epoch, const char *must_answer,
                                      uint64_t deadline, struct progress *pr, size_t *applied,
                                      char *stragglers, size_t cap)
{
    uint64_t start = now_ms();
    size_t last_n = 0;

    pr->last_k = (size_t)-1;
    stragglers[0] = '\0';
    for (;;) {
        struct ringctl_gateway *gws;
        size_t n, k = 0;
        long long pending = 0;
        int zrc = ringctl_gateways_read(zh, ctl->root, &gws, &n);

        if (zrc == ZOK) {
            size_t len = 0;

            stragglers[0] = '\0';
            for (size_t i = 0; i < n; i++) {
                if (gws[i].epoch >= 0 && (uint64_t)gws[i].epoch >= epoch && must_answer &&
                    ringctl_gateway_reports_dead(&gws[i], must_answer)) {
                    snprintf(stragglers, cap, "%s", gws[i].id);
                    free(gws);
                    progress_end(pr);
                    return WAIT_DEAD;
                }
                if (gws[i].epoch >= 0 && (uint64_t)gws[i].epoch >= epoch) {
                    k++;
                } else if (len + strlen(gws[i].id) + 2 < cap) {
                    len += (size_t)snprintf(stragglers + len, cap - len, "%s%s", len ? "," : "",
                                            gws[i].id);
                }
                if (gws[i].pending > 0)
                    pending += gws[i].pending;
            }
            free(gws);
            last_n = n;
            *applied = k;
            if (k == n) {
                progress_show(pr, phase, epoch, k, n, pending, now_ms() - start);
                progress_end(pr);
                return WAIT_DONE;
            }
            progress_show(pr, phase, epoch, k, n, pending, now_ms() - start);
        } else if (now_ms() >= pr->last_ms + PLAIN_PROGRESS_EVERY_MS) {
            progress_end(pr);
            fprintf(stderr, "ringctl %s: cannot list the gateways (%s); still trying\n",
                    ctl->command, zerror(zrc));
            pr->last_ms = now_ms();
        }
        if (interrupted) {
            progress_end(pr);
            return WAIT_INTERRUPTED;
        }
        if (deadline && now_ms() >= deadline) {
            progress_end(pr);
            if (zrc != ZOK && stragglers[0] == '\0')
                snprintf(stragglers, cap, "(ZooKeeper unreachable; %zu gateways last seen)",
                         last_n);
            return WAIT_TIMEOUT;
        }
        sleep_ms(POLL_MS);
    }
}

/* Writes one compare-and-set change; on failure prints why. Returns the new
 * epoch, or 0. */
static uint64_t write_change(const struct ringctl *ctl, zhandle_t *zh, ring_store_apply_fn apply,
                             struct ringctl_change *change, struct ring **out)
{
    char err[512];
    struct ring *ring = NULL;
    uint64_t epoch;

    if (ring_store_update(zh, ctl->root, ctl->ring, apply, change, &ring, err, sizeof(err)) < 0) {
        ringctl_fail(ctl, "%s", err);
        return 0;
    }
    epoch = ring_epoch(ring);
    if (out)
        *out = ring;
    else
        ring_free(ring);
    return epoch;
}

/* Says why the wait ended. */
static const char *why(enum wait_result w)
{
    if (w == WAIT_TIMEOUT)
        return "timed out";
    return interrupted == SIGTERM ? "terminated" : "interrupted";
}

int ringctl_rollout_run(struct ringctl *ctl, const struct ringctl_rollout *r,
                        struct ringctl_change *change)
{
    struct sigaction sa, old_int, old_term;
    struct progress pr = {ctl->json ? stderr : stdout, 0, 0, 0, 0};
    char stragglers[STRAGGLERS_MAX];
    struct ring *ring = NULL;
    uint64_t start = now_ms(), timeout_s, deadline, e1, e2;
    size_t applied = 0;
    enum wait_result w;
    zhandle_t *zh;
    int rc = RINGCTL_EXIT_FAILED;

    pr.tty = isatty(fileno(pr.out));
    timeout_s = change->timeout_s ? change->timeout_s : RINGCTL_TIMEOUT_DEFAULT_S;
    deadline = start + timeout_s * 1000u;
    zh = ringctl_connect(ctl);
    if (!zh)
        return RINGCTL_EXIT_FAILED;
    ring = ringctl_read_nodes(ctl, zh, NULL);
    if (!ring)
        goto out;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: the wait's sleep ends at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    /* Phase 1, or resume a change whose phase 1 is in the ring already. */
    if (r->begun(ring, change)) {
        e1 = ring_epoch(ring);
        fprintf(pr.out, "%s is in progress at epoch %llu already; resuming\n", change->id,
                (unsigned long long)e1);
    } else {
        ring_free(ring);
        ring = NULL;
        e1 = write_change(ctl, zh, r->begin, change, &ring);
        if (e1 == 0)
            goto restore;
        fprintf(pr.out, "phase 1/2: ring %s at epoch %llu (%s; %.2f %% of the hash space "
                "changes owner)\n", ctl->ring, (unsigned long long)e1, change->note,
                ring_build(ring) == 0
                    ? 100.0 * ring_moved_fraction(ring, RING_VIEW_OLD, ring, RING_VIEW_NEW)
                    : 0.0);
    }
    if (change->no_wait) {
        fprintf(pr.out, "not waiting (--no-wait): follow with 'ringctl status'; run the same "
                "command again to finish the change\n");
        rc = RINGCTL_EXIT_OK;
        goto restore;
    }
    w = wait_gateways(ctl, zh, 1, e1, r->must_answer ? change->id : NULL, deadline, &pr,
                      &applied, stragglers, sizeof(stragglers));
    if (w == WAIT_DEAD) {
        uint64_t back = write_change(ctl, zh, r->undo, change, NULL);

        ringctl_fail(ctl, "gateway %s finds node %s at %s dead (is its Redis running?); %s",
                     stragglers, change->id, change->addr,
                     back ? "rolled back to the old membership" : "and could not roll back");
        goto restore;
    }
    if (w != WAIT_DONE) {
        uint64_t back = write_change(ctl, zh, r->undo, change, NULL);

        if (back == 0) {
            ringctl_fail(ctl, "%s waiting for gateways %s to apply epoch %llu, and could not "
                         "roll back; run the command again to resume, or undo by hand",
                         why(w), stragglers, (unsigned long long)e1);
        } else {
            ringctl_fail(ctl, "%s after %.1f s waiting for gateways %s to apply epoch %llu; "
                         "rolled back: ring %s at epoch %llu has the old membership",
                         why(w), (double)(now_ms() - start) / 1000.0, stragglers,
                         (unsigned long long)e1, ctl->ring, (unsigned long long)back);
        }
        goto restore;
    }

    /* Phase 2: the change final. */
    ring_free(ring);
    ring = NULL;
    e2 = write_change(ctl, zh, r->finish, change, &ring);
    if (e2 == 0)
        goto restore;
    fprintf(pr.out, "phase 2/2: ring %s at epoch %llu (%s)\n", ctl->ring,
            (unsigned long long)e2, change->note);
    w = wait_gateways(ctl, zh, 2, e2, NULL, deadline, &pr, &applied, stragglers,
                      sizeof(stragglers));
    if (w != WAIT_DONE) {
        ringctl_fail(ctl, "%s: the change is final at epoch %llu, but gateways %s have not "
                     "applied it yet; they will as they catch up ('ringctl status')",
                     why(w), (unsigned long long)e2, stragglers);
        goto restore;
    }
    if (ctl->json) {
        ringctl_print_ring(ctl, ring, -1);
    } else {
        printf("%s %s%s%s: ring %s is now at epoch %llu; %zu gateways applied it in %.1f s\n",
               r->verb, change->id, change->addr[0] ? r->prep : "", change->addr, ctl->ring,
               (unsigned long long)e2, applied, (double)(now_ms() - start) / 1000.0);
    }
    rc = RINGCTL_EXIT_OK;
restore:
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
out:
    ring_free(ring);
    zookeeper_close(zh);
    return rc;
}
