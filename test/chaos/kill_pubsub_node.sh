#!/usr/bin/env bash
# kill_pubsub_node: kill -9 one of 8 pub/sub nodes under 2000 updates/s with a standby ready;
# ringctl autopilot replaces it, and within 5 s every phone shows every online friend's latest
# position again (see chaos_node_failover in lib.sh).
CHAOS_NAME=kill_pubsub_node CHAOS_LIMIT=300
# shellcheck source=test/chaos/lib.sh
source "$(dirname "$0")/lib.sh"
chaos_node_failover KILL
