# Helpers for the e2e tier (tests/e2e/<group>/*_test.sh), sourced by each test. Every test
# runs its OWN pipeline instance on the shared local stack: a private copy of the pipeline file
# (unique pipeline name, so unique topics, consumer groups, transactional ids and table; each
# daemon picks a free health port) and its own schema registry (own port, own schemas topic), started and
# stopped through deploy/local/pipeline. Tests can therefore run in parallel with each other
# and with the other tiers. Nothing here skips: a missing stack or binary is a failure.
#
#   e2e_init <short name>          checks env + binaries, picks the registry port, sets the EXIT trap
#   e2e_pipeline [copy options]    writes $E2E_PIPELINE (see deploy/local/lib/pipeline_copy.py)
#   e2e_pipeline_copy <name> <out> <inbox> [copy options]   a further copy under another name
#   e2e_copy_pipeline <p> <name> <out> [key.path=value...]  a copy of pipelines/<p> of any source
#                                  type, renamed after <name>, with options set by dotted path
#   e2e_up [--only d1,d2]          loads the states reference table, brings the pipeline up
#   e2e_feed <csv> [name]          drops a file into the watched inbox (atomically)
#   e2e_wait <expected> [timeout]  waits for table rows + DLQ records = expected, settled
#   e2e_rows, e2e_dlq_json, e2e_psql <sql>, e2e_check <cond> <message>
#   e2e_kafka_tool <class> [args]  a Kafka CLI class of the version the stack runs
#   e2e_on_teardown <command>      more clean-up, run with the rest after the pipeline is down
#   e2e_api_start <script> <URL var> [options]   a local API (tools/local_api) on a free port
#   e2e_kill_at <daemon> <fraction> <total>      SIGKILL a daemon once it is that far, restart it

E2E_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SLUICE_ROOT="$(cd "$E2E_LIB_DIR/../../.." && pwd)"
E2E_PIPE="$SLUICE_ROOT/deploy/local/pipeline"
E2E_TOOL="$SLUICE_ROOT/deploy/local/lib/pipeline_tool.py"
E2E_DATA="$SLUICE_ROOT/tests/data/loans"
source "$SLUICE_ROOT/deploy/local/lib/common.sh"
source "$SLUICE_ROOT/deploy/local/lib/kafka.sh"

E2E_FAILED=0
E2E_UP=0
E2E_CLEANUPS=()
E2E_MORE_PIPELINES=()  # further pipelines a test brought up (e2e_up_more): down at teardown

e2e_log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }
e2e_fail() {
  printf '[%s] FAIL: %s\n' "$(date +%T)" "$*" >&2
  E2E_FAILED=1
  exit 1
}
# e2e_check <test expression as a string> <message>: fails the test when false.
e2e_check() {
  if eval "$1"; then
    e2e_log "ok: $2"
  else
    e2e_fail "$2 (check: $1)"
  fi
}

e2e_require_env() {
  local v
  for v in SLUICE_KAFKA_BROKERS PGHOST PGPORT PGUSER PGDATABASE; do
    [[ -n ${!v:-} ]] || e2e_fail "$v is unset: start the local stack and load its environment \
(deploy/local/stack up && eval \"\$(deploy/local/stack env)\"); scripts/test does both"
  done
  psql -X -q -tAc 'select 1' >/dev/null 2>&1 || e2e_fail "PostgreSQL at $PGHOST:$PGPORT does not answer"
  kcat -L -b "$SLUICE_KAFKA_BROKERS" -m 10 >/dev/null 2>&1 || e2e_fail "Kafka at $SLUICE_KAFKA_BROKERS does not answer"
}

# The daemons come from SLUICE_BIN_DIR, else <ctest build dir>/bin (SLUICE_BINARY_DIR is set
# for shell tests by tests/CMakeLists.txt), else build/bin.
e2e_require_binaries() {
  local dir=${SLUICE_BIN_DIR:-${SLUICE_BINARY_DIR:+$SLUICE_BINARY_DIR/bin}}
  dir=${dir:-$SLUICE_ROOT/build/bin}
  local b table missing=()
  table=$(stack_stage_table "$dir") || e2e_fail "no daemon binary in $dir (build them first)"
  for b in $(awk -F'\t' 'NR > 1 { print $3 }' <<<"$table"); do
    [[ -x $dir/$b ]] || missing+=("$b")
  done
  (( ${#missing[@]} == 0 )) || e2e_fail "daemon binaries missing in $dir: ${missing[*]} (build them first)"
  export SLUICE_BIN_DIR=$dir
}

# Prints N free loopback TCP ports (the kernel picks them; distinct within one call).
e2e_free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

e2e_init() {
  local short=$1
  e2e_require_env
  e2e_require_binaries
  E2E_ID="e2e_${short}_$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
  E2E_TMP=$(mktemp -d "/tmp/sluice-$E2E_ID.XXXX")
  E2E_INBOX="$E2E_TMP/inbox"
  mkdir -p "$E2E_INBOX"
  # A registry of our own: own port and own schemas topic, so subjects and compatibility
  # settings of other runs cannot interfere.
  export SLUICE_REGISTRY_URL="http://127.0.0.1:$(e2e_free_ports 1)"
  export SLUICE_REGISTRY_TOPIC="_schemas_$E2E_ID"
  E2E_TABLE=$E2E_ID
  E2E_DLQ="$E2E_ID.dlq"
  E2E_PIPELINE="$E2E_TMP/pipeline.yaml"
  E2E_PDIR="$STACK_DIR/pipelines/$E2E_ID"
  trap e2e_teardown EXIT
  e2e_log "test instance $E2E_ID (tmp $E2E_TMP, binaries $SLUICE_BIN_DIR, registry $SLUICE_REGISTRY_URL)"
}

# e2e_pipeline [pipeline_copy.py options]: the private copy of pipelines/loans/pipeline.yaml.
e2e_pipeline() { e2e_pipeline_copy "$E2E_ID" "$E2E_PIPELINE" "$E2E_INBOX" "$@"; }

# e2e_pipeline_copy <name> <out file> <inbox> [options]: another copy, for a test that runs
# more than one pipeline.
e2e_pipeline_copy() {
  python3 "$SLUICE_ROOT/deploy/local/lib/pipeline_copy.py" --src "$SLUICE_ROOT/pipelines/loans/pipeline.yaml" \
    --out "$2" --name "$1" --inbox "$3" "${@:4}" ||
    e2e_fail "could not write the pipeline copy $2"
}

# e2e_copy_pipeline <p> <name> <out> [key.path=value ...]: pipelines/<p>/pipeline.yaml renamed
# after <name> (pipeline name, topics; the sink table is kept), schema and view paths made
# absolute, then each dotted path set to its value (read as YAML): sink.schema=x,
# producer.sources.0.dir=/tmp/in, 'producer.sources.1.tables=[s.t]'. Any source type.
e2e_copy_pipeline() {
  python3 - "$SLUICE_ROOT/pipelines/$1/pipeline.yaml" "$2" "$3" "${@:4}" <<'PY' || e2e_fail "could not copy pipelines/$1"
import os, sys, yaml
src, name, out = sys.argv[1:4]
doc = yaml.safe_load(open(src))
base = os.path.dirname(os.path.abspath(src))
doc["pipeline"] = name
doc["topics"] = {**doc["topics"], **{k: f"{name}.{k}" for k in ("raw", "clean", "enriched", "dlq")}}
if "enricher" not in doc:
    doc["topics"]["enriched"] = f"{name}.clean"
doc["schemas"] = {k: os.path.join(base, v) for k, v in doc["schemas"].items()}
if "views" in doc.get("sink", {}):
    doc["sink"]["views"] = [os.path.join(base, v) for v in doc["sink"]["views"]]
for kv in sys.argv[4:]:
    path, value = kv.split("=", 1)
    *parents, last = path.split(".")
    node = doc
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
    if isinstance(node, list):
        node[int(last)] = yaml.safe_load(value)
    else:
        node[last] = yaml.safe_load(value)
yaml.safe_dump(doc, open(out, "w"), sort_keys=False)
PY
}

e2e_up() {
  psql -X -q -v ON_ERROR_STOP=1 -f "$SLUICE_ROOT/pipelines/loans/sql/states.sql" >/dev/null 2>&1 ||
    e2e_fail "could not load pipelines/loans/sql/states.sql"
  E2E_UP=1
  "$E2E_PIPE" up "$E2E_PIPELINE" "$@" || e2e_fail "the pipeline did not come up"
}

# e2e_up_more <pipeline file> [up options]: brings up a further pipeline (its own name); it is
# brought down at teardown, before the test's own.
e2e_up_more() {
  local name
  name=$(sed -n 's/^pipeline: *//p' "$1" | head -1)
  E2E_MORE_PIPELINES+=("$name")
  "$E2E_PIPE" up "$1" "${@:2}" || e2e_fail "the pipeline $name did not come up"
}

# Writes under a hidden temporary name, then renames into place: the watcher never sees a
# partial file.
e2e_feed() {
  local src=$1 name=${2:-$(basename "$1")}
  cp "$src" "$E2E_INBOX/.$name.part"
  mv -f "$E2E_INBOX/.$name.part" "$E2E_INBOX/$name"
  e2e_log "fed $name ($(wc -l <"$src") lines)"
}

# psql with retries while the server is unreachable or restarting (exit 2: other tests on the
# shared stack restart PostgreSQL, e.g. with `stack restart-pg`); SQL errors fail at once.
e2e_psql() {
  local i rc
  for (( i = 0; i < 60; i++ )); do
    rc=0
    psql -X -q -tA -v ON_ERROR_STOP=1 -c "$1" 2>"$E2E_TMP/psql.err" || rc=$?
    (( rc != 2 )) && break
    sleep 1
  done
  (( rc == 0 )) || cat "$E2E_TMP/psql.err" >&2
  return "$rc"
}
e2e_rows() { e2e_psql "SELECT count(*) FROM \"$E2E_TABLE\""; }
e2e_dlq_json() { python3 "$E2E_TOOL" dlq "$E2E_DLQ" "$@"; }
# e2e_metric <daemon> <metric...>: sums of the daemon's series (fails when it does not answer).
e2e_metric() { python3 "$E2E_TOOL" metric "http://127.0.0.1:$(cat "$E2E_PDIR/ports/$1")/metrics" "${@:2}"; }

# e2e_wait <expected rows + DLQ> [timeout s]: progress every 5 s; settles (no consumer lag,
# counts holding still) before returning, so later checks see the final state.
e2e_wait() {
  python3 "$E2E_TOOL" wait "$E2E_PDIR" --expected "$1" --timeout "${2:-300}" --interval 5 --settle \
    --report "$E2E_TMP/wait.json" || e2e_fail "the pipeline did not catch up (see above)"
}

e2e_teardown() {
  local rc=$?
  (( rc != 0 )) && E2E_FAILED=1
  trap - EXIT
  local more
  for more in ${E2E_MORE_PIPELINES[@]+"${E2E_MORE_PIPELINES[@]}"}; do
    "$E2E_PIPE" down "$more" || { e2e_log "pipeline $more down failed"; rc=1; }
    (( E2E_FAILED )) && grep -hv '"level":"debug"' "$STACK_DIR/pipelines/$more"/logs/*.log 2>/dev/null | tail -n 20
    [[ ${E2E_KEEP:-0} != 1 && $E2E_FAILED == 0 ]] && rm -rf "$STACK_DIR/pipelines/$more"
  done
  if (( E2E_UP )); then
    "$E2E_PIPE" down "$E2E_ID" || { e2e_log "pipeline down failed"; rc=1; }
    if (( E2E_FAILED )); then
      local f
      for f in "$E2E_PDIR"/logs/*.log; do
        [[ -f $f ]] || continue
        echo "--- last lines of $f"
        grep -v '"level":"debug"' "$f" | tail -n 15
      done
    fi
  fi
  if [[ ${E2E_KEEP:-0} != 1 && $E2E_FAILED == 0 ]]; then
    e2e_psql "DROP TABLE IF EXISTS \"$E2E_TABLE\"" >/dev/null 2>&1 || true
    e2e_psql "DELETE FROM sluice_offsets WHERE consumer_group LIKE '%$E2E_ID%'" >/dev/null 2>&1 || true
    local c
    for c in ${E2E_CLEANUPS[@]+"${E2E_CLEANUPS[@]}"}; do eval "$c" >/dev/null 2>&1 || true; done
    rm -rf "$E2E_TMP" "$E2E_PDIR"
  else
    e2e_log "kept for inspection: $E2E_TMP, $E2E_PDIR, table $E2E_TABLE"
  fi
  if (( rc == 0 )); then e2e_log "PASS"; else e2e_log "FAILED (exit $rc)"; fi
  exit "$rc"
}

# e2e_on_teardown <command string>: evaluated at teardown, after the pipeline is down, together
# with the rest of the clean-up (so only when the test passed and E2E_KEEP is not 1); its
# output and failures are ignored. For what a test creates beyond the table (e.g. topics).
e2e_on_teardown() { E2E_CLEANUPS+=("$1"); }

# e2e_kafka_tool <class> [args...]: runs a Kafka CLI class (kafka.admin.ConfigCommand is what
# kafka-configs.sh runs, org.apache.kafka.tools.TopicCommand kafka-topics.sh) from the jars of
# the Kafka version the local stack runs (KRaft or ZooKeeper mode).
e2e_kafka_tool() {
  local version=$KAFKA_KRAFT_VERSION
  [[ $(cat "$STACK_DIR/mode" 2>/dev/null) == zk ]] && version=$KAFKA_ZK_VERSION
  kafka_tool "$version" "$@"
}

# e2e_api_start <script> <URL variable> [script options]: starts a local API server built on
# tools/local_api/local_api.py (the price, weather and customer APIs) on a free port, exports
# <URL variable>=http://127.0.0.1:<port>, and stops it when the test exits, whatever the
# outcome. Its log is $E2E_TMP/<script name>.log; E2E_API_PIDS holds the pids.
E2E_API_PIDS=()
e2e_api_start() {
  local script=$1 var=$2 name port_file i
  name=$(basename "$script" .py)
  port_file="$E2E_TMP/$name.port"
  python3 "$script" --port 0 --port-file "$port_file" "${@:3}" >"$E2E_TMP/$name.log" 2>&1 &
  E2E_API_PIDS+=($!)
  trap 'rc=$?; kill ${E2E_API_PIDS[*]} 2>/dev/null; (exit $rc); e2e_teardown' EXIT
  for (( i = 0; i < 100; i++ )); do
    [[ -s $port_file ]] && break
    sleep 0.1
  done
  [[ -s $port_file ]] || e2e_fail "$name did not start (log: $E2E_TMP/$name.log)"
  export "$var=http://127.0.0.1:$(cat "$port_file")"
  e2e_log "$name at ${!var} (${*:3})"
}

# The tests that run scripts/demo <use case> as a user does, on the pipelines' real names (ctest
# runs them one at a time: RESOURCE_LOCK in tests/CMakeLists.txt).
#   e2e_demo_init <name>             checks env and binaries, makes $E2E_DEMO_TMP, and sets the
#                                    EXIT trap that calls the test's demo_reset() and reports
#   e2e_demo_reset_pipelines <p>...  each pipeline down, its sink table dropped, its sink offsets
#                                    and topics (<p>.*) deleted
#   e2e_demo_stop_apis <name>...     the local APIs the demo started (.stack/<name>/pid)
#   e2e_demo_run <demo args...>      demo_reset, then scripts/demo <args> --skip-build on the
#                                    running stack into $E2E_DEMO_TMP/demo.log; fails with its tail;
#                                    sets $E2E_DEMO_OUT (the output without progress lines)
e2e_demo_init() {
  e2e_require_env
  e2e_require_binaries
  E2E_DEMO_TMP=$(mktemp -d "/tmp/sluice-e2e-demo-$1.XXXX")
  trap e2e_demo_exit EXIT
}
e2e_demo_exit() {
  local rc=$?
  demo_reset
  (( rc == 0 )) && rm -rf "$E2E_DEMO_TMP"
  if (( rc == 0 )); then e2e_log PASS; else e2e_log "FAILED (output: $E2E_DEMO_TMP/demo.log)"; fi
  exit "$rc"
}
e2e_demo_reset_pipelines() {
  local p table
  for p in "$@"; do
    "$SLUICE_BIN_DIR/sluice" pipeline down "$p" >/dev/null 2>&1 || true
    table=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["sink"]["table"])' \
      "$SLUICE_ROOT/pipelines/$p/pipeline.yaml")
    psql -X -q -c "DROP TABLE IF EXISTS \"$table\" CASCADE" >/dev/null 2>&1 || true
    psql -X -q -c "DELETE FROM sluice_offsets WHERE consumer_group = 'sluice-sink-$p'" >/dev/null 2>&1 || true
    e2e_kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$SLUICE_KAFKA_BROKERS" \
      --delete --topic "$p\\..*" >/dev/null 2>&1 || true
  done
}
e2e_demo_stop_apis() {
  local a
  for a in "$@"; do
    if [[ -f $SLUICE_ROOT/.stack/$a/pid ]]; then kill "$(cat "$SLUICE_ROOT/.stack/$a/pid")" 2>/dev/null || true; fi
  done
}
e2e_demo_run() {
  # A fresh start: no state of an earlier run of the demo.
  demo_reset
  sleep 2  # topic deletion is asynchronous
  # The stack the environment names (checked by e2e_demo_init), whichever checkout started it.
  SLUICE_DEMO_STACK=running "$SLUICE_ROOT/scripts/demo" "$@" --skip-build >"$E2E_DEMO_TMP/demo.log" 2>&1 ||
    { tail -40 "$E2E_DEMO_TMP/demo.log"; e2e_fail "scripts/demo $* failed"; }
  E2E_DEMO_OUT=$(grep -v '^\[' "$E2E_DEMO_TMP/demo.log")
}

# e2e_progress_of <daemon>: how far it got: rows in the table for the pg-sink, records taken in
# (its sluice_records_in_total) for the others; 0 while it does not answer.
e2e_progress_of() {
  if [[ $1 == pg-sink ]]; then
    e2e_rows 2>/dev/null || echo 0
  else
    e2e_metric "$1" sluice_records_in_total 2>/dev/null || echo 0
  fi
}

# e2e_kill_at <daemon> <fraction> <total>: waits until its progress reaches fraction * total,
# kills it with SIGKILL, appends "<daemon> <progress>" to $E2E_TMP/kills, starts it again. Meant
# to run in the background: a failure is written to $E2E_TMP/kill-<daemon>.err.
e2e_kill_at() {
  local d=$1 target deadline progress
  target=$(python3 -c "print(int($2 * $3))")
  deadline=$((SECONDS + 300))
  while :; do
    progress=$(e2e_progress_of "$d")
    progress=${progress%.*}
    (( progress >= target )) && break
    (( SECONDS < deadline )) || { echo "$d never reached $target (at $progress)" >"$E2E_TMP/kill-$d.err"; return 1; }
    sleep 0.1
  done
  "$E2E_PIPE" kill -9 "$E2E_ID" "$d" || { echo "kill failed" >"$E2E_TMP/kill-$d.err"; return 1; }
  e2e_log "killed $d with SIGKILL at $progress (target $target of $3)"
  echo "$d $progress" >>"$E2E_TMP/kills"
  "$E2E_PIPE" start "$E2E_ID" "$d" || { echo "$d did not come back after kill -9" >"$E2E_TMP/kill-$d.err"; return 1; }
}

# e2e_log_count <daemon> <extended regex>: lines of the daemon's log matching.
e2e_log_count() { grep -cE -- "$2" "$E2E_PDIR/logs/$1.log" || true; }

# e2e_wait_log <daemon> <extended regex> <count> [timeout s]: waits until the daemon's log has
# at least <count> matching lines.
e2e_wait_log() {
  local d=$1 re=$2 want=$3 deadline=$((SECONDS + ${4:-120})) n
  while :; do
    n=$(e2e_log_count "$d" "$re")
    (( n >= want )) && return 0
    (( SECONDS < deadline )) || e2e_fail "$d logged '$re' $n times, expected $want (log: $E2E_PDIR/logs/$d.log)"
    sleep 0.5
  done
}

# Checksum of the whole table content (every column, rows in key order).
e2e_table_md5() {
  e2e_psql "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t.loan_id)), '-') FROM \"$E2E_TABLE\" t"
}

# e2e_registry <method> <path> [json body]: the test's own registry; prints "<http code> <body>".
e2e_registry() {
  python3 - "$SLUICE_REGISTRY_URL" "$@" <<'PY'
import sys, urllib.request, urllib.error
url, method, path = sys.argv[1], sys.argv[2], sys.argv[3]
body = sys.argv[4].encode() if len(sys.argv) > 4 else None
req = urllib.request.Request(url + path, data=body, method=method,
                             headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
PY
}
