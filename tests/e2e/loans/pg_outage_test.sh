#!/usr/bin/env bash
# PostgreSQL stops for 2 minutes mid-run (stop-pg, data kept) and comes back: no daemon exits
# or restarts, and the 100,000 SYNTHETIC rows load exactly once. Runs alone (RUN_SERIAL).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/outage.sh"
e2e_init pgo
OUTAGE_NOT_READY="pg-sink"
outage_run PostgreSQL 100000 "'$SLUICE_ROOT/deploy/local/stack' stop-pg" \
  "'$SLUICE_ROOT/deploy/local/stack' start-pg" "${E2E_OUTAGE_SECONDS:-120}"
