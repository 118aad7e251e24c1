/* main.c: nearby-gateway: parse flags, build the gateway, run the loop, drain on SIGTERM. */
#include <signal.h>
#include <stdio.h>

#include <event2/event.h>

#include "config.h"
#include "gateway.h"
#include "log.h"

#define HISTORY_FLUSH_MS 10000

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    LOG_INFO("signal %d: draining", (int)sig);
    gateway_drain(arg);
}

int main(int argc, char **argv)
{
    struct gateway_config cfg;
    struct event_base *base = NULL;
    struct gateway *gw = NULL;
    struct event *sigterm = NULL, *sigint = NULL;
    char err[512];
    int rc = gateway_config_parse(&cfg, argc, argv);

    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (cfg.check_only) {
        printf("nearby-gateway: configuration ok (listen %s, id %s, ring %s%s/rings/%s)\n",
               cfg.listen, cfg.id, cfg.zk, cfg.root, cfg.ring);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    log_install_libevent();
    base = event_base_new();
    if (base == NULL) {
        LOG_ERROR("cannot create the event loop");
        return 1;
    }
    rc = 1;
    gw = gateway_new(base, &cfg, err, sizeof(err));
    if (gw == NULL) {
        LOG_ERROR("cannot start: %s", err);
        goto out;
    }
    sigterm = evsignal_new(base, SIGTERM, on_signal, gw);
    sigint = evsignal_new(base, SIGINT, on_signal, gw);
    if (!sigterm || !sigint || evsignal_add(sigterm, NULL) < 0 || evsignal_add(sigint, NULL) < 0) {
        LOG_ERROR("cannot install signal handlers");
        goto out;
    }
    LOG_INFO("gateway %s listening on %s (phones), %s (internal); ring %s%s/rings/%s", cfg.id,
             cfg.listen, cfg.admin_listen, cfg.zk, cfg.root, cfg.ring);
    event_base_dispatch(base);
    if (gateway_flush_history(gw, HISTORY_FLUSH_MS) < 0)
        LOG_WARN("history rows still queued after %d ms were not written", HISTORY_FLUSH_MS);
    LOG_INFO("stopped");
    rc = 0;
out:
    if (sigterm)
        event_free(sigterm);
    if (sigint)
        event_free(sigint);
    gateway_free(gw);
    event_base_free(base);
    return rc;
}
