#!/usr/bin/env bash
# Every pipelines/<p>/ follows the folder layout of pipelines/README.md (pipeline_folders.py),
# and the check can fail: each mutation below, applied to a copy, must be reported.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 "$here/pipeline_folders.py" "$src"

echo "== mutations (each must be rejected)"
mutate() {  # mutate <description> <shell command run in the copy>
  rm -rf "$tmp/src"
  mkdir -p "$tmp/src"
  cp -r "$src/pipelines" "$tmp/src/"
  (cd "$tmp/src" && eval "$2")
  if python3 "$here/pipeline_folders.py" "$tmp/src" >"$tmp/m.log" 2>&1; then
    echo "FAIL: mutation not detected: $1"; exit 1
  fi
  echo "rejected: $1 ($(head -1 "$tmp/m.log"))"
}
mutate "a sample changed after its sha256 was written" \
  'echo "16100,term_36" >>pipelines/loans/sample/lending_club_sample.csv'
mutate "a sample file PROVENANCE.md does not name" 'cp pipelines/loans/sample/lending_club_sample.csv pipelines/loans/sample/more.csv'
mutate "no enricher case file" 'rm pipelines/loans/cases/enricher_*.yaml'
mutate "a schema outside the folder" 'sed -i "s#  raw: schemas/#  raw: ../../schemas/#" pipelines/loans/pipeline.yaml'
mutate "a folder without pipeline.yaml that does not say so" \
  'mkdir pipelines/planned && echo "# planned: data only" >pipelines/planned/README.md'
mutate "a pipeline file at the old place" 'mkdir -p docs && echo "see pipelines/loans.yaml" >docs/x.md'
echo "ok"
