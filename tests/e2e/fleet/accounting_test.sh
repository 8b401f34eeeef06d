#!/usr/bin/env bash
# The fleet pipeline on SYNTHETIC data (pipelines/fleet/generate.py, seed 7: 12 described units
# and one undescribed, 24 h): every JSON line sent is loaded or dead-lettered with its reason,
# exactly as the generator's truth file classifies it (bad JSON and wrong types at the source,
# duplicates and events later than the 2 h lateness at the cleaner); the aggregate views equal
# the truth file's count, mean and p90; every event carries the weather of its station and day
# and a unit description version with its status.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init fleet
fleet_init
fleet_up
fleet_send
fleet_wait_events 600

lines=$(fleet_truth "t['accounting']['events_written']")
valid=$(fleet_truth "t['accounting']['valid_in_lateness']")
rows=$(e2e_rows)
dlq=$(e2e_dlq_json)
e2e_check "[[ $FLEET_SENT == $lines ]]" "sent every line of the generator ($lines)"
e2e_check "[[ $rows == $valid ]]" "events loaded: $rows = the truth file's valid events $valid"
total=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["total"])' "$dlq")
e2e_check "[[ $((rows + total)) == $lines ]]" "lines in $lines = loaded $rows + DLQ $total"
by_rule() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])["by_rule"].get(sys.argv[2], 0))' "$dlq" "$1"; }
source_rejects=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["by_stage"].get("producer", 0))' "$dlq")
want_source=$(fleet_truth "t['accounting']['bad_json'] + t['accounting']['wrong_type']")
e2e_check "[[ $source_rejects == $want_source ]]" "producer rejects (bad JSON + wrong type) $source_rejects = $want_source"
e2e_check "[[ $(by_rule cleaner/duplicate) == $(fleet_truth "t['accounting']['duplicates']") ]]" "duplicates dead-lettered as cleaner/duplicate"
e2e_check "[[ $(by_rule cleaner/too_late) == $(fleet_truth "t['accounting']['late_beyond_lateness']") ]]" "events beyond the lateness dead-lettered as cleaner/too_late"
late_reason=$(python3 "$E2E_TOOL" dlq "$E2E_DLQ" --records | python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    if r["rule"] == "too_late":
        print(r["reason"]); break')
e2e_check "[[ \$late_reason == *'behind the watermark'* ]]" "a late event's reason says how far behind the watermark it is: $late_reason"

# The joins: every event has a unit version status; the undescribed unit's are 'missing'.
unknown=$(fleet_truth "t['unknown_units'][0]")
e2e_check "[[ $(e2e_psql "SELECT count(*) FROM \"$FLEET_EVENTS\" WHERE unit_version IS NULL") == 0 ]]" "every event carries unit_version"
e2e_check "[[ $(e2e_psql "SELECT count(*) FROM \"$FLEET_EVENTS\" WHERE unit_id = '$unknown' AND unit_version <> 'missing'") == 0 ]]" "the undescribed unit $unknown's events are marked missing"
e2e_check "[[ $(e2e_psql "SELECT count(*) FROM \"$FLEET_EVENTS\" WHERE unit_id = '$unknown'") == $(fleet_truth "t['accounting']['unknown_unit']") ]]" "the undescribed unit's events are loaded, not dropped"
wrong=$(e2e_psql "SELECT count(*) FROM \"$FLEET_EVENTS\" e JOIN \"$FLEET_UNITS\" u USING (unit_id) WHERE e.unit_type IS DISTINCT FROM u.type OR e.unit_name IS DISTINCT FROM u.name")
e2e_check "[[ $wrong == 0 ]]" "every described unit's events carry its (only) description version"
e2e_check "[[ $(e2e_psql "SELECT count(*) FROM \"$FLEET_EVENTS\" WHERE weather_station IS NULL OR temp_max IS NULL") == 0 ]]" "every event has the weather of its nearest station and day"
stations=$(e2e_psql "SELECT string_agg(DISTINCT weather_station, ',' ORDER BY weather_station) FROM \"$FLEET_EVENTS\"")
e2e_log "stations used: $stations; join status: $(e2e_psql "SELECT string_agg(unit_version || '/' || stats_version || '=' || events, ' ') FROM \"${E2E_ID}_join_status\"")"
fleet_check_aggregates
