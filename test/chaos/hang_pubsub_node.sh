#!/usr/bin/env bash
# hang_pubsub_node: SIGSTOP one of 8 pub/sub nodes under 2000 updates/s with a standby ready:
# its TCP connections stay up but nothing answers. The gateways find it dead by its missing
# heartbeats, ringctl autopilot replaces it, and within 5 s every phone shows every online
# friend's latest position again (see chaos_node_failover in lib.sh).
CHAOS_NAME=hang_pubsub_node CHAOS_LIMIT=300
# shellcheck source=test/chaos/lib.sh
source "$(dirname "$0")/lib.sh"
chaos_node_failover STOP
