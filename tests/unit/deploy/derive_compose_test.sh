#!/usr/bin/env bash
# deploy/docker/derive_compose.py (the container tier's host-network compose file):
#   1. derives a file from the real docker-compose.yml and checks it with --verify, plus the
#      facts the tier relies on (every endpoint on 127.0.0.1 at its mapped port, the health
#      ports, postgres on loopback, no ports:, build on the host network);
#   2. each seeded mistake in a copy of the derived file must make --verify fail.
# No Docker engine needed: PyYAML only.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${SLUICE_SOURCE_DIR:-$(cd "$here/../../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$src"
python3 -c 'import yaml' 2>/dev/null || { echo "FAIL: python3 yaml module missing (Debian python3-yaml)"; exit 1; }
derive=deploy/docker/derive_compose.py

echo "== derive from docker-compose.yml"
python3 "$derive" docker-compose.yml --port-base 41000 --out "$tmp/derived.yml" --ports-json "$tmp/ports.json"
python3 "$derive" --verify docker-compose.yml "$tmp/derived.yml"

echo "== facts the container tier relies on"
python3 - "$tmp/derived.yml" "$tmp/ports.json" docker-compose.yml <<'PY'
import json, re, sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
ports = {int(k): v for k, v in json.load(open(sys.argv[2])).items()}
orig = yaml.safe_load(open(sys.argv[3]))
problems = []
def need(cond, what):
    if not cond:
        problems.append(what)
svcs = d["services"]
need(set(svcs) == set(orig["services"]), "same services")
need(sorted(ports.values()) == list(range(41000, 41000 + len(ports))), f"ports are 41000.. in order: {ports}")
for p in (5432, 9092, 9093, 18081):
    need(p in ports, f"port {p} is mapped")
for name, s in svcs.items():
    need(s.get("network_mode") == "host", f"{name}: network_mode host")
    need("ports" not in s, f"{name}: no ports:")
    if "build" in s:
        need(s["build"].get("network") == "host", f"{name}: build.network host")
    o = orig["services"][name]
    need(s.get("image") == o.get("image"), f"{name}: image unchanged")
    need(s.get("volumes") == o.get("volumes"), f"{name}: volumes unchanged")
    need(s.get("depends_on") == o.get("depends_on"), f"{name}: depends_on unchanged")
    need(s.get("restart") == o.get("restart"), f"{name}: restart unchanged")
    env = s.get("environment") or {}
    oenv = o.get("environment") or {}
    for k, v in env.items():
        v = str(v)
        for host in list(orig["services"]) + ["localhost", "0.0.0.0"]:
            need(not re.search(rf"(^|[/@,]){re.escape(host)}:\d", v), f"{name}: {k}={v} still names {host}")
    if "SLUICE_KAFKA_BROKERS" in env:
        need(env["SLUICE_KAFKA_BROKERS"] == f"127.0.0.1:{ports[9092]}", f"{name}: brokers {env['SLUICE_KAFKA_BROKERS']}")
    if "SLUICE_REGISTRY_URL" in env:
        need(env["SLUICE_REGISTRY_URL"] == f"http://127.0.0.1:{ports[18081]}", f"{name}: registry {env['SLUICE_REGISTRY_URL']}")
    if "SLUICE_PG_URL" in env:
        need(f"@127.0.0.1:{ports[5432]}/" in env["SLUICE_PG_URL"], f"{name}: pg url {env['SLUICE_PG_URL']}")
    if "SLUICE_HTTP_PORT" in env:
        hp = int(oenv["SLUICE_HTTP_PORT"])
        need(env["SLUICE_HTTP_PORT"] == str(ports[hp]), f"{name}: health port {env['SLUICE_HTTP_PORT']}")
        need(f"http://127.0.0.1:{ports[hp]}/readyz" in s["healthcheck"]["test"], f"{name}: healthcheck on {ports[hp]}")
k = svcs["kafka"]["environment"]
need(k["KAFKA_LISTENERS"] == f"PLAINTEXT://127.0.0.1:{ports[9092]},CONTROLLER://127.0.0.1:{ports[9093]}", f"kafka listeners {k['KAFKA_LISTENERS']}")
need(k["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://127.0.0.1:{ports[9092]}", "kafka advertised listener")
need(k["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"1@127.0.0.1:{ports[9093]}", "kafka voters")
pg = svcs["postgres"]
need(str(pg["environment"]["PGPORT"]) == str(ports[5432]), "postgres PGPORT")
need("listen_addresses=127.0.0.1" in pg["command"], f"postgres listens on loopback only: {pg.get('command')}")
reg = svcs["registry"]["command"]
need(reg[reg.index("--bind") + 1] == "127.0.0.1" and reg[reg.index("--port") + 1] == str(ports[18081]), f"registry command {reg}")
for p in problems:
    print("FAIL:", p)
print(f"checked {len(svcs)} services, {len(ports)} ports")
sys.exit(1 if problems else 0)
PY

echo "== seeded mistakes must fail --verify"
# Each mutation: a Python expression on the loaded derived file `d` (services in `s`).
mutations=(
  "ports left on postgres|s['postgres']['ports'] = ['5432:5432']"
  "network_mode missing on the cleaner|del s['cleaner']['network_mode']"
  "bridge network on the producer|s['producer']['network_mode'] = 'bridge'"
  "broker endpoint not rewritten|s['producer']['environment']['SLUICE_KAFKA_BROKERS'] = 'kafka:9092'"
  "registry URL on a service name|s['cleaner']['environment']['SLUICE_REGISTRY_URL'] = 'http://registry:' + s['cleaner']['environment']['SLUICE_REGISTRY_URL'].rsplit(':', 1)[1]"
  "healthcheck left on the original port|s['enricher']['healthcheck']['test'][-1] = 'http://127.0.0.1:9103/readyz'"
  "health port and healthcheck disagree|s['pg-sink']['environment']['SLUICE_HTTP_PORT'] = '40999'"
  "two services on one port map|s['cleaner']['environment']['SLUICE_KAFKA_BROKERS'] = '127.0.0.1:40998'"
  "image changed|s['kafka']['image'] = 'bitnami/kafka:4.1'"
  "volume dropped|s['producer']['volumes'] = []"
  "depends_on changed|s['pg-sink']['depends_on'].pop('postgres')"
  "restart policy changed|s['cleaner']['restart'] = 'no'"
  "healthcheck timing changed|s['kafka']['healthcheck']['retries'] = 1"
  "extra environment variable|s['cleaner']['environment']['SLUICE_EXTRA'] = 'x'"
  "registry binds every address|c = s['registry']['command']; c[c.index('--bind') + 1] = '0.0.0.0'"
  "postgres on every address|s['postgres']['command'] = ['postgres']"
  "kafka listener on a service name|s['kafka']['environment']['KAFKA_ADVERTISED_LISTENERS'] = 'PLAINTEXT://kafka:9092'"
  "build without host network|s['cleaner']['build'].pop('network')"
  "a service dropped|del s['inbox-seed']"
  "top-level volumes changed|d['volumes'].pop(next(iter(d['volumes'])))"
)
missed=0
for m in "${mutations[@]}"; do
  what=${m%%|*} code=${m#*|}
  python3 - "$tmp/derived.yml" "$tmp/mutated.yml" "$code" <<'PY'
import sys, yaml
d = yaml.safe_load(open(sys.argv[1])); s = d["services"]
exec(sys.argv[3])
yaml.safe_dump(d, open(sys.argv[2], "w"), sort_keys=False)
PY
  if python3 "$derive" --verify docker-compose.yml "$tmp/mutated.yml" >"$tmp/out" 2>&1; then
    echo "FAIL: not caught: $what"; missed=1
  else
    echo "ok: caught: $what ($(head -n1 "$tmp/out"))"
  fi
done
(( missed == 0 )) || { echo "FAIL: a seeded mistake went unnoticed"; exit 1; }
echo "PASS: derivation verified; ${#mutations[@]} seeded mistakes caught"
