#!/usr/bin/env bash
# Schema evolution while the pipeline runs. Part A of the real file flows with the v1 schemas.
# Then the pipeline file switches the clean and enriched schemas to v2 (schemas/*.v2.avsc: a
# field "currency" with default "USD") and the cleaner and the enricher are restarted one
# after the other, as a rolling upgrade would; the producer and the sink keep running. The
# registry must accept v2 under BACKWARD (and refuse an incompatible change), the sink must
# add the column as nullable, and part B must land with the new field while part A's rows
# stay (with NULL in the new column).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"

e2e_init schema
A=$E2E_TMP/part_a.csv
B=$E2E_TMP/part_b.csv
{ head -n 1 "$E2E_DATA/lending_club.csv"; sed -n '2,3001p' "$E2E_DATA/lending_club.csv"; } >"$A"
{ head -n 1 "$E2E_DATA/lending_club.csv"; sed -n '3002,6001p' "$E2E_DATA/lending_club.csv"; } >"$B"
A_ITEMS=$(python3 "$E2E_TOOL" count-csv "$A")
B_ITEMS=$(python3 "$E2E_TOOL" count-csv "$B")

e2e_pipeline
e2e_up
e2e_feed "$A" part_a.csv
e2e_wait "$A_ITEMS" 300
a_rows=$(e2e_rows)
a_dlq=$(( A_ITEMS - a_rows ))
has_col() { e2e_psql "SELECT count(*) FROM information_schema.columns WHERE table_name = '$E2E_TABLE' AND column_name = 'currency'"; }
cols=$(has_col)
e2e_check '(( cols == 0 ))' "v1: the table has no currency column"

subject="$E2E_ID.enriched-value"
versions() { e2e_registry GET "/subjects/$1/versions"; }
v=$(versions "$subject")
e2e_check '[[ $v == "200 [1]" ]]' "v1: $subject has one version"
read -r code body < <(e2e_registry GET /config)
e2e_check '[[ $code == 200 && $body == *BACKWARD* ]]' "the registry's default compatibility is BACKWARD ($body)"

schema_json() { python3 -c 'import json,sys; print(json.dumps({"schema": open(sys.argv[1]).read()}))' "$1"; }
# The registry's own verdict on v2 before anything uses it, and on a change BACKWARD forbids
# (a new field without a default: old records could not be read with it).
read -r code body < <(e2e_registry POST "/compatibility/subjects/$subject/versions/latest" \
  "$(schema_json "$SLUICE_ROOT/pipelines/loans/schemas/loans.enriched.v2.avsc")")
e2e_check '[[ $code == 200 && $body == *is_compatible*true* ]]' "registry: enriched v2 is BACKWARD-compatible with v1 ($code $body)"
python3 - "$SLUICE_ROOT/pipelines/loans/schemas/loans.enriched.v2.avsc" "$E2E_TMP/incompatible.avsc" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
s["fields"].append({"name": "branch_code", "type": "string"})  # no default
json.dump(s, open(sys.argv[2], "w"))
EOF
read -r code body < <(e2e_registry POST "/subjects/$subject/versions" "$(schema_json "$E2E_TMP/incompatible.avsc")")
e2e_check '[[ $code == 409 ]]' "registry: a field without a default is refused under BACKWARD ($code ${body:0:160})"

# Rolling upgrade: the same pipeline file, now naming the v2 schemas; the sink is not touched.
sed -i -e "s#loans.clean.v1.avsc#loans.clean.v2.avsc#" -e "s#loans.enriched.v1.avsc#loans.enriched.v2.avsc#" "$E2E_PIPELINE"
grep -q 'loans.enriched.v2.avsc' "$E2E_PIPELINE" || e2e_fail "could not switch the pipeline copy to v2"
sink_pid=$(cat "$E2E_PDIR/pids/pg-sink.pid")
"$E2E_PIPE" restart "$E2E_ID" cleaner || e2e_fail "cleaner did not restart with v2"
"$E2E_PIPE" restart "$E2E_ID" enricher || e2e_fail "enricher did not restart with v2"
v=$(versions "$subject")
e2e_check '[[ $v == "200 [1,2]" ]]' "v2 registered: $subject has versions 1 and 2"
v=$(versions "$E2E_ID.clean-value")
e2e_check '[[ $v == "200 [1,2]" ]]' "v2 registered: $E2E_ID.clean-value has versions 1 and 2"

e2e_feed "$B" part_b.csv
e2e_wait $((A_ITEMS + B_ITEMS)) 300
e2e_check 'kill -0 "$sink_pid"' "the sink ran through the change (same pid $sink_pid)"
cols=$(has_col)
e2e_check '(( cols == 1 ))' "v2: the sink added the currency column"
nullable=$(e2e_psql "SELECT is_nullable FROM information_schema.columns WHERE table_name = '$E2E_TABLE' AND column_name = 'currency'")
e2e_check '[[ $nullable == YES ]]' "the new column is nullable"
total=$(e2e_rows)
old=$(e2e_psql "SELECT count(*) FROM \"$E2E_TABLE\" WHERE currency IS NULL")
new=$(e2e_psql "SELECT count(*) FROM \"$E2E_TABLE\" WHERE currency = 'USD'")
dlq=$(e2e_dlq_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
e2e_check '(( old == a_rows ))' "part A's $a_rows rows are still there, currency NULL ($old)"
e2e_check '(( new == total - a_rows && new > 0 ))' "part B's rows landed with currency 'USD' ($new)"
e2e_check '(( total + dlq == A_ITEMS + B_ITEMS ))' "accounting across the change: $total rows + $dlq DLQ = $((A_ITEMS + B_ITEMS)) rows in"
