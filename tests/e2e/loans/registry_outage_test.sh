#!/usr/bin/env bash
# The pipeline's schema registry stops for 2 minutes mid-run and comes back: no daemon exits
# or restarts, and the 100,000 SYNTHETIC rows load exactly once.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/outage.sh"
e2e_init rgo
OUTAGE_SKIP=registry  # its pid changes: it is the dependency taken down
outage_run registry 100000 "'$E2E_PIPE' stop '$E2E_ID' registry" \
  "'$E2E_PIPE' start '$E2E_ID' registry" "${E2E_OUTAGE_SECONDS:-120}"
