#!/usr/bin/env bash
# Records too large for the DLQ do not kill a daemon (issue #19). In a private pipeline
# instance the raw, clean and enriched topics take messages up to 10 MiB (max.message.bytes
# raised with kafka.admin.ConfigCommand, what kafka-configs.sh runs); the DLQ keeps the broker
# default (1 MB). One oversized input then reaches each daemon:
#   producer: a CSV of SYNTHETIC loan rows (tests/data/loans/loan_data.py) with one 20 MiB
#             line (a good row with one cell padded) in the middle;
#   cleaner, enricher, pg-sink: one 5 MiB record of garbage bytes each, produced with kcat
#             straight into the raw, clean and enriched topics.
# At the end:
#   every good row is in the table exactly once (count, distinct keys, content sums);
#   the DLQ holds exactly four records, one per stage, each with rule too_large, cut to fit
#   (sluice-dlq-truncated, a value under 1,000,000 bytes), the original size in
#   sluice-dlq-original-bytes (the CSV line without its line end; the Kafka record's value)
#   and where it was in sluice-origin (file:line, or topic/partition@offset);
#   rows in the file = rows loaded + rows of the file in the DLQ;
#   no daemon exited: each has the pid it had at start and its /readyz answers 200.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"

SEED=${E2E_SEED:-19}
GOOD=${E2E_OVERSIZED_ROWS:-1000}
BIG_LINE_BYTES=$((20 * 1024 * 1024))   # the CSV line, without its line end
BIG_RECORD_BYTES=$((5 * 1024 * 1024))  # the value of each record produced with kcat
TOPIC_MAX_BYTES=10485760               # max.message.bytes of raw, clean and enriched
BROKER_DEFAULT_MAX_BYTES=1048588       # Kafka's default max.message.bytes (message.max.bytes)
DLQ_VALUE_LIMIT=1000000                # every DLQ value must be shorter than this
DAEMONS=(producer cleaner enricher pg-sink)

e2e_init oversized
# The test's topics carry 15 MiB of garbage: delete them with the rest of the clean-up.
e2e_on_teardown "e2e_kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server '$SLUICE_KAFKA_BROKERS' \
  --delete --topic '${E2E_ID}\\..*|_schemas_${E2E_ID}'"

python3 "$E2E_DATA/loan_data.py" synthetic --seed "$SEED" --rows "$GOOD" --out "$E2E_TMP/good.csv" >/dev/null
DATA=$E2E_TMP/oversized.csv
EXPECTED=$E2E_TMP/expected.json
# LF line ends (the generator writes CRLF), the big line after the first half of the good
# rows; the expectations (counts, the big line's number and size, content sums of the good
# rows) are written beside it. count-csv cannot count this file (a 20 MiB field is over
# Python's csv field limit), so the generator counts.
python3 - "$E2E_TMP/good.csv" "$DATA" "$EXPECTED" "$BIG_LINE_BYTES" <<'EOF'
import json, sys
src, out, expected, big = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
lines = [l.rstrip("\r") for l in open(src, newline="").read().split("\n") if l.strip()]
header, rows = lines[0], lines[1:]
cells = rows[0].split(",")
col = header.split(",").index("addr_state")
cells[col] += "X" * (big - len(",".join(cells)))
big_line = ",".join(cells)
assert len(big_line.encode()) == big
half = len(rows) // 2
with open(out, "w", newline="") as f:
    f.write("\n".join([header] + rows[:half] + [big_line] + rows[half:]) + "\n")
json.dump({"items": len(rows) + 1, "good": len(rows), "big_line": half + 2, "big_bytes": big,
           "funded_sum": sum(int(r.split(",")[0]) for r in rows),
           "income_sum": round(sum(float(r.split(",")[6]) for r in rows), 2)}, open(expected, "w"))
EOF
read -r ITEMS BIG_LINE < <(python3 -c "
import json; e = json.load(open('$EXPECTED')); print(e['items'], e['big_line'])")
e2e_log "$ITEMS rows in the file (seed $SEED): $GOOD good, line $BIG_LINE is $BIG_LINE_BYTES bytes"

e2e_pipeline
e2e_up
eval "$("$E2E_PIPE" info "$E2E_ID")"  # P_RAW, P_CLEAN, P_ENRICHED, P_DLQ
declare -A PID
for d in "${DAEMONS[@]}"; do
  PID[$d]=$(cat "$E2E_PDIR/pids/$d.pid")
done
e2e_log "daemon pids at start: producer ${PID[producer]}, cleaner ${PID[cleaner]}, enricher ${PID[enricher]}, pg-sink ${PID[pg-sink]}"

# max.message.bytes as the broker reports it for a topic (dynamic or default).
topic_max_bytes() {
  e2e_kafka_tool kafka.admin.ConfigCommand --bootstrap-server "$SLUICE_KAFKA_BROKERS" \
    --entity-type topics --entity-name "$1" --describe --all 2>"$E2E_TMP/configs.err" |
    sed -n 's/^ *max\.message\.bytes=\([0-9]*\) .*/\1/p'
}
# The daemons created the topics (e2e_up waits for every /readyz); nothing was fed yet.
for t in "$P_RAW" "$P_CLEAN" "$P_ENRICHED"; do
  e2e_kafka_tool kafka.admin.ConfigCommand --bootstrap-server "$SLUICE_KAFKA_BROKERS" \
    --entity-type topics --entity-name "$t" --alter --add-config "max.message.bytes=$TOPIC_MAX_BYTES" \
    >"$E2E_TMP/configs.out" 2>&1 || e2e_fail "could not raise max.message.bytes of $t: $(tail -n 3 "$E2E_TMP/configs.out")"
  max=$(topic_max_bytes "$t")
  e2e_check '[[ $max == "$TOPIC_MAX_BYTES" ]]' "$t: max.message.bytes raised to $TOPIC_MAX_BYTES (broker says '$max')"
done
max=$(topic_max_bytes "$P_DLQ")
e2e_check '[[ -n $max ]] && (( max <= BROKER_DEFAULT_MAX_BYTES ))' "$P_DLQ keeps the broker default max.message.bytes ($max)"

e2e_feed "$DATA" oversized.csv

# Garbage that no decoder accepts (no Confluent magic byte 0), the same bytes every run.
python3 -c "
import sys; n = int(sys.argv[1])
sys.stdout.buffer.write((b'\xff' + b'oversized garbage ' * (n // 18 + 1))[:n])" "$BIG_RECORD_BYTES" >"$E2E_TMP/garbage.bin"
declare -A ORIGIN STAGE_OF=(["$P_RAW"]=cleaner ["$P_CLEAN"]=enricher ["$P_ENRICHED"]=pg-sink)
# inject <topic>: one BIG_RECORD_BYTES record into partition 0; ORIGIN[<stage>] = <topic>/0@<offset>.
inject() {
  local topic=$1 offset
  kcat -P -b "$SLUICE_KAFKA_BROKERS" -t "$topic" -p 0 -k "oversized-${STAGE_OF[$topic]}" \
    -X message.max.bytes="$TOPIC_MAX_BYTES" "$E2E_TMP/garbage.bin" 2>"$E2E_TMP/kcat.err" ||
    e2e_fail "kcat could not produce the $BIG_RECORD_BYTES-byte record into $topic: $(cat "$E2E_TMP/kcat.err")"
  offset=$(kcat -C -b "$SLUICE_KAFKA_BROKERS" -t "$topic" -p 0 -o beginning -e -q -f '%o %S\n' |
    awk -v n="$BIG_RECORD_BYTES" '$2 == n { print $1 }' || true)
  [[ $offset =~ ^[0-9]+$ ]] || e2e_fail "the $BIG_RECORD_BYTES-byte record is not in $topic partition 0 once (offsets: '$offset')"
  ORIGIN[${STAGE_OF[$topic]}]="$topic/0@$offset"
  e2e_log "produced $BIG_RECORD_BYTES bytes of garbage into $topic/0@$offset (for the ${STAGE_OF[$topic]})"
}
inject "$P_RAW"
inject "$P_CLEAN"
inject "$P_ENRICHED"

# Bounded wait for the four too_large records; a daemon that exits fails the test at once.
too_large_count() {
  e2e_dlq_json --records | python3 -c 'import json, sys; print(sum(json.loads(l)["rule"] == "too_large" for l in sys.stdin))'
}
deadline=$((SECONDS + 180))
n=0
while :; do
  for d in "${DAEMONS[@]}"; do
    kill -0 "${PID[$d]}" 2>/dev/null ||
      e2e_fail "$d (pid ${PID[$d]}) exited with oversized records in flight; too_large DLQ records: $n of 4"
  done
  n=$(too_large_count)
  (( n >= 4 )) && break
  (( SECONDS < deadline )) ||
    e2e_fail "$n of 4 too_large DLQ records after 180 s; DLQ by stage/rule: $(e2e_dlq_json | python3 -c 'import json, sys; print(json.load(sys.stdin)["by_rule"])')"
  sleep 2
done
e2e_log "ok: $n too_large records in the DLQ, every daemon still running"
e2e_wait $((GOOD + 4)) 180

rows=$(e2e_rows)
keys=$(e2e_psql "SELECT count(DISTINCT loan_id) FROM \"$E2E_TABLE\"")
read -r funded income < <(e2e_psql "SELECT sum(funded_amnt)::bigint, round(sum(annual_inc)::numeric, 2) FROM \"$E2E_TABLE\"" | tr '|' ' ')
read -r exp_funded exp_income < <(python3 -c "
import json; e = json.load(open('$EXPECTED')); print(e['funded_sum'], '%.2f' % e['income_sum'])")
e2e_check '(( rows == GOOD ))' "table holds exactly the $GOOD good rows (has $rows)"
e2e_check '(( keys == rows ))' "each loan_id once ($keys distinct)"
e2e_check '[[ $funded == "$exp_funded" && $income == "$exp_income" ]]' \
  "content sums match the good rows (funded_amnt $funded vs $exp_funded, annual_inc $income vs $exp_income)"

# The DLQ: headers of every record (pipeline_tool.py), and each value's size from kcat.
e2e_dlq_json --records >"$E2E_TMP/dlq.jsonl"
kcat -C -b "$SLUICE_KAFKA_BROKERS" -t "$P_DLQ" -o beginning -e -q -X isolation.level=read_committed \
  -f '%p %o %S\n' >"$E2E_TMP/dlq.sizes"
if ! python3 - "$EXPECTED" "$E2E_TMP/dlq.jsonl" "$E2E_TMP/dlq.sizes" "$BIG_RECORD_BYTES" "$DLQ_VALUE_LIMIT" \
  "${ORIGIN[cleaner]}" "${ORIGIN[enricher]}" "${ORIGIN[pg-sink]}" <<'EOF'
import json, sys
e = json.load(open(sys.argv[1]))
records = [json.loads(l) for l in open(sys.argv[2])]
sizes = {(int(p), int(o)): int(s) for p, o, s in (l.split() for l in open(sys.argv[3]) if l.strip())}
big_record, limit = int(sys.argv[4]), int(sys.argv[5])
expected = {"producer": (e["big_bytes"], None), "cleaner": (big_record, sys.argv[6]),
            "enricher": (big_record, sys.argv[7]), "pg-sink": (big_record, sys.argv[8])}
problems = []
if len(records) != 4:
    problems.append(f"{len(records)} DLQ records, expected 4 (one per stage)")
for stage, (original, origin) in expected.items():
    got = [r for r in records if r["stage"] == stage]
    if len(got) != 1:
        problems.append(f"{stage}: {len(got)} DLQ records, expected 1")
        continue
    r = got[0]
    h = {}
    for k, v in r["headers"]:
        h[k] = v  # the last header of a name is its value
    size = sizes.get((r["partition"], r["offset"]))
    where = (f"line {r['source_line']} of {r['source_file']}" if origin is None
             else " ".join(r["origins"]))
    print(f"  {stage}/{r['rule']}: original-bytes {h.get('sluice-dlq-original-bytes')}, "
          f"truncated {h.get('sluice-dlq-truncated')!r}, value {size} bytes, origin {where}")
    if r["rule"] != "too_large":
        problems.append(f"{stage}: rule {r['rule']!r} ({r['reason'][:200]!r}), expected too_large")
    if "sluice-dlq-truncated" not in h:
        problems.append(f"{stage}: no sluice-dlq-truncated header")
    if h.get("sluice-dlq-original-bytes") != str(original):
        problems.append(f"{stage}: sluice-dlq-original-bytes {h.get('sluice-dlq-original-bytes')!r}, expected {original}")
    if size is None or size >= limit:
        problems.append(f"{stage}: DLQ value of {size} bytes, expected under {limit}")
    if not r["origins"]:
        problems.append(f"{stage}: no sluice-origin header")
    elif origin is None:
        if r["source_line"] != e["big_line"] or not str(r["source_file"]).endswith("oversized.csv"):
            problems.append(f"{stage}: from {r['source_file']}:{r['source_line']}, expected oversized.csv:{e['big_line']}")
    elif origin not in r["origins"]:
        problems.append(f"{stage}: sluice-origin {r['origins']}, expected {origin}")
for p in problems:
    print("  " + p)
sys.exit(1 if problems else 0)
EOF
then
  e2e_fail "the DLQ is not one cut too_large record per stage (above)"
fi
e2e_log "ok: one too_large record per stage in the DLQ, cut under $DLQ_VALUE_LIMIT bytes, with original size and origin"

# Row accounting: rows of the file in the DLQ are those with a source line.
by_rule=$(e2e_dlq_json | python3 -c 'import json, sys; print(json.load(sys.stdin)["by_rule"])')
from_file=$(python3 -c 'import json, sys; print(sum(json.loads(l)["source_line"] is not None for l in open(sys.argv[1])))' "$E2E_TMP/dlq.jsonl")
e2e_check '(( ITEMS == rows + from_file ))' \
  "rows in the file $ITEMS = rows loaded $rows + rows rejected $from_file (DLQ by stage/rule: $by_rule)"

# No daemon exited: same process as at start, ready.
for d in "${DAEMONS[@]}"; do
  pid=$(cat "$E2E_PDIR/pids/$d.pid" 2>/dev/null || echo none)
  e2e_check '[[ $pid == "${PID[$d]}" ]] && kill -0 "$pid" 2>/dev/null' "$d never exited (pid ${PID[$d]} at start, $pid at the end)"
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$(cat "$E2E_PDIR/ports/$d")/readyz" || true)
  e2e_check '[[ $code == 200 ]]' "$d /readyz answers 200 (got $code)"
done
