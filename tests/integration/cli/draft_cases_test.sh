#!/usr/bin/env bash
# `sluice pipeline new` without any infrastructure: a draft from a CSV this test writes (a header
# that is not a field name, --key on it, Y/N booleans, m/d/Y dates, timestamps spelled with 'T'
# and ' ', a low-cardinality column, an empty cell) passes the daemons' --check, and its
# cleaner rules do what the sample suggests, shown by a case file run with
# `sluice pipeline test`: values typed, Y mapped to true, a duplicate key, a value outside the
# listed ones, a non-number and a missing required value rejected by the drafted rules. A case
# file with a wrong expectation makes `pipeline test` fail.
# In the integration tier, not unit: it runs the built binaries (sluice and the daemons' --check),
# which the sanitizer build (build-asan, unit tests only) does not build. No Kafka, no PostgreSQL.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
BUILD=${SLUICE_BINARY_DIR:-$ROOT/build}
SLUICE=$BUILD/bin/sluice
fail() { echo "FAIL: $*" >&2; exit 1; }
[[ -x $SLUICE ]] || fail "$SLUICE is not built"
TMP=$(mktemp -d /tmp/sluice-draft-cases.XXXX)
trap 'rm -rf "$TMP"' EXIT

cat >"$TMP/orders.csv" <<'CSV'
Order ID,Qty,Price,Paid,Day,Shipped,Status,Note
A-1,3,9.99,Y,01/05/2024,2024-01-05T10:00:00,open,
A-2,1,120,N,01/06/2024,2024-01-06 11:30:00,closed,gift
A-3,12,0.5,y,12/31/2023,2023-12-31T23:59:59,open,
A-4,2,3.25,n,02/29/2024,2024-02-29 00:00:00,closed,rush
A-5,7,10,Y,03/01/2024,2024-03-01T08:15:00,open,
CSV

"$SLUICE" pipeline new orders --from "$TMP/orders.csv" --dir "$TMP" --key 'Order ID' --inbox "$TMP/inbox" \
  >"$TMP/new.out" || { cat "$TMP/new.out"; fail "pipeline new failed"; }
[[ $(grep -c -- '--check: ok' "$TMP/new.out") == 4 ]] || { cat "$TMP/new.out"; fail "--check did not pass for the four daemons"; }
grep -q "'Order ID': order_id" "$TMP/orders/pipeline.yaml" || fail "the header 'Order ID' is not mapped to order_id"

cat >"$TMP/orders/cases/cleaner_draft.yaml" <<'YAML'
stage: cleaner
description: the drafted rules on rows like the sample's
pipeline: ../pipeline.yaml
cases:
  - name: a sample row is typed (Y -> true, m/d/Y date, 'T' timestamp)
    input: {order_id: A-1, qty: '3', price: '9.99', paid: 'Y', day: '01/05/2024', shipped: '2024-01-05T10:00:00', status: open}
    expect: emit
    output: {order_id: A-1, qty: 3, price: 9.99, paid: true, day: '2024-01-05', shipped: 1704448800000, status: open, note: ~}
  - name: a timestamp spelled with a space
    input: {order_id: A-2, qty: '1', price: '120', paid: 'N', day: '01/06/2024', shipped: '2024-01-05 10:00:00', status: closed, note: gift}
    expect: emit
    output: {paid: false, shipped: 1704448800000, note: gift}
  - name: the same key again
    input: {order_id: A-1, qty: '3', price: '9.99', paid: 'Y', day: '01/05/2024', shipped: '2024-01-05T10:00:00', status: open}
    expect: reject
    rule: duplicate
  - name: a status not in the sample
    input: {order_id: A-9, qty: '3', price: '9.99', paid: 'Y', day: '01/05/2024', shipped: '2024-01-05T10:00:00', status: lost}
    expect: reject
    rule: status_value
  - name: a quantity that is not a number
    input: {order_id: A-10, qty: 'three', price: '9.99', paid: 'Y', day: '01/05/2024', shipped: '2024-01-05T10:00:00', status: open}
    expect: reject
    rule: qty_int
  - name: a missing price (never empty in the sample)
    input: {order_id: A-11, qty: '3', paid: 'Y', day: '01/05/2024', shipped: '2024-01-05T10:00:00', status: open}
    expect: reject
    rule: required_fields
YAML
"$SLUICE" pipeline test orders --dir "$TMP" >"$TMP/test.out" 2>&1 || { cat "$TMP/test.out"; fail "pipeline test failed"; }
grep -q 'cleaner_draft.yaml: 6 checked, ok' "$TMP/test.out" || { cat "$TMP/test.out"; fail "the case file did not run its 6 cases"; }

# A wrong expectation must fail the run.
sed -i 's/output: {paid: false, shipped: 1704448800000, note: gift}/output: {paid: true}/' "$TMP/orders/cases/cleaner_draft.yaml"
rc=0
"$SLUICE" pipeline test orders --dir "$TMP" >"$TMP/test2.out" 2>&1 || rc=$?
(( rc == 1 )) || { cat "$TMP/test2.out"; fail "pipeline test passed (rc $rc) with a wrong expectation"; }
echo PASS
