#!/usr/bin/env bash
# Offline validation of Dockerfile, docker-compose.yml and deploy/k8s/ (no Docker engine, no
# cluster, no schema downloads):
#   1. the Compose file model: `docker compose config -q`, else `docker-compose config -q`
#      (Debian's v1), when either is installed;
#   2. `kubectl kustomize` renders deploy/k8s (kubectl is optional; it works offline);
#   3. deploy_manifests.py: the structural checks against facts read from the sources
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

rendered=()
if command -v kubectl >/dev/null 2>&1; then
  echo "== kubectl kustomize deploy/k8s"
  kubectl kustomize --load-restrictor LoadRestrictionsNone deploy/k8s >"$tmp/k8s.yaml"
  rendered=("$tmp/k8s.yaml")
else
  echo "== no kubectl: kustomize rendering not checked"
fi

echo "== deploy_manifests.py"
python3 "$here/deploy_manifests.py" "$src" "${rendered[@]}"

# The checks must be able to fail: each mutation below, applied to a copy of the files, must
# make deploy_manifests.py report a problem.
echo "== mutations (each must be rejected)"
copy="$tmp/src"
mutate() {  # mutate <file> <sed expression> <description>
  rm -rf "$copy"
  mkdir -p "$copy/common" "$copy/deploy/local/lib" "$copy/tests"
  cp -r services pipelines deploy/k8s Dockerfile docker-compose.yml "$copy/"
  mkdir -p "$copy/deploy" && mv "$copy/k8s" "$copy/deploy/k8s"
  cp -r common/src "$copy/common/src"
  cp deploy/local/lib/install.sh "$copy/deploy/local/lib/"
  sed -i -e "$2" "$copy/$1"
  if cmp -s "$1" "$copy/$1"; then echo "FAIL: mutation '$3' changed nothing"; exit 1; fi
  local out=()
  if command -v kubectl >/dev/null 2>&1; then
    if kubectl kustomize --load-restrictor LoadRestrictionsNone "$copy/deploy/k8s" >"$tmp/m.yaml" 2>/dev/null; then
      out=("$tmp/m.yaml")
    fi
  fi
  if python3 "$here/deploy_manifests.py" "$copy" "${out[@]}" >"$tmp/m.log" 2>&1; then
    echo "FAIL: mutation not detected: $3"; exit 1
  fi
  echo "rejected: $3 ($(head -1 "$tmp/m.log"))"
}
mutate deploy/k8s/cleaner.yaml 's#127.0.0.1:9102/readyz#127.0.0.1:9109/readyz#' "k8s readiness probe on the wrong port"
mutate deploy/k8s/pg-sink.yaml 's#/livez#/healthz#' "k8s liveness probe on the wrong path"
mutate docker-compose.yml 's#127.0.0.1:9104/readyz#127.0.0.1:9105/readyz#' "compose healthcheck on the wrong port"
mutate docker-compose.yml '/SLUICE_HTTP_PORT: "9102"/d' "compose daemon without SLUICE_HTTP_PORT (binds any free port)"
mutate deploy/k8s/enricher.yaml 's#value: "9103"#value: "9113"#' "k8s SLUICE_HTTP_PORT not the stage table's port"
mutate deploy/k8s/enricher.yaml '/matchLabels:/{n;s#name: enricher#name: enrich#}' "selector not matching the pod labels"
mutate deploy/k8s/producer.yaml 's#name: SLUICE_KAFKA_BROKERS#name: SLUICE_KAFKA_BROKER#' "env variable no daemon reads"
mutate docker-compose.yml '/SLUICE_REGISTRY_URL: http:\/\/registry/d' "daemons without SLUICE_REGISTRY_URL"
mutate deploy/k8s/kustomization.yaml 's#pipeline.yaml=../../pipelines/loans/pipeline.yaml#pipeline.yaml=../../pipelines/loans/sql/views.sql#' "pipeline ConfigMap not from pipelines/loans/pipeline.yaml"
mutate deploy/k8s/kustomization.yaml '/pipelines\/loans\/schemas\/loans.clean.v2.avsc/d' "pipeline ConfigMap without one of the folder's schemas"
mutate deploy/k8s/enricher.yaml 's#path: sql/views.sql#path: views.sql#' "a pipeline folder file mounted off its path"
mutate deploy/k8s/kustomization.yaml 's#newTag: latest#newTag: v2#' "k8s image tag differs from compose"
mutate Dockerfile 's#libpqxx-dev ##' "build stage missing a -dev package of install.sh"
mutate deploy/k8s/registry.yaml 's#targetPort: http#targetPort: web#' "Service targetPort naming no container port"
mutate docker-compose.yml 's#- loans-inbox:/opt/sluice/.stack/inbox/loans#- loans-inbox:/opt/sluice/tests/data/loans#' "compose producer without a volume at the pipeline's inbox"
mutate deploy/k8s/producer.yaml 's#mountPath: /opt/sluice/.stack/inbox/loans#mountPath: /opt/sluice/inbox#' "k8s producer without a volume at the pipeline's inbox"
mutate deploy/k8s/producer.yaml 's#^kind: StatefulSet#kind: Job#; s#^\(        fsGroup: 10001\)#\1\n      restartPolicy: OnFailure#' "k8s producer of a watched inbox as a Job"
echo "ok"
