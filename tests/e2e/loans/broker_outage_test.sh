#!/usr/bin/env bash
# The broker stops for 2 minutes mid-run (stop-kafka, data kept) and comes back: no daemon
# exits or restarts, and the 100,000 SYNTHETIC rows load exactly once. Runs alone (it stops the
# shared broker): tests/CMakeLists.txt makes a test that calls stop-kafka/stop-pg RUN_SERIAL.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/outage.sh"
e2e_init brk
OUTAGE_NOT_READY="producer cleaner enricher pg-sink"
outage_run broker 100000 "'$SLUICE_ROOT/deploy/local/stack' stop-kafka" \
  "'$SLUICE_ROOT/deploy/local/stack' start-kafka" "${E2E_OUTAGE_SECONDS:-120}"
