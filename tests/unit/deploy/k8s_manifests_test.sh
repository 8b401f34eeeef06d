#!/usr/bin/env bash
# The Kubernetes manifests, with real tools (deploy/README.md, "Validation"):
#   1. deploy/k8s/check: pinned kustomize builds every overlay, the old deploy/k8s path and
#      each pipeline's replay Job; k8s-validate accepts each render; the committed pipeline
#      components are what render_components.py makes of pipelines/<p>/ today.
#   2. Every deploy/k8s/ or .cache/k8s-tools/ command of deploy/README.md's Kubernetes section
#      runs ("| kubectl apply -f -" dropped: there is no cluster).
#   3. The other direction: each seeded mutation below must make a check fail, and fail with
#      the expected message (so it fails for the right reason).
# Needs go (>= 1.26) and python3-yaml; the first run downloads the Go modules from the proxy.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${SLUICE_SOURCE_DIR:-$(cd "$here/../../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export SLUICE_K8S_TOOLS=${SLUICE_K8S_TOOLS:-$src/.cache/k8s-tools}
export SLUICE_K8S_RENDERED=$tmp/rendered
python3 -c 'import yaml' 2>/dev/null || { echo "FAIL: python3 yaml module missing (Debian python3-yaml)"; exit 1; }

"$src/deploy/k8s/check"
validate=$SLUICE_K8S_TOOLS/k8s-validate
kustomize=$SLUICE_K8S_TOOLS/kustomize
dev=$SLUICE_K8S_RENDERED/dev.yaml
keda=$SLUICE_K8S_RENDERED/keda.yaml

echo "== the commands of deploy/README.md's Kubernetes section (kubectl apply replaced: no cluster)"
python3 - "$src/deploy/README.md" >"$tmp/readme.sh" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
section = text[text.index("## Kubernetes (`deploy/k8s/`)"):]
section = section[:section.index("\n## ", 1)]
for block in re.findall(r"```\n(.*?)```", section, re.S):
    for line in block.splitlines():
        if line.startswith(("deploy/k8s/", ".cache/k8s-tools/")) and not line.rstrip().endswith("/"):
            print(line.replace("| kubectl apply -f -", ">/dev/null"))
EOF
[[ -s $tmp/readme.sh ]] || { echo "FAIL: no commands found in deploy/README.md"; exit 1; }
sed 's/^/  $ /' "$tmp/readme.sh"
(cd "$src" && env -u SLUICE_K8S_TOOLS -u SLUICE_K8S_RENDERED bash -euo pipefail "$tmp/readme.sh" >"$tmp/readme.log" 2>&1) ||
  { cat "$tmp/readme.log"; echo "FAIL: a command of deploy/README.md failed"; exit 1; }

echo "== mutations of the rendered manifests (each must be rejected)"
failures=0
n=0
# reject <description> <expected message (grep -E)> <input yaml> <validator flags...> -- <python statement on docs>
# The python statement edits `docs` (the YAML documents, as dicts) or `text` (the raw text)
# with helpers find(kind, name) and container(doc).
reject() {
  local what=$1 expect=$2 input=$3
  shift 3
  local flags=()
  while [[ $1 != -- ]]; do flags+=("$1"); shift; done
  local code=$2
  n=$((n + 1))
  python3 - "$input" "$tmp/m.yaml" "$code" <<'EOF'
import copy, sys, yaml
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when there: 4x faster
Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
src, dst, code = sys.argv[1:4]
text = open(src).read()
docs = [d for d in yaml.load_all(text, Loader=Loader) if d]
def find(kind, name=None):
    for d in docs:
        if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name):
            return d
    raise SystemExit(f"mutation: no {kind}/{name}")
def container(d, i=0):
    return d["spec"]["template"]["spec"]["containers"][i]
before_text, before_docs = text, copy.deepcopy(docs)
exec(code)
if docs != before_docs:
    text = yaml.dump_all(docs, Dumper=Dumper, sort_keys=False)
elif text == before_text:
    raise SystemExit("mutation changed nothing")
open(dst, "w").write(text)
EOF
  if "$validate" "${flags[@]}" "$tmp/m.yaml" >"$tmp/m.log" 2>&1; then
    echo "FAIL: not rejected: $what"; failures=$((failures + 1)); return
  fi
  if ! grep -Eq -- "$expect" "$tmp/m.log"; then
    echo "FAIL: $what: rejected, but not with /$expect/:"; sed 's/^/    /' "$tmp/m.log"
    failures=$((failures + 1)); return
  fi
  echo "rejected: $what -- $(grep -E -m1 -- "$expect" "$tmp/m.log" | sed 's#^.*/rendered/##; s#^[^ ]*m.yaml ##')"
}

reject "unknown field (imagePullPolicyy)" 'unknown field.*imagePullPolicyy' "$dev" -- \
  'c = container(find("StatefulSet", "loans-cleaner")); c["imagePullPolicyy"] = c.pop("imagePullPolicy")'
reject "wrong type: replicas: \"two\"" 'cannot unmarshal string.*int32' "$dev" -- \
  'find("StatefulSet", "loans-cleaner")["spec"]["replicas"] = "two"'
reject "wrong type: containerPort is a list" 'cannot unmarshal array' "$dev" -- \
  'container(find("StatefulSet", "loans-enricher"))["ports"][0]["containerPort"] = [9103]'
reject "field in the wrong case (ContainerPort)" 'unknown field.*ContainerPort' "$dev" -- \
  'p = container(find("StatefulSet", "loans-pg-sink"))["ports"][0]; p["ContainerPort"] = p.pop("containerPort")'
reject "duplicate key" 'already set|duplicate' "$dev" -- \
  'text = text.replace("  serviceName: loans-cleaner\n", "  serviceName: loans-cleaner\n  serviceName: loans-cleaner\n", 1)'
reject "misspelled kind (StatefullSet)" 'unknown kind StatefullSet' "$dev" -- \
  'find("StatefulSet", "loans-cleaner")["kind"] = "StatefullSet"'
reject "unknown apiVersion (apps/v2)" 'unknown kind StatefulSet' "$dev" -- \
  'find("StatefulSet", "loans-cleaner")["apiVersion"] = "apps/v2"'
reject "unknown CRD kind (ServiceMonitor) not allow-listed" 'unknown kind ServiceMonitor.*-allow-kind' "$dev" -- \
  'docs.append({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "x", "namespace": "sluice"}, "spec": {}})'
reject "container without image" 'image is required' "$dev" -- \
  'del container(find("StatefulSet", "loans-producer"))["image"]'
reject "object without metadata.name" 'metadata.name is required' "$dev" -- \
  'del find("Service", "loans-cleaner")["metadata"]["name"]'
reject "selector not matching the pod labels" 'does not match the pod template' "$dev" -- \
  'find("StatefulSet", "loans-enricher")["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"] = "loans-enrich"'
reject "StatefulSet serviceName without a Service" 'serviceName .* is no Service' "$dev" -- \
  'find("StatefulSet", "loans-enricher")["spec"]["serviceName"] = "enricher"'
reject "readiness probe on a port the container lacks" 'readinessProbe port htp' "$dev" -- \
  'container(find("StatefulSet", "loans-cleaner"))["readinessProbe"]["httpGet"]["port"] = "htp"'
reject "no liveness probe" 'no livenessProbe' "$dev" -- \
  'del container(find("StatefulSet", "loans-pg-sink"))["livenessProbe"]'
reject "Service targetPort naming no container port" 'targetPort web is no container port' "$dev" -- \
  'find("Service", "registry")["spec"]["ports"][0]["targetPort"] = "web"'
reject "Service selecting no pods" 'matches no workload' "$dev" -- \
  'find("Service", "postgres")["spec"]["selector"] = {"app.kubernetes.io/name": "postgresql"}'
reject "PodDisruptionBudget selecting no pods" 'selector matches no workload' "$dev" -- \
  'find("PodDisruptionBudget", "loans-cleaner")["spec"]["selector"]["matchLabels"] = {"app.kubernetes.io/instance": "cleaner"}'
reject "no resource limits" 'resources.limits.cpu is required' "$dev" -- \
  'del container(find("StatefulSet", "loans-cleaner"))["resources"]["limits"]'
reject "request above its limit" 'request memory .* above its limit' "$dev" -- \
  'container(find("StatefulSet", "loans-cleaner"))["resources"]["requests"]["memory"] = "4Gi"'
reject "secretKeyRef to a key the Secret lacks" 'no key passwd in Secret' "$dev" -- \
  'e = [e for e in container(find("StatefulSet", "loans-pg-sink"))["env"] if e["name"] == "PGPASSWORD"][0]; e["valueFrom"]["secretKeyRef"]["key"] = "passwd"'
reject "credentials without their Secret" 'no Secret postgres' "$SLUICE_K8S_RENDERED/prod.yaml" -- \
  'pass; text = text + "\n"'
reject "ConfigMap volume item with a key the ConfigMap lacks" 'no key .* in ConfigMap' "$dev" -- \
  'find("StatefulSet", "loans-cleaner")["spec"]["template"]["spec"]["volumes"][0]["configMap"]["items"][0]["key"] = "pipeline.yml"'
reject "volumeMount without a volume" 'volumeMount inbox has no volume' "$dev" -- \
  'del find("StatefulSet", "loans-producer")["spec"]["volumeClaimTemplates"]'
reject "Sluice container with a writable root filesystem" 'readOnlyRootFilesystem' "$dev" -- \
  'container(find("StatefulSet", "loans-enricher"))["securityContext"]["readOnlyRootFilesystem"] = False'
reject "pod that may run as root" 'runAsNonRoot' "$dev" -- \
  'del find("Deployment", "registry")["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]'
reject "privilege escalation allowed" 'allowPrivilegeEscalation' "$dev" -- \
  'del container(find("StatefulSet", "kafka"))["securityContext"]["allowPrivilegeEscalation"]'
reject "a container adding a capability (PodSecurity restricted)" 'violates PodSecurity "restricted:latest": .*NET_RAW' "$dev" -- \
  'container(find("StatefulSet", "loans-cleaner"))["securityContext"]["capabilities"]["add"] = ["NET_RAW"]'
reject "a pod on the host network (PodSecurity restricted)" 'violates PodSecurity .*host namespaces' "$dev" -- \
  'find("StatefulSet", "postgres")["spec"]["template"]["spec"]["hostNetwork"] = True'
reject "no default-deny NetworkPolicy" 'no default-deny NetworkPolicy' "$dev" -- \
  'docs.remove(find("NetworkPolicy", "default-deny"))'
reject "prometheus.io/port not a container port" 'prometheus.io/port "9999"' "$dev" -- \
  'find("StatefulSet", "loans-cleaner")["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] = "9999"'
reject "object outside the namespace" 'no metadata.namespace' "$dev" -- \
  'del find("ConfigMap")["metadata"]["namespace"]'
reject "ScaledObject with an unknown field" 'unknown field.*maxReplicas' "$keda" -external-secret postgres -- \
  's = find("ScaledObject", "loans-cleaner")["spec"]; s["maxReplicas"] = s.pop("maxReplicaCount")'
reject "ScaledObject Kafka trigger without consumerGroup" 'consumerGroup is required' "$keda" -external-secret postgres -- \
  'del find("ScaledObject", "loans-enricher")["spec"]["triggers"][0]["metadata"]["consumerGroup"]'
reject "ScaledObject Kafka trigger with an unknown key" 'unknown kafka scaler metadata key "lagTreshold"' "$keda" -external-secret postgres -- \
  'm = find("ScaledObject", "loans-enricher")["spec"]["triggers"][0]["metadata"]; m["lagTreshold"] = m.pop("lagThreshold")'
reject "ScaledObject targeting no workload" 'scaleTargetRef StatefulSet/loans-sink is no workload' "$keda" -external-secret postgres -- \
  'find("ScaledObject", "loans-pg-sink")["spec"]["scaleTargetRef"]["name"] = "loans-sink"'
reject "ScaledObject minReplicaCount: \"1\" (wrong type)" 'cannot unmarshal string' "$keda" -external-secret postgres -- \
  'find("ScaledObject", "loans-cleaner")["spec"]["minReplicaCount"] = "1"'

echo "== the allow-list lets a known CRD through"
python3 - "$dev" "$tmp/crd.yaml" <<'EOF'
import sys
open(sys.argv[2], "w").write(open(sys.argv[1]).read() + "---\napiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: x\n  namespace: sluice\nspec: {}\n")
EOF
"$validate" -allow-kind monitoring.coreos.com/v1/ServiceMonitor "$tmp/crd.yaml" ||
  { echo "FAIL: -allow-kind did not accept the ServiceMonitor"; failures=$((failures + 1)); }

echo "== mutations of the sources (each must be rejected)"
# A copy of what render_components.py reads, so the sources stay untouched.
copy() {
  rm -rf "$tmp/src" && mkdir -p "$tmp/src/common" "$tmp/src/deploy"
  cp -r "$src/pipelines" "$src/services" "$tmp/src/"
  cp -r "$src/common/src" "$tmp/src/common/"
  cp -r "$src/deploy/k8s" "$tmp/src/deploy/"
}
reject_src() {  # <description> <expected message> <command run in the copy>
  n=$((n + 1))
  copy
  if (cd "$tmp/src" && eval "$3") >"$tmp/m.log" 2>&1; then
    echo "FAIL: not rejected: $1"; failures=$((failures + 1)); return
  fi
  if ! grep -Eq -- "$2" "$tmp/m.log"; then
    echo "FAIL: $1: rejected, but not with /$2/:"; sed 's/^/    /' "$tmp/m.log"; failures=$((failures + 1)); return
  fi
  echo "rejected: $1 -- $(grep -E -m1 -- "$2" "$tmp/m.log")"
}
reject_src "hand edit of a generated component" 'out of date' \
  'sed -i "s/periodSeconds: 10/periodSeconds: 11/" deploy/k8s/components/loans/cleaner.yaml && python3 deploy/k8s/render_components.py --check'
reject_src "new schema in the pipeline folder, component not re-rendered" 'out of date' \
  'cp pipelines/loans/schemas/loans.raw.v1.avsc pipelines/loans/schemas/loans.raw.v2.avsc && python3 deploy/k8s/render_components.py --check'
reject_src "health port changed in the stage table, component not re-rendered" 'out of date' \
  'sed -i "s/\"cleaner\", 9102/\"cleaner\", 9112/" common/src/config/stage_identity.cpp && python3 deploy/k8s/render_components.py --check'
reject_src "new pipeline folder, component not rendered" 'missing: deploy/k8s/components/loans2/' \
  'cp -r pipelines/loans pipelines/loans2 && sed -i "s/^pipeline: loans$/pipeline: loans2/" pipelines/loans2/pipeline.yaml && python3 deploy/k8s/render_components.py --check'
reject_src "pipeline rendered but in no overlay" 'overlays/dev does not include ../../components/loans2' \
  'cp -r pipelines/loans pipelines/loans2 && sed -i "s/^pipeline: loans$/pipeline: loans2/" pipelines/loans2/pipeline.yaml && python3 deploy/k8s/render_components.py >/dev/null && mkdir -p tools && cp -r '"$src"'/tools/k8s-validate tools/ && deploy/k8s/check'
reject_src "schema file deleted under the component (kustomize build fails)" 'no such file|does not exist|must resolve' \
  'rm pipelines/loans/schemas/loans.clean.v2.avsc && '"$kustomize"' build --load-restrictor LoadRestrictionsNone deploy/k8s/overlays/dev'
reject_src "an environment variable the code no longer reads" 'SLUICE_HTTP_BIND, which is read by no daemon' \
  'sed -i "s/envname(\"SLUICE_HTTP_BIND\")/envname(\"SLUICE_HTTP_ADDRESS\")/" common/src/runtime/daemon.cpp && python3 deploy/k8s/render_components.py --check'
reject_src "a producer source type whose network needs are unknown" "source type 'ftp': its network needs" \
  'sed -i "s/    - type: csv/    - type: ftp/" pipelines/loans/pipeline.yaml && python3 deploy/k8s/render_components.py --check'
reject_src "pipeline.yaml naming another pipeline than its folder" 'not the folder name' \
  'sed -i "s/^pipeline: loans$/pipeline: lons/" pipelines/loans/pipeline.yaml && python3 deploy/k8s/render_components.py --check'

echo "== another pipeline folder renders and validates (no enricher, an HTTP source)"
copy
(
  cd "$tmp/src"
  cp -r pipelines/loans pipelines/demo2
  python3 - <<'PY'
import yaml
path = "pipelines/demo2/pipeline.yaml"
doc = yaml.safe_load(open(path))
doc["pipeline"] = "demo2"
doc["topics"] = {k: (v.replace("loans.", "demo2.") if isinstance(v, str) else v) for k, v in doc["topics"].items()}
del doc["enricher"]
doc["producer"]["sources"].append({"type": "http", "name": "api", "url": "https://api.example.org:8443/items"})
yaml.safe_dump(doc, open(path, "w"), sort_keys=False)
PY
  python3 deploy/k8s/render_components.py
  sed -i "s#^  - ../../components/loans\$#&\n  - ../../components/demo2#" deploy/k8s/overlays/dev/kustomization.yaml
  "$kustomize" build --load-restrictor LoadRestrictionsNone deploy/k8s/overlays/dev >"$tmp/demo2.yaml"
  "$validate" "$tmp/demo2.yaml"
  python3 - "$tmp/demo2.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
names = {(d["kind"], d["metadata"]["name"]) for d in docs}
want = {("StatefulSet", "demo2-producer"), ("StatefulSet", "demo2-cleaner"), ("StatefulSet", "demo2-pg-sink"),
        ("NetworkPolicy", "demo2-producer-sources")}
assert want <= names, f"missing {want - names}"
assert ("StatefulSet", "demo2-enricher") not in names, "a stage the pipeline does not run"
print("ok: demo2 renders producer, cleaner, pg-sink and its egress policy; no enricher")
PY
) || { echo "FAIL: a second pipeline folder did not render and validate"; failures=$((failures + 1)); }

if ((failures > 0)); then
  echo "FAILED: $failures of $n mutations"
  exit 1
fi
echo "ok: all overlays valid; $n mutations rejected"
