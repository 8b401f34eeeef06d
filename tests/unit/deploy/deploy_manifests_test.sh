#!/usr/bin/env bash
# Offline validation of Dockerfile and docker-compose.yml (no Docker engine); deploy/k8s/ has
# its own test with real tools, k8s_manifests_test.sh:
#   1. the Compose file model: `docker compose config -q`, else `docker-compose config -q`
#      (Debian's v1), when either is installed;
#   2. deploy_manifests.py: the structural checks against facts read from the sources
#      (always runs, so this test never passes on tools being absent).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${SLUICE_SOURCE_DIR:-$(cd "$here/../../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$src"

python3 -c 'import yaml' 2>/dev/null || { echo "FAIL: python3 yaml module missing (Debian python3-yaml)"; exit 1; }

if docker compose version >/dev/null 2>&1; then
  echo "== docker compose config -q"
  docker compose -f docker-compose.yml config -q
elif command -v docker-compose >/dev/null 2>&1; then
  echo "== docker-compose config -q ($(docker-compose version --short 2>/dev/null))"
  docker-compose -f docker-compose.yml config -q
else
  echo "== no Compose implementation installed: the Compose file model is not checked"
fi

echo "== deploy_manifests.py"
python3 "$here/deploy_manifests.py" "$src"

# The checks must be able to fail: each mutation below, applied to a copy of the files, must
# make deploy_manifests.py report a problem.
echo "== mutations (each must be rejected)"
copy="$tmp/src"
mutate() {  # mutate <file> <sed expression> <description>
  rm -rf "$copy"
  mkdir -p "$copy/common" "$copy/deploy/local/lib" "$copy/tests"
  cp -r services pipelines Dockerfile docker-compose.yml "$copy/"
  cp -r common/src "$copy/common/src"
  cp deploy/local/lib/install.sh "$copy/deploy/local/lib/"
  sed -i -e "$2" "$copy/$1"
  if cmp -s "$1" "$copy/$1"; then echo "FAIL: mutation '$3' changed nothing"; exit 1; fi
  if python3 "$here/deploy_manifests.py" "$copy" >"$tmp/m.log" 2>&1; then
    echo "FAIL: mutation not detected: $3"; exit 1
  fi
  echo "rejected: $3 ($(head -1 "$tmp/m.log"))"
}
mutate docker-compose.yml 's#127.0.0.1:9104/readyz#127.0.0.1:9105/readyz#' "compose healthcheck on the wrong port"
mutate docker-compose.yml '/SLUICE_HTTP_PORT: "9102"/d' "compose daemon without SLUICE_HTTP_PORT (binds any free port)"
mutate docker-compose.yml '/SLUICE_REGISTRY_URL: http:\/\/registry/d' "daemons without SLUICE_REGISTRY_URL"
mutate Dockerfile 's#libpqxx-dev ##' "build stage missing a -dev package of install.sh"
mutate docker-compose.yml 's#- loans-inbox:/opt/sluice/.stack/inbox/loans#- loans-inbox:/opt/sluice/tests/data/loans#' "compose producer without a volume at the pipeline's inbox"
echo "ok"
