#!/usr/bin/env bash
# Point-in-time join (SCD-2): a unit's description changes while its events flow. The events
# are sent in two parts around the change's time T (noon of the SYNTHETIC day); between them the
# source table fleet_units is updated in place with updated_at = T, and the fleet_units pipeline
# adds the new version to the history. Row by row: each event of that unit with ts < T carries
# the old version (name, owner, valid_from) and each with ts >= T the new one, whatever order
# they arrived in; no event of a described unit is marked missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init fpit
fleet_init --units 6
fleet_up

unit=U001
change='2014-03-01T12:00:00Z'
# The first line whose event is at or after the change (lines are in arrival order).
split=$(python3 - "$E2E_TMP/gen/events.jsonl" "$change" <<'PY'
import json, sys
for i, line in enumerate(open(sys.argv[1]), 1):
    try:
        if json.loads(line)["ts"] >= sys.argv[2]:
            print(i); break
    except ValueError:
        pass
PY
)
total=$(wc -l <"$E2E_TMP/gen/events.jsonl")
old=$(e2e_psql "SELECT name || '|' || owner FROM \"$FLEET_UNITS\" WHERE unit_id = '$unit'")
fleet_send 1 $((split - 1))
fleet_wait_events 300
e2e_psql "UPDATE \"$FLEET_UNITS\" SET name = name || ' II', owner = 'Changed Owner Ltd', updated_at = '$change' WHERE unit_id = '$unit'" >/dev/null
for (( i = 0; i < 240; i++ )); do
  [[ $(e2e_psql "SELECT count(*) FROM \"$FLEET_UNITS_HISTORY\" WHERE unit_id = '$unit'") == 2 ]] && break
  sleep 0.5
done
e2e_check "(( i < 240 ))" "the new version of $unit reached the history (2 versions)"
fleet_send "$split" "$total"
fleet_wait_events 600

before=$(e2e_psql "SELECT count(*) FROM \"$FLEET_EVENTS\" WHERE unit_id = '$unit' AND ts < '$change'")
after=$(e2e_psql "SELECT count(*) FROM \"$FLEET_EVENTS\" WHERE unit_id = '$unit' AND ts >= '$change'")
e2e_check "(( before > 0 && after > 0 ))" "$unit has events on both sides of the change ($before before, $after after)"
bad_before=$(e2e_psql "SELECT count(*) FROM \"$FLEET_EVENTS\" WHERE unit_id = '$unit' AND ts < '$change' AND unit_name || '|' || unit_owner IS DISTINCT FROM '$old'")
bad_after=$(e2e_psql "SELECT count(*) FROM \"$FLEET_EVENTS\" WHERE unit_id = '$unit' AND ts >= '$change' AND (unit_owner IS DISTINCT FROM 'Changed Owner Ltd' OR unit_name NOT LIKE '% II')")
e2e_check "[[ $bad_before == 0 ]]" "every event before the change carries the old version ($old)"
e2e_check "[[ $bad_after == 0 ]]" "every event at or after the change carries the new version"
others=$(e2e_psql "SELECT count(*) FROM \"$FLEET_EVENTS\" e JOIN \"$FLEET_UNITS\" u USING (unit_id) WHERE unit_id <> '$unit' AND (e.unit_name, e.unit_owner) IS DISTINCT FROM (u.name, u.owner)")
e2e_check "[[ $others == 0 ]]" "the other units keep their only version"
missing=$(e2e_psql "SELECT count(*) FROM \"$FLEET_EVENTS\" e JOIN \"$FLEET_UNITS\" u USING (unit_id) WHERE e.unit_version NOT IN ('confirmed', 'unconfirmed')")
e2e_check "[[ $missing == 0 ]]" "no described unit's event is marked missing"
e2e_log "join status: $(e2e_psql "SELECT string_agg(unit_version || '=' || n, ' ') FROM (SELECT unit_version, count(*) n FROM \"$FLEET_EVENTS\" GROUP BY 1) s")"
fleet_check_aggregates
