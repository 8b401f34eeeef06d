#!/usr/bin/env bash
# postgres_cdc with `deletes: tombstone` (issue #12): a delete is written to the raw topic as a
# Kafka tombstone - the row's key, no value - in order after the row's other changes. Only the
# producer runs (the cleaner and the sink do not handle tombstones yet: services/producer/README.md).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_init pgcdc_tomb
cdc_init
cdc_source_table 3
CDC_DELETES=tombstone cdc_pipeline
cdc_up --only registry,producer
# The snapshot first (the producer is ready before it reads), then the changes.
for (( i = 0; i < 120; i++ )); do
  (( $(cdc_raw_count r) == 3 )) && break
  sleep 0.5
done
e2e_psql "UPDATE \"$CDC_SRC\" SET price = 7 WHERE id = 2" >/dev/null
e2e_psql "DELETE FROM \"$CDC_SRC\" WHERE id = 1" >/dev/null
e2e_psql "DELETE FROM \"$CDC_SRC\" WHERE id = 2" >/dev/null
e2e_psql "INSERT INTO \"$CDC_SRC\" VALUES (4, 'four', 4, NULL)" >/dev/null
want='1:r 2:r 3:r 2:u 1:tombstone 2:tombstone 4:c'
got=''
for (( i = 0; i < 120; i++ )); do
  got=$(kcat -C -b "$SLUICE_KAFKA_BROKERS" -t "$E2E_ID.raw" -X isolation.level=read_committed -e -q \
          -f '%k:%S:%h\n' 2>/dev/null |
        sed -E 's/^([^:]*):(-1):.*/\1:tombstone/; s/^([^:]*):[0-9]+:.*sluice-source-op=([a-z]).*/\1:\2/' | tr '\n' ' ' | sed 's/ $//')
  [[ $got == "$want" ]] && break
  sleep 0.5
done
e2e_check "[[ '$got' == '$want' ]]" "raw topic: snapshot, update, the two deletes as tombstones, insert ($got)"
