#!/usr/bin/env bash
# The broker is killed with SIGKILL twice in a row mid-run (down 30 s, up 5 s while rows flow, down 30 s):
# no daemon exits or restarts, and the 100,000 SYNTHETIC rows load exactly once. Runs alone
# (RUN_SERIAL: it calls stop-kafka).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/outage.sh"
e2e_init k9x2
OUTAGE_NOT_READY="cleaner enricher pg-sink"
stack="'$SLUICE_ROOT/deploy/local/stack'"
outage_run "the broker (kill -9, twice)" 100000 \
  "$stack stop-kafka -9 && sleep 30 && $stack start-kafka && sleep 5 && $stack stop-kafka -9" \
  "$stack start-kafka" 30
