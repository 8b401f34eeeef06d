#!/usr/bin/env bash
# A broken pipeline file: every daemon's --check prints ONE clear error (file:line:col, the
# key, the problem) on stderr, nothing on stdout, and exits 2. The intact copy passes (exit 0,
# "ok"), so each failure below is caused by the one edit. No Kafka or PostgreSQL is touched.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"

e2e_require_binaries
E2E_ID=e2e_check_$$
E2E_TMP=$(mktemp -d "/tmp/sluice-$E2E_ID.XXXX")
E2E_INBOX=$E2E_TMP/inbox
E2E_PIPELINE=$E2E_TMP/pipeline.yaml
trap 'rc=$?; rm -rf "$E2E_TMP"; (( rc == 0 )) && e2e_log PASS || e2e_log "FAILED (exit $rc)"; exit $rc' EXIT
e2e_pipeline --views all
good=$E2E_PIPELINE

# The daemons that read a pipeline file: the stage table's rows with a section.
mapfile -t DAEMONS < <(stack_stage_table "$SLUICE_BIN_DIR" | awk -F'\t' 'NR > 1 && $2 != "-" { print $3 }')
(( ${#DAEMONS[@]} == 4 )) || e2e_fail "expected four daemons in the stage table, got: ${DAEMONS[*]}"

# case <name> <sed expression or "raw:<content>"> <expected key> <expected problem text>
cases=(
  "unknown_key|s/^      window: 24h$/      windw: 24h/|cleaner.rules[0].windw|unknown key 'windw'"
  "wrong_type|s/^  partitions: \\([0-9]*\\)$/  partitions: many/|topics.partitions|expected an integer"
  "missing_required|/^  table: /d|sink|missing required key 'table'"
  "missing_schema_file|s#loans.enriched.v1.avsc#loans.enriched.v9.avsc#|schemas.enriched|not found"
  "bad_pipeline_name|s/^pipeline: .*/pipeline: Loans Pipeline/|pipeline|"
  "yaml_syntax|s/^topics:$/topics: [/|YAML|syntax error"
  "bad_duration|s/^      refresh: 5m$/      refresh: five minutes/|enricher.steps[0].refresh|"
  "bad_enum|s/^      statistic: median$/      statistic: mode/|cleaner.rules|statistic"
  "http_ports|s/^pipeline: .*/&\nhttp: {ports: {cleaner: 9102}}/|http|deployment settings: --http-port / SLUICE_HTTP_PORT"
  "unknown_rule_field|s/^      fields: \[funded_amnt, /      fields: [funded_amount, /|cleaner.rules[1].fields[0]|unknown field 'funded_amount': not in the raw schema (loans.raw.v1.avsc) and not written by an earlier rule (did you mean 'funded_amnt'?)"
)

for d in "${DAEMONS[@]}"; do
  out=$("$SLUICE_BIN_DIR/$d" --config "$good" --check 2>"$E2E_TMP/err") || e2e_fail "$d --check on the intact copy failed: $(cat "$E2E_TMP/err")"
  [[ $out == ok ]] || e2e_fail "$d --check on the intact copy printed '$out', expected 'ok'"
done
e2e_log "ok: the intact copy passes --check in all four daemons"

failures=0
for c in "${cases[@]}"; do
  IFS='|' read -r name edit key problem <<<"$c"
  bad="$E2E_TMP/$name.yaml"
  sed "$edit" "$good" >"$bad"
  if cmp -s "$good" "$bad"; then
    e2e_fail "case $name: the edit '$edit' changed nothing (the pipeline file changed shape?)"
  fi
  for d in "${DAEMONS[@]}"; do
    rc=0
    "$SLUICE_BIN_DIR/$d" --config "$bad" --check >"$E2E_TMP/out" 2>"$E2E_TMP/err" || rc=$?
    err=$(cat "$E2E_TMP/err")
    lines=$(grep -c . "$E2E_TMP/err" || true)
    problems=()
    (( rc == 2 )) || problems+=("exit $rc, expected 2")
    [[ ! -s $E2E_TMP/out ]] || problems+=("stdout not empty: $(head -c 200 "$E2E_TMP/out")")
    (( lines == 1 )) || problems+=("$lines lines on stderr, expected 1")
    [[ $err == "$bad"* ]] || problems+=("the error does not start with the file name")
    [[ $err == *"$key"* ]] || problems+=("the error does not name '$key'")
    [[ -z $problem || $err == *"$problem"* ]] || problems+=("the error does not say '$problem'")
    if (( ${#problems[@]} )); then
      printf '[%s] FAIL: case %s, %s: %s\n      stderr: %s\n' "$(date +%T)" "$name" "$d" \
        "$(IFS=';'; echo "${problems[*]}")" "$(head -c 600 <<<"$err")" >&2
      failures=$((failures + 1))
    else
      e2e_log "ok: $name, $d: exit 2, one line: ${err:0:150}"
    fi
  done
done
(( failures == 0 )) || e2e_fail "$failures daemon/case combinations did not report one clear error with exit 2"

# A source type no plug-in reads is not declared at all (sources are declared by their
# plug-ins' component table), so every daemon's --check refuses it with one line naming it.
bad="$E2E_TMP/unread_source.yaml"
sed 's/^    - type: csv$/    - {type: sftp, name: other, host: files.example.com}\n    - type: csv/' "$good" >"$bad"
! cmp -s "$good" "$bad" || e2e_fail "unread_source: the edit changed nothing (the pipeline file changed shape?)"
for d in sluice-producer sluice-cleaner sluice-enricher sluice-pg-sink; do
  rc=0
  "$SLUICE_BIN_DIR/$d" --config "$bad" --check >"$E2E_TMP/out" 2>"$E2E_TMP/err" || rc=$?
  err=$(cat "$E2E_TMP/err")
  (( rc == 2 )) || e2e_fail "unread_source: $d --check exited $rc, expected 2 (stderr: $err)"
  [[ $(grep -c . "$E2E_TMP/err") == 1 && $err == "$bad"* && $err == *"unknown type 'sftp'"* ]] ||
    e2e_fail "unread_source: $d: expected one line naming the source type, got: $err"
  e2e_log "ok: unread_source, $d: exit 2, one line: ${err:0:150}"
done
