#!/usr/bin/env bash
# pipeline_tool.py count-csv counts "rows in" as the producer does: every item after the
# header, empty and blank lines included (the producer dead-letters them as empty_line, so
# rows in = rows loaded + rows rejected), a quoted field over two lines once, CRLF or LF.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
TOOL=$ROOT/deploy/local/lib/pipeline_tool.py
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# header, a row, an empty line, a blank line, a row with a quoted line break, a last row
# without a line end: 5 rows in.
printf 'a,b\n1,2\n\n   \n3,"x\ny"\n4,5' >"$TMP/lf.csv"
got=$(python3 "$TOOL" count-csv "$TMP/lf.csv")
[[ $got == 5 ]] || fail "LF file: counted $got rows in, expected 5"
sed 's/$/\r/' "$TMP/lf.csv" >"$TMP/crlf.csv"
got=$(python3 "$TOOL" count-csv "$TMP/crlf.csv")
[[ $got == 5 ]] || fail "CRLF file: counted $got rows in, expected 5"
printf 'a,b\n' >"$TMP/header_only.csv"
got=$(python3 "$TOOL" count-csv "$TMP/header_only.csv")
[[ $got == 0 ]] || fail "header only: counted $got rows in, expected 0"
echo PASS
