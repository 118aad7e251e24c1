/* pubsub_check.h: ask a Redis pub/sub node how many channels anyone still subscribes on it. */
#ifndef NEARBY_RINGCTL_PUBSUB_CHECK_H
#define NEARBY_RINGCTL_PUBSUB_CHECK_H

#include <stddef.h>

#include "ringctl.h"

/* Connects to addr ("host:port"), authenticates as ctl's Redis user when it
 * has one, runs PUBSUB CHANNELS * and PUBSUB NUMPAT within timeout_ms, and
 * returns 0 with the number of subscribed channels plus patterns in *count,
 * or -1 with the reason in err. */
int ringctl_pubsub_count(const struct ringctl *ctl, const char *addr, int timeout_ms,
                         long long *count, char *err, size_t errlen);

#endif
