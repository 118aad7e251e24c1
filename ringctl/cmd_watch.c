/* cmd_watch.c: `ringctl watch`, follow the ring in ZooKeeper and print each new epoch as it arrives. */
#include <signal.h>
#include <stdio.h>

#include <event2/event.h>

#include "ring_watch.h"
#include "ringctl.h"

enum watch_opt {
    OPT_SESSION_MS = 1,
    OPT_COUNT,
};

struct watch {
    uint64_t session_ms;
    uint64_t count;        /* 0: until a signal */
    uint64_t seen;
    struct event_base *base; /* ref: owned by run_watch */
    const struct ringctl *ctl;
};

static const char *const event_names[] = {
    [RING_WATCH_CONNECTED] = "connected",
    [RING_WATCH_RECONNECTED] = "reconnected",
    [RING_WATCH_DISCONNECTED] = "disconnected",
    [RING_WATCH_EXPIRED] = "expired",
    [RING_WATCH_MISSING] = "missing",
    [RING_WATCH_CORRUPT] = "corrupt",
    [RING_WATCH_DENIED] = "denied",
};

static int on_watch_option(int opt, const char *arg, void *state)
{
    struct watch *watch = state;

    switch (opt) {
    case OPT_SESSION_MS:
        return ringctl_parse_uint(arg, 1000, 600000, &watch->session_ms);
    case OPT_COUNT:
        return ringctl_parse_uint(arg, 1, UINT32_MAX, &watch->count);
    }
    return -1;
}

static void on_ring(const struct ring *ring, int32_t version, void *arg)
{
    struct watch *watch = arg;

    if (watch->ctl->json)
        printf("{\"ring\":\"%s\",\"epoch\":%llu,\"version\":%d,\"nodes\":%zu}\n", ring_name(ring),
               (unsigned long long)ring_epoch(ring), (int)version, ring_node_count(ring));
    else
        printf("ring epoch=%llu version=%d nodes=%zu\n", (unsigned long long)ring_epoch(ring),
               (int)version, ring_node_count(ring));
    fflush(stdout);
    if (watch->count && ++watch->seen >= watch->count)
        event_base_loopbreak(watch->base);
}

static void on_event(enum ring_watch_event event, const char *detail, void *arg)
{
    struct watch *watch = arg;

    if (watch->ctl->json) {
        printf("{\"event\":\"%s\",\"detail\":", event_names[event]);
        ringctl_json_string(stdout, detail ? detail : "");
        printf("}\n");
    } else {
        printf("event=%s detail=", event_names[event]);
        ringctl_json_string(stdout, detail ? detail : "");
        printf("\n");
    }
    fflush(stdout);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    event_base_loopbreak(arg);
}

static int run_watch(struct ringctl *ctl, int argc, char **argv, void *state)
{
    struct watch *watch = state;
    struct ring_watch_callbacks cb = {on_ring, on_event, watch};
    struct event *sigint = NULL, *sigterm = NULL;
    struct ring_watch *rw = NULL;
    char err[512];
    int rc = RINGCTL_EXIT_FAILED;

    if (argc != 1)
        return ringctl_usage_error(ctl, "watch takes only flags");
    watch->ctl = ctl;
    watch->base = event_base_new();
    if (!watch->base)
        return ringctl_fail(ctl, "cannot create the event loop");
    sigint = evsignal_new(watch->base, SIGINT, on_signal, watch->base);
    sigterm = evsignal_new(watch->base, SIGTERM, on_signal, watch->base);
    if (!sigint || !sigterm || evsignal_add(sigint, NULL) < 0 || evsignal_add(sigterm, NULL) < 0) {
        ringctl_fail(ctl, "cannot install signal handlers");
        goto out;
    }
    rw = ring_watch_new(watch->base, ctl->zk, ctl->root, ctl->ring,
                        watch->session_ms ? (int)watch->session_ms : 10000, &cb, err, sizeof(err));
    if (!rw) {
        ringctl_fail(ctl, "%s", err);
        goto out;
    }
    if (event_base_dispatch(watch->base) < 0) {
        ringctl_fail(ctl, "event loop failed");
        goto out;
    }
    rc = RINGCTL_EXIT_OK;
out:
    ring_watch_free(rw);
    if (sigint)
        event_free(sigint);
    if (sigterm)
        event_free(sigterm);
    event_base_free(watch->base);
    return rc;
}

static const struct option watch_options[] = {
    {"session-timeout-ms", required_argument, NULL, OPT_SESSION_MS},
    {"count", required_argument, NULL, OPT_COUNT},
    {NULL, 0, NULL, 0},
};

const struct ringctl_command ringctl_cmd_watch = {
    .name = "watch",
    .summary = "follow the ring and print each new epoch and session event as it happens",
    .usage = "watch [--session-timeout-ms MS] [--count N]\n"
             "  --session-timeout-ms MS   ZooKeeper session timeout (default 10000)\n"
             "  --count N                 exit after N rings (default: until SIGINT/SIGTERM)\n"
             "Prints 'ring epoch=E version=V nodes=K' per ring and\n"
             "'event=NAME detail=\"...\"' per session event.\n",
    .options = watch_options,
    .on_option = on_watch_option,
    .run = run_watch,
    .state_size = sizeof(struct watch),
};
