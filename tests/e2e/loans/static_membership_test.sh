#!/usr/bin/env bash
# kill -9 of a consumer daemon, restarted at once, gets its partitions back through static
# group membership (KIP-345, group.instance.id = <group>-<SLUICE_INSTANCE_ID or 0>), not by
# the broker expiring the dead member. The cleaner and the pg-sink run with a 5-minute
# session.timeout.ms: were they dynamic members, the restarted process would get no partitions
# until the dead member's session expired, so `deploy/local/pipeline start` (which waits up to
# 90 s for /readyz, and /readyz needs assigned partitions) would fail. No timing is asserted;
# the facts checked are:
#   - each restarted daemon becomes ready (partitions assigned) while the dead process's
#     session is still in force;
#   - its group then has exactly one member: the restarted process, with the expected
#     group.instance.id, holding all partitions (a dead dynamic member would still be listed);
#   - the restarted pg-sink started every partition from the offsets stored in PostgreSQL;
#   - rows fed before and after the kills arrive exactly once.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"
source "$SLUICE_ROOT/deploy/local/lib/kafka.sh"

PARTITIONS=6
e2e_init rejoin
python3 "$E2E_DATA/loan_data.py" synthetic --seed 11 --rows 2000 --out "$E2E_TMP/all.csv" >/dev/null
{ head -n 1001 "$E2E_TMP/all.csv"; } >"$E2E_TMP/first.csv"
{ head -n 1 "$E2E_TMP/all.csv"; tail -n +1002 "$E2E_TMP/all.csv"; } >"$E2E_TMP/second.csv"

e2e_pipeline --partitions "$PARTITIONS" --cleaner-batch 200 --sink-batch 500
# The pipeline copy has no librdkafka section of its own: append one.
! grep -q '^librdkafka:' "$E2E_PIPELINE" || e2e_fail "the pipeline copy already has a librdkafka section"
cat >>"$E2E_PIPELINE" <<'EOF'
librdkafka:
  cleaner: {session.timeout.ms: '300000'}
  sink: {session.timeout.ms: '300000'}
EOF
e2e_up

e2e_feed "$E2E_TMP/first.csv" first.csv
e2e_wait 1000

# Kafka's own view of a group: one line per member (instance id or "-", member id,
# partitions); the tool's whole answer is kept in $E2E_TMP/group.txt.
group_members() {
  local version=$KAFKA_KRAFT_VERSION
  [[ $(cat "$STACK_DIR/mode" 2>/dev/null) == zk ]] && version=$KAFKA_ZK_VERSION
  kafka_tool "$version" org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
    --bootstrap-server "$SLUICE_KAFKA_BROKERS" --describe --group "$1" --members \
    >"$E2E_TMP/group.txt" 2>&1 || true
  # Columns by header name: GROUP-INSTANCE-ID is only there when some member has one.
  awk '$1 == "GROUP" { for (i = 1; i <= NF; i++) col[$i] = i; next }
       $1 == group { print (col["GROUP-INSTANCE-ID"] ? $col["GROUP-INSTANCE-ID"] : "-"),
                           $col["CONSUMER-ID"], $col["#PARTITIONS"] }' group="$1" "$E2E_TMP/group.txt"
}

for d in cleaner pg-sink; do
  group=$(stack_stage "$SLUICE_BIN_DIR" "$d" consumer_group "$E2E_ID") || e2e_fail "no consumer group of $d"
  read -r _ before_member _ < <(group_members "$group") ||
    e2e_fail "group $group has no member before the kill: $(cat "$E2E_TMP/group.txt")"
  "$E2E_PIPE" kill -9 "$E2E_ID" "$d" || e2e_fail "kill -9 $d failed"
  before_starts=$(e2e_log_count "$d" '"supervisor":"start"')
  "$E2E_PIPE" start "$E2E_ID" "$d" ||
    e2e_fail "$d did not get its partitions back while the killed process's session (5 min) was in force"
  e2e_log "ok: $d ready again after kill -9, within the killed process's session"

  mapfile -t members < <(group_members "$group")
  e2e_check '(( ${#members[@]} == 1 ))' "group $group has one member after the restart (${members[*]:-none})"
  read -r instance member partitions <<<"${members[0]}"
  e2e_check '[[ $instance == "$group-0" ]]' "its group.instance.id is $group-0 (got $instance)"
  e2e_check '[[ $member != "$before_member" ]]' "it is the restarted process (member id changed from $before_member)"
  e2e_check '(( partitions == PARTITIONS ))' "it holds all $PARTITIONS partitions (got $partitions)"

  if [[ $d == pg-sink ]]; then
    # The restarted process's log: everything after its supervisor start line.
    from_pg=$(awk -v n="$before_starts" '/"supervisor":"start"/ { s++ } s > n && /"msg":"partition assigned"/ && /"from":"postgresql"/' \
      "$E2E_PDIR/logs/pg-sink.log" | wc -l)
    e2e_check '(( from_pg == PARTITIONS ))' "the restarted sink started all $PARTITIONS partitions at the offsets stored in PostgreSQL ($from_pg)"
  fi
done

e2e_feed "$E2E_TMP/second.csv" second.csv
e2e_wait 2000
rows=$(e2e_rows)
keys=$(e2e_psql "SELECT count(DISTINCT loan_id) FROM \"$E2E_TABLE\"")
dlq=$(e2e_dlq_json --records | wc -l)
e2e_check '(( rows + dlq == 2000 && keys == rows ))' "rows from before and after the kills arrived once ($rows rows, $keys keys, $dlq in the DLQ)"
