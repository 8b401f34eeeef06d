#!/usr/bin/env bash
# Re-feeding the same file changes nothing. The real Lending Club file goes through a private
# pipeline instance; then the same bytes are dropped again, under the same name and under a
# new name, and once more after the producer was restarted (its positions come back from the
# positions topic). Each time the producer must recognise the file, and the table (row count
# and a checksum of every column of every row) and the DLQ (record count) must not change.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"

e2e_init refeed
DATA=$E2E_DATA/lending_club.csv
ITEMS=$(python3 "$E2E_TOOL" count-csv "$DATA")
SKIP_RE='"msg":"file already ingested'
e2e_pipeline
e2e_up
e2e_feed "$DATA" loans.csv
e2e_wait "$ITEMS" 300
e2e_wait_log producer '"msg":"file ingested"' 1

before_md5=$(e2e_table_md5)
before_dlq=$(e2e_dlq_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
rows=${before_md5%%:*}
e2e_check '(( rows + before_dlq == ITEMS ))' "first feed: $rows rows + $before_dlq DLQ = $ITEMS rows in"

# assert_unchanged <what happened>: the pipeline is idle again and nothing moved.
assert_unchanged() {
  e2e_wait "$ITEMS" 120
  local md5 dlq
  md5=$(e2e_table_md5)
  dlq=$(e2e_dlq_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
  e2e_check '[[ $md5 == "$before_md5" ]]' "$1: table unchanged (rows:md5 $md5)"
  e2e_check '(( dlq == before_dlq ))' "$1: DLQ unchanged ($dlq records)"
}

e2e_feed "$DATA" loans.csv
e2e_wait_log producer "$SKIP_RE" 1
assert_unchanged "same file, same name"

e2e_feed "$DATA" loans-copy.csv
e2e_wait_log producer "$SKIP_RE.*loans-copy\.csv" 1
assert_unchanged "same file, new name"

"$E2E_PIPE" restart "$E2E_ID" producer || e2e_fail "producer restart failed"
e2e_feed "$DATA" loans-after-restart.csv
e2e_wait_log producer "$SKIP_RE.*loans-after-restart\.csv" 1
assert_unchanged "after a producer restart"
ingested=$(e2e_log_count producer '"msg":"file ingested"')
e2e_check '(( ingested == 1 ))' "the producer ingested the file exactly once ($ingested)"
