#!/usr/bin/env bash
# Point-in-time join (SCD-2) as it runs in production: events in real time, and a unit's
# description changed in place (updated_at = now()) while they flow. The SYNTHETIC events span
# from 6 h ago to 6 h ahead; the ones before a planned moment (a minute after the start) are
# sent first, then, once the wall clock has passed it, fleet_units is updated and the rest
# sent. Row by row: each event of that unit before the change's updated_at carries the old
# version (name, owner), each at or after it the new one, whatever order they arrived in. With
# the pipeline's horizon (the history matches the source table: complete up to now), events
# before the change are confirmed; later ones (the future of the track) wait, then are
# unconfirmed with the latest version. No described unit's event is missing. (The weather API
# has no day after 2015: those lookups use their fallback, which this test does not check.)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init fpit
now=$(date -u +%s)
start=$(date -u -d "@$((now - 6 * 3600))" +%Y-%m-%dT%H:%M:%SZ)
planned=$(date -u -d "@$((now + 60))" +%Y-%m-%dT%H:%M:%SZ)
fleet_init --units 6 --hours 12 --start "$start"
fleet_up

unit=U001
# The first line whose event is at or after the planned change (lines are in arrival order).
split=$(python3 - "$E2E_TMP/gen/events.jsonl" "$planned" <<'PY'
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
while (( $(date -u +%s) <= now + 60 )); do sleep 1; done
change=$(e2e_psql "UPDATE \"$FLEET_UNITS\" SET name = name || ' II', owner = 'Changed Owner Ltd', updated_at = now()
                   WHERE unit_id = '$unit' RETURNING to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
e2e_log "description of $unit changed at $change"
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
past=$(e2e_psql "SELECT count(*) FROM \"$FLEET_EVENTS\" e JOIN \"$FLEET_UNITS\" u USING (unit_id) WHERE e.ts < '$change' AND e.unit_version <> 'confirmed'")
e2e_check "[[ $past == 0 ]]" "every described unit's event before the change is confirmed"
missing=$(e2e_psql "SELECT count(*) FROM \"$FLEET_EVENTS\" e JOIN \"$FLEET_UNITS\" u USING (unit_id) WHERE e.unit_version NOT IN ('confirmed', 'unconfirmed')")
e2e_check "[[ $missing == 0 ]]" "no described unit's event is marked missing"
e2e_log "join status: $(e2e_psql "SELECT string_agg(unit_version || '=' || n, ' ') FROM (SELECT unit_version, count(*) n FROM \"$FLEET_EVENTS\" GROUP BY 1) s")"
fleet_check_aggregates
