#!/usr/bin/env bash
# partition_one_way: under 2000 updates/s, an asymmetric partition: everything pub/sub node
# r2 sends to the gateways is dropped, while what they send it still arrives (its publishes
# count up: it is reachable for publishes), so no subscriber reads a message from it and no
# reply comes back. The heartbeat, which goes through the pub/sub path (publish, then read
# back on the gateway's own subscription), must find it dead, and it is handled as a dead
# node: the autopilot gives it the standby's address, the phones converge within 5 s, and
# after the heal the old r2 holds no subscription and gets no publish (chaos_partition_failover).
# shellcheck disable=SC2034 # some figures are read only by check's expressions
CHAOS_NAME=partition_one_way CHAOS_LIMIT=420 CHAOS_NETNS=1
# shellcheck source=test/chaos/lib.sh
source "$(dirname "$0")/lib.sh"
chaos_partition_failover one-way
