#!/usr/bin/env bash
# The retail use case end to end (issue #12), CDC: with the four pipelines loaded (as in
# accounting_test.sh), an UPDATE of a product's price and a DELETE of a product in the source
# table products reach the joined output retail_sales_joined (the new price on every order line
# of the product; product_deleted on the deleted one's lines, which keep their last known
# name) and the price-change view (before and after), through the retail_products pipeline
# (postgres_cdc -> retail_product_changes, every change a row).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/e2e.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

e2e_init retail_cdc
retail_init
retail_up
retail_feed
retail_wait_loaded 600
lines=$(retail_count "SELECT count(*) FROM retail_sales_joined")
e2e_check "(( lines == 9994 ))" "the joined output holds the 9,994 order lines"

# Two real products of the file with order lines in both sources.
updated=FUR-BO-10001798   # Bush Somerset Collection Bookcase (Row ID 1)
deleted=FUR-CH-10000454   # Hon Deluxe Fabric Upholstered Stacking Chairs (Row ID 2)
before=$(retail_count "SELECT unit_price FROM \"$RETAIL_SRC\".products WHERE product_id = '$updated'")
before_joined=$(retail_count "SELECT string_agg(DISTINCT unit_price::text, ',') FROM retail_sales_joined WHERE product_id = '$updated'")
e2e_check "[[ \$before_joined == \$(retail_count \"SELECT '$before'::float8::text\") ]]" \
  "before: the joined output has the source's price $before for $updated"
name=$(retail_count "SELECT product_name FROM \"$RETAIL_SRC\".products WHERE product_id = '$deleted'")
e2e_psql "UPDATE \"$RETAIL_SRC\".products SET unit_price = 999.99, updated_at = now() WHERE product_id = '$updated'" >/dev/null
e2e_psql "DELETE FROM \"$RETAIL_SRC\".products WHERE product_id = '$deleted'" >/dev/null
e2e_log "updated the price of $updated ($before -> 999.99), deleted $deleted ($name)"

state() {
  retail_count "SELECT (SELECT count(*) FROM retail_sales_joined WHERE product_id = '$updated' AND unit_price = 999.99 AND NOT product_deleted)
                || '/' || (SELECT count(*) FROM retail_sales_joined WHERE product_id = '$updated')
                || ' ' || (SELECT count(*) FROM retail_sales_joined WHERE product_id = '$deleted' AND product_deleted AND unit_price IS NULL
                                                                          AND product_name = \$\$$name\$\$)
                || '/' || (SELECT count(*) FROM retail_sales_joined WHERE product_id = '$deleted')"
}
for (( i = 0; i < 240; i++ )); do
  s=$(state)
  [[ $s =~ ^([0-9]+)/([0-9]+)\ ([0-9]+)/([0-9]+)$ ]] && (( BASH_REMATCH[1] == BASH_REMATCH[2] && BASH_REMATCH[3] == BASH_REMATCH[4] )) && break
  sleep 0.5
done
e2e_log "joined output: $s (lines of $updated with the new price / all, lines of $deleted marked deleted / all)"
[[ $s =~ ^([0-9]+)/([0-9]+)\ ([0-9]+)/([0-9]+)$ ]] || e2e_fail "unexpected state '$s'"
e2e_check "(( BASH_REMATCH[2] > 0 && BASH_REMATCH[1] == BASH_REMATCH[2] ))" \
  "the UPDATE reached the joined output: every order line of $updated shows 999.99"
e2e_check "(( BASH_REMATCH[4] > 0 && BASH_REMATCH[3] == BASH_REMATCH[4] ))" \
  "the DELETE reached the joined output: every order line of $deleted is product_deleted, with its last known name"
e2e_check "(( \$(retail_count 'SELECT count(*) FROM retail_sales_joined') == 9994 ))" "no order line lost by the delete"

change=$(retail_count "SELECT price_before || ' -> ' || price_after || ' ' || op FROM retail_product_price_changes WHERE product_id = '$updated'")
e2e_check "[[ \$change == \"\$(retail_count \"SELECT '$before'::float8::text\") -> 999.99 u\" ]]" \
  "the price-change view: $updated $change"
e2e_check "(( \$(retail_count 'SELECT count(*) FROM retail_product_price_changes') == 1 ))" "one price change in the history"
history=$(retail_count "SELECT string_agg(_op, '' ORDER BY _lsn) FROM retail_product_changes WHERE product_id IN ('$updated', '$deleted') GROUP BY product_id ORDER BY product_id")
e2e_check "[[ \$(tr '\n' ' ' <<<\"\$history\") == 'ru rd ' ]]" \
  "the change history keeps every version: $updated snapshot + update, $deleted snapshot + delete"
e2e_check "(( \$(retail_count 'SELECT count(*) FROM retail_product_changes') == 1862 + 2 ))" \
  "retail_product_changes: 1,862 snapshot rows + 2 changes"
dlq=$(retail_json "$(retail_dlq "$PROD_NAME")" 'd["total"]')
e2e_check "(( dlq == 0 ))" "nothing of the products in the DLQ"
