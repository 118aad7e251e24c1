#!/usr/bin/env bash
# partition_node_cut: under 2000 updates/s, pub/sub node r2 is cut from both gateways (it
# runs and its host is up: only the links between it and them drop every packet, so their
# connections stall and are never reset). The gateways find it dead by the heartbeat, the
# autopilot gives r2 the standby's address in one write, exactly r2's channels move there
# and the phones converge within 5 s, as for a killed node. Then the cut heals: the old r2
# must be left with no subscription (the gateways' old connections go) and get no
# publish (nobody still takes it for an owner): no split brain between old and new owner.
# shellcheck disable=SC2034 # some figures are read only by check's expressions
CHAOS_NAME=partition_node_cut CHAOS_LIMIT=420 CHAOS_NETNS=1
# shellcheck source=test/chaos/lib.sh
source "$(dirname "$0")/lib.sh"
chaos_partition_failover both
