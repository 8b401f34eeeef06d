#!/usr/bin/env bash
# `sluice pipeline new` end to end, on a CSV this test writes (empty cells, yes/no and
# Yes/NO booleans, dates, timestamps, a low-cardinality column, a quoted comma, a duplicated
# line): new (into a temp folder, with an id from a hash of the columns) -> up -> feed ->
# summary --json, then:
#   rows in = loaded + rejected, the duplicate is the one reject (rule 'duplicate');
#   every loaded value in PostgreSQL is the file's value, typed (int, double, boolean, date,
#   timestamp, text; NULL for an empty cell);
#   a second file with a value the drafted rules refuse (a city not among the sample's) is
#   rejected by the 'allowed' rule, seen by `sluice dlq show --reason`, and accounted for;
#   with no fed file on record the summary's totals add up too (rows read from the positions);
#   bad input to `new` exits 2 with one message.
# The pipeline has a unique name and lives under the test's temp dir; `sluice pipeline down`
# runs on exit whatever happens.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"

e2e_init cli
SLUICE=$SLUICE_BIN_DIR/sluice
[[ -x $SLUICE ]] || e2e_fail "$SLUICE is not built (ninja -C build sluice-cli)"
PIPES=$E2E_TMP/pipelines
P=$E2E_ID
CLI_UP=0

cli_teardown() {
  local rc=$?
  set +e
  if (( CLI_UP )); then
    "$SLUICE" pipeline down "$P" --dir "$PIPES" || { e2e_log "sluice pipeline down failed"; rc=1; }
  fi
  (exit "$rc")
  e2e_teardown
}
trap cli_teardown EXIT

# --- the file ------------------------------------------------------------------------------
CSV=$E2E_TMP/people.csv
cat >"$CSV" <<'CSV'
Name,Age,Score,Member,Joined,Last Seen,City,Notes
Alice,34,12.5,yes,2024-01-05,2024-01-05 10:00:00,Paris,first
Bob,,7,no,2024-02-10,2024-02-10 11:30:00,Lyon,
Carol,29,8.25,Yes,2024-03-15,2024-03-15 09:15:00,Paris,"quoted, with comma"
Dan,41,3,NO,,2024-04-01 00:00:00,Lyon,x
Alice,34,12.5,yes,2024-01-05,2024-01-05 10:00:00,Paris,first
Eve,52,10,no,2024-05-20,2024-05-20 23:59:59,Nice,
Frank,38,0.5,yes,2023-12-31,2023-12-31 12:00:00,Paris,last
CSV

# --- bad input: one message, exit 2 ----------------------------------------------------------
rc=0; "$SLUICE" pipeline new "Bad Name" --from "$CSV" --dir "$PIPES" 2>"$E2E_TMP/err" || rc=$?
e2e_check "(( rc == 2 )) && grep -q 'not valid' '$E2E_TMP/err'" "new with a bad name exits 2 ($(head -c 200 "$E2E_TMP/err"))"
rc=0; "$SLUICE" pipeline new "$P" --from "$E2E_TMP/missing.csv" --dir "$PIPES" 2>"$E2E_TMP/err" || rc=$?
e2e_check "(( rc == 2 ))" "new from a missing file exits 2"
rc=0; "$SLUICE" pipeline new "$P" --from "$CSV" --dir "$PIPES" 2>"$E2E_TMP/err" || rc=$?
e2e_check "(( rc == 2 )) && grep -q -- '--id' '$E2E_TMP/err'" "new with no unique column and no --id/--key exits 2 and says what to give"

# --- new -------------------------------------------------------------------------------------
"$SLUICE" pipeline new "$P" --from "$CSV" --dir "$PIPES" --inbox "$E2E_INBOX" --id row_id | tee "$E2E_TMP/new.out" ||
  e2e_fail "sluice pipeline new failed"
FOLDER=$PIPES/$P
for f in pipeline.yaml "schemas/$P.raw.v1.avsc" "schemas/$P.clean.v1.avsc" "schemas/$P.enriched.v1.avsc"; do
  e2e_check "[[ -s '$FOLDER/$f' ]]" "new wrote $f"
done
e2e_check "[[ -d '$FOLDER/cases' ]]" "new made cases/"
e2e_check "grep -c -- '--check: ok' '$E2E_TMP/new.out' | grep -qx 4" "the four daemons' --check pass on the draft"
python3 - "$FOLDER/schemas/$P.clean.v1.avsc" <<'PY' || e2e_fail "the clean schema's inferred types are wrong"
import json, sys
f = {x["name"]: x["type"] for x in json.load(open(sys.argv[1]))["fields"]}
want = {"row_id": "string", "name": "string", "age": ["null", "int"], "score": "double",
        "member": "boolean", "joined": ["null", {"type": "int", "logicalType": "date"}],
        "last_seen": {"type": "long", "logicalType": "local-timestamp-millis"}, "city": "string",
        "notes": ["null", "string"]}
bad = {k: (f.get(k), v) for k, v in want.items() if f.get(k) != v}
if bad or set(f) != set(want):
    sys.exit(f"clean schema fields differ (got, want): {bad}; fields {sorted(f)}")
PY
e2e_log "ok: clean schema types (int nullable, double, boolean, date nullable, timestamp, strings)"
"$SLUICE" pipeline test "$P" --dir "$PIPES" >"$E2E_TMP/test.out" || e2e_fail "sluice pipeline test failed: $(cat "$E2E_TMP/test.out")"

# --- up, feed, summary -----------------------------------------------------------------------
CLI_UP=1
"$SLUICE" pipeline up "$P" --dir "$PIPES" || e2e_fail "sluice pipeline up failed"
"$SLUICE" pipeline status "$P" --dir "$PIPES" || e2e_fail "sluice pipeline status says a daemon is not up"
"$SLUICE" pipeline feed "$P" "$CSV" --dir "$PIPES" || e2e_fail "sluice pipeline feed failed"
e2e_check "[[ -f '$E2E_INBOX/people.csv' ]] && ! ls -A '$E2E_INBOX' | grep -q '^\\.'" "the file is in the inbox under its name, no hidden part left"
"$SLUICE" pipeline summary "$P" --dir "$PIPES" --json --timeout 300 >"$E2E_TMP/summary.json" ||
  e2e_fail "sluice pipeline summary failed"
read -r ROWS_IN LOADED REJECTED DUPS OK < <(python3 -c "
import json; s = json.load(open('$E2E_TMP/summary.json'))
print(s['rows_in'], s['loaded'], s['rejected'], s['duplicates'], s['accounting_ok'])")
e2e_log "summary: rows in $ROWS_IN, loaded $LOADED, rejected $REJECTED, duplicates $DUPS, accounting $OK"
e2e_check "(( ROWS_IN == 7 ))" "rows in = the file's 7 data rows"
e2e_check "(( ROWS_IN == LOADED + REJECTED )) && [[ $OK == True ]]" "rows in = loaded + rejected"
e2e_check "(( LOADED == 6 && REJECTED == 1 && DUPS == 1 ))" "the duplicated line is the one reject"
python3 -c "
import json, sys; s = json.load(open('$E2E_TMP/summary.json'))
sys.exit(0 if s['rejected_by_rule'] == {'cleaner/duplicate': 1} else f'by rule: {s[\"rejected_by_rule\"]}')" ||
  e2e_fail "the reject is not the cleaner's duplicate rule"
e2e_check "python3 -c \"import json; s = json.load(open('$E2E_TMP/summary.json')); assert set(s['throughput']) >= {'producer', 'cleaner', 'enricher', 'pg-sink'}\"" \
  "the summary has each stage's throughput"

# --- every loaded value against the file ------------------------------------------------------
check_table() {
  e2e_psql "SELECT coalesce(json_agg(json_build_array(name, age, score, member, joined::text,
              to_char(last_seen, 'YYYY-MM-DD HH24:MI:SS'), city, notes) ORDER BY name), '[]')
            FROM \"$E2E_TABLE\"" >"$E2E_TMP/table.json" || e2e_fail "cannot read table $E2E_TABLE"
  python3 - "$E2E_TMP/table.json" "$@" <<'PY'
import csv, json, sys
got = json.load(open(sys.argv[1]))
want = {}
for path in sys.argv[2:]:
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            want[r["Name"]] = [r["Name"], int(r["Age"]) if r["Age"] else None, float(r["Score"]),
                               r["Member"].lower() == "yes", r["Joined"] or None, r["Last Seen"],
                               r["City"], r["Notes"] or None]
want = [want[k] for k in sorted(want)]
if got != want:
    print("table differs from the file:", file=sys.stderr)
    for g, w in zip(got + [None] * len(want), want + [None] * len(got)):
        if g != w:
            print(f"  table {g}\n  file  {w}", file=sys.stderr)
    sys.exit(1)
print(f"{len(got)} rows, every value as in the file")
PY
}
check_table "$CSV" || e2e_fail "the loaded values differ from the file"
e2e_log "ok: every loaded value equals the file's"

# --- a second file: a value the drafted 'allowed' rule refuses ---------------------------------
MORE=$E2E_TMP/more.csv
printf '%s\n' 'Name,Age,Score,Member,Joined,Last Seen,City,Notes' \
  'Gina,27,4.75,no,2024-06-01,2024-06-01 08:00:00,Lyon,second file' \
  'Hugo,33,1,yes,2024-06-02,2024-06-02 08:00:00,Berlin,' >"$MORE"
"$SLUICE" pipeline feed "$P" "$MORE" --dir "$PIPES" || e2e_fail "second feed failed"
"$SLUICE" pipeline summary "$P" --dir "$PIPES" --json --timeout 300 >"$E2E_TMP/summary2.json" ||
  e2e_fail "second summary failed"
python3 - "$E2E_TMP/summary2.json" <<'PY' || e2e_fail "second file's accounting is wrong"
import json, sys
s = json.load(open(sys.argv[1]))
a = s["accounting"]
assert s["rows_in"] == 2 and a["ok"] and a["loaded"] == 1 and a["rejected"] == 1, a
assert s["loaded"] == 7 and s["rejected"] == 2, (s["loaded"], s["rejected"])
assert s["rejected_by_rule"].get("cleaner/city_value") == 1, s["rejected_by_rule"]
PY
e2e_log "ok: second file: rows in 2 = loaded +1 + rejected +1 (city_value)"
check_table "$CSV" <(head -2 "$MORE") || e2e_fail "the loaded values differ after the second file"
"$SLUICE" dlq show "$P" --dir "$PIPES" --reason city >"$E2E_TMP/dlq.out" || e2e_fail "sluice dlq show failed"
cat "$E2E_TMP/dlq.out"
e2e_check "grep -q 'city_value' '$E2E_TMP/dlq.out' && grep -q 'more.csv:3' '$E2E_TMP/dlq.out' && ! grep -q 'duplicate' '$E2E_TMP/dlq.out'" \
  "dlq show --reason city lists the Berlin row with its origin (more.csv:3) and nothing else"

# Without a fed file on record, the summary is the totals: rows read = every row the producer
# read (its positions topic) = loaded + rejected.
rm -f "$E2E_PDIR/last-feed.json" "$E2E_PDIR/last-report.json"
"$SLUICE" pipeline summary "$P" --dir "$PIPES" --json >"$E2E_TMP/summary3.json" || e2e_fail "totals summary failed"
python3 - "$E2E_TMP/summary3.json" <<'PY' || e2e_fail "the totals summary is wrong"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["file"] is None and s["rows_in"] == 9 and s["loaded"] == 7 and s["rejected"] == 2, s
assert s["accounting_ok"] and s["duplicates"] == 1, s
PY
e2e_log "ok: totals: rows read 9 (both files) = loaded 7 + rejected 2"

"$SLUICE" pipeline down "$P" --dir "$PIPES" || e2e_fail "sluice pipeline down failed"
CLI_UP=0
e2e_check "! '$SLUICE' pipeline status '$P' --dir '$PIPES' >/dev/null 2>&1" "status after down says not up"
