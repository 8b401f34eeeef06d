#!/usr/bin/env bash
# postgres_cdc survives a PostgreSQL restart mid-stream (issue #12) without manual action: the
# producer reconnects with backoff and resumes from its committed LSN. Runs alone (it restarts
# the shared PostgreSQL with `deploy/local/stack restart-pg`: tests/CMakeLists.txt makes a test
# naming that command serial). Every inserted row reaches the sink table once.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_init pgcdc_restart
cdc_init
cdc_source_table 50
cdc_pipeline
cdc_up
cdc_wait_rows 50 180

# Inserts one per transaction, slowly, while PostgreSQL restarts; a statement cut by the
# restart is retried (ON CONFLICT: one that did commit is not inserted twice).
(
  for i in $(seq 3001 3200); do
    e2e_psql "INSERT INTO \"$CDC_SRC\" VALUES ($i, 'r $i', $i, 'office') ON CONFLICT DO NOTHING" >/dev/null || exit 1
    sleep 0.05
  done
) &
burst=$!
for (( i = 0; i < 240; i++ )); do
  (( $(e2e_psql "SELECT count(*) FROM \"$E2E_TABLE\" WHERE id > 3000") >= 40 )) && break
  sleep 0.25
done
e2e_log "restarting PostgreSQL mid-stream"
# The stack that runs the PostgreSQL we use (a git worktree shares the main checkout's stack).
data_dir=$(e2e_psql "SHOW data_directory")
[[ $data_dir == */pg/data ]] || e2e_fail "PostgreSQL's data directory $data_dir is not a local stack's"
SLUICE_STACK_DIR=${data_dir%/pg/data} "$SLUICE_ROOT/deploy/local/stack" restart-pg || e2e_fail "stack restart-pg failed"
wait "$burst" || e2e_fail "the inserts failed"
inserted=$(e2e_psql "SELECT count(*) FROM \"$CDC_SRC\" WHERE id > 3000")
for (( i = 0; i < 360; i++ )); do
  (( $(e2e_rows) >= 50 + inserted )) && cdc_same_as_source && break
  sleep 0.5
done
e2e_check "cdc_same_as_source" "the sink table equals the source table after the restart"
e2e_check "(( \$(cdc_raw_count c) == inserted ))" "each of the $inserted inserts is in the raw topic exactly once"
e2e_check "(( \$(e2e_rows) == 50 + inserted ))" "every row in the sink table"
e2e_check "(( \$(e2e_log_count producer '\"msg\":\"streaming changes\"') >= 2 ))" "the producer streamed again after the restart"
