# Shared helpers for the local no-Docker stack: paths, messages, process and port checks.
# Sourced by deploy/local/stack, the other lib/*.sh files and shell tests; defines no state
# beyond the path variables below.

# Repository root and the state directory (git-ignored), computed from this file's location.
STACK_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STACK_LOCAL_DIR="$(cd "$STACK_LIB_DIR/.." && pwd)"
STACK_REPO_ROOT="$(cd "$STACK_LOCAL_DIR/../.." && pwd)"
STACK_DIR="${SLUICE_STACK_DIR:-$STACK_REPO_ROOT/.stack}"
STACK_LOG_DIR="$STACK_DIR/logs"

stack_say() { printf 'stack: %s\n' "$*" >&2; }
stack_die() { printf 'stack: error: %s\n' "$*" >&2; exit 1; }

# Monotonic-enough seconds counter for wait loops.
stack_now() { date +%s; }

# True if something accepts TCP connections on 127.0.0.1:<port>.
stack_port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Prints "pid full-command-line" of whatever listens on 127.0.0.1:<port> (empty if nothing or
# unknown).
stack_port_owner() {
  local port=$1 line pid
  line=$(ss -ltnpH "sport = :$port" 2>/dev/null | head -n1)
  [[ -z $line ]] && return 0
  pid=$(sed -n 's/.*pid=\([0-9]*\).*/\1/p' <<<"$line")
  if [[ -n $pid ]]; then
    printf '%s %s\n' "$pid" "$(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null)"
  else
    printf '? (listening, owner not visible)\n'
  fi
}

# Fails clearly when <port> is taken by a process that is not ours (its command line does not
# mention <marker>, typically our instance directory). Catches a stack from another checkout.
stack_require_port_free() {
  local port=$1 marker=$2 what=$3 owner
  stack_port_open "$port" || return 0
  owner=$(stack_port_owner "$port")
  if [[ -n $owner && $owner == *"$marker"* ]]; then
    return 0
  fi
  stack_die "port $port ($what) is already in use by another process: ${owner:0:160}... \
Is a stack from another checkout running? Stop it with its own 'deploy/local/stack down'."
}

# Reads a pid file and prints the pid if that process is alive and its command line contains
# <marker>; prints nothing otherwise (stale pid files are ignored, never trusted blindly).
stack_live_pid() {
  local pidfile=$1 marker=$2 pid
  [[ -f $pidfile ]] || return 0
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  if [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker"; then
    printf '%s\n' "$pid"
  fi
}

# Sends SIGTERM to <pid>, waits up to <timeout> seconds for it to exit, then SIGKILLs it.
stack_stop_pid() {
  local pid=$1 timeout=$2 what=$3 deadline
  kill -TERM "$pid" 2>/dev/null || return 0
  deadline=$(( $(stack_now) + timeout ))
  while kill -0 "$pid" 2>/dev/null; do
    if (( $(stack_now) >= deadline )); then
      stack_say "$what (pid $pid) did not stop within ${timeout}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
      break
    fi
    sleep 0.2
  done
}

# Lists pids of java/postgres processes whose command line mentions <dir>.
stack_procs_under() {
  local dir=$1
  { pgrep -f -- "$dir" 2>/dev/null || true; } | while read -r pid; do
    [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
    local comm
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || continue
    case $comm in java|postgres|postmaster) printf '%s\n' "$pid" ;; esac
  done
  return 0
}

# stack_stage_table <binary dir>: the stage identity table (tab-separated, a header line:
# id section binary consumer_group transactional_id dlq_stage port) from the first Sluice
# binary there that prints it (every daemon does, with --print-stages).
stack_stage_table() {
  local b
  for b in "$1"/sluice-*; do
    [[ -x $b ]] && "$b" --print-stages 2>/dev/null && return 0
  done
  stack_die "no binary in $1 prints the stage table (build first)"
}

# stack_stage <binary dir> <stage id> <column> [pipeline]: one cell of that table, with
# <pipeline> replaced by the pipeline name when one is given.
stack_stage() {
  stack_stage_table "$1" | awk -F'\t' -v id="$2" -v col="$3" -v p="${4:-}" '
    NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    $1 == id && c[col] { v = $c[col]; if (p != "") gsub(/<pipeline>/, p, v); print v; found = 1 }
    END { exit !found }'
}
