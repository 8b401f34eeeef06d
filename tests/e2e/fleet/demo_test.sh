#!/usr/bin/env bash
# `scripts/demo fleet --skip-build` (README) as a user runs it, on the shared local stack: it must
# end with the accounting equal to the generator's truth file (SYNTHETIC data, seed 7) and the
# aggregate and join views. It uses the pipelines' real names (fleet_units, fleet_stats, fleet),
# tables and the topic fleet.locations: they are brought down and dropped afterwards.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"
e2e_demo_init fleet
demo_reset() {
  e2e_demo_reset_pipelines fleet fleet_stats fleet_units
  e2e_demo_stop_apis weather-api
  psql -X -q -c 'DROP TABLE IF EXISTS fleet_units, fleet_unit_stats CASCADE' >/dev/null 2>&1 || true
  e2e_kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$SLUICE_KAFKA_BROKERS" \
    --delete --topic fleet.locations >/dev/null 2>&1 || true
}
SLUICE_WEATHER_API_PORT=$(e2e_free_ports 1) e2e_demo_run fleet
out=$E2E_DEMO_OUT
e2e_check 'grep -q "lines = loaded + DLQ: yes, exactly" <<<"$out"' "the accounting balances and equals the truth file"
e2e_check 'grep -qE "^  loaded +1212 " <<<"$out"' "1,212 events loaded (the truth file's valid events)"
e2e_check 'grep -qE "^ air +\| 2014-03-01 \|" <<<"$out"' "the per type and day aggregates"
e2e_check 'grep -qE "^ confirmed +\| confirmed +\|" <<<"$out"' "the join status view: described units confirmed"
e2e_check 'grep -qE "^ missing +\| missing +\| +96$" <<<"$out"' "the undescribed unit's 96 events: missing"
e2e_check 'grep -qE "^ (NYC|SEA) +\|" <<<"$out"' "the weather of the nearest station"
