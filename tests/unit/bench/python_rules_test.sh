#!/usr/bin/env bash
# The plain Python pipeline of bench/ applies the same rules as Sluice: on the seeded bad-mix
# loans file, bench/python/check_rules.py must reject the rows the sidecar names, by the same
# rule with the same reason, and load the rest (no Kafka, no database; a few seconds).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${SLUICE_SOURCE_DIR:-$(cd "$here/../../.." && pwd)}
python3 -c 'import yaml' 2>/dev/null || { echo "FAIL: python3 yaml module missing (Debian python3-yaml)"; exit 1; }
for seed in 7 11; do
  python3 "$src/bench/python/check_rules.py" --seed "$seed"
done
