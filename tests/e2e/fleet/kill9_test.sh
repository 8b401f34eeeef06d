#!/usr/bin/env bash
# Kill -9 of each daemon of the fleet pipeline mid-stream (SYNTHETIC data, 24 units, 48 h:
# about 4,900 JSON lines), each restarted at once by hand: afterwards every line is loaded or
# dead-lettered exactly as the truth file says, each event once, and the aggregate views still
# equal the truth file's count, mean and p90.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init fkill
fleet_init --seed 11 --units 24 --hours 48
fleet_up
lines=$(fleet_truth "t['accounting']['events_written']")
valid=$(fleet_truth "t['accounting']['valid_in_lateness']")
# The producer reads the topic faster than a poll can see: it is killed after the first half
# was sent and before the second.
half=$((lines / 2))
fleet_send 1 "$half"
e2e_kill_at producer 0.3 "$lines"
[[ ! -f $E2E_TMP/kill-producer.err ]] || e2e_fail "killing producer: $(cat "$E2E_TMP/kill-producer.err")"
killers=()
e2e_kill_at cleaner 0.4 "$lines" & killers+=($!)
e2e_kill_at enricher 0.5 "$lines" & killers+=($!)
e2e_kill_at pg-sink 0.6 "$valid" & killers+=($!)
fleet_send $((half + 1)) "$lines"
for k in "${killers[@]}"; do wait "$k" || true; done
for d in producer cleaner enricher pg-sink; do
  [[ ! -f $E2E_TMP/kill-$d.err ]] || e2e_fail "killing $d: $(cat "$E2E_TMP/kill-$d.err")"
done
e2e_check '(( $(wc -l <"$E2E_TMP/kills") == 4 ))' "all four daemons were killed with SIGKILL and restarted"
fleet_wait_events 600
while read -r d at; do
  e2e_check '(( at < lines ))' "$d was killed mid-stream (at $at of $lines)"
done <"$E2E_TMP/kills"

rows=$(e2e_rows)
total=$(e2e_dlq_json | python3 -c 'import json, sys; print(json.load(sys.stdin)["total"])')
e2e_check "[[ $rows == $valid ]]" "events loaded: $rows = the truth file's valid events $valid"
e2e_check "[[ $((rows + total)) == $lines ]]" "lines in $lines = loaded $rows + DLQ $total"
e2e_check "[[ $(e2e_psql "SELECT count(DISTINCT event_id) FROM \"$FLEET_EVENTS\"") == $rows ]]" "each event once"
fleet_check_aggregates
