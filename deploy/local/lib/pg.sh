# PostgreSQL 15 instance for the local stack: initdb once, loopback only, unix socket inside
# the instance directory. PostgreSQL refuses to run as root, so when the caller is root the
# server runs as the system user $PG_OS_USER (created on demand). Requires lib/common.sh.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_OS_USER=${PG_OS_USER:-sluice}
PG_ROLE=sluice
PG_PASSWORD=sluice
PG_DATABASE=sluice

# Runs a command as the PostgreSQL OS user (or as the caller when not root).
_pg_as() {
  if (( EUID == 0 )); then
    runuser -u "$PG_OS_USER" -- "$@"
  else
    "$@"
  fi
}

_pg_ensure_os_user() {
  (( EUID == 0 )) || return 0
  id -u "$PG_OS_USER" >/dev/null 2>&1 && return 0
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_OS_USER" ||
    stack_die "could not create system user $PG_OS_USER"
}

# Paths of instance <inst>.
_pg_data() { printf '%s/data\n' "$1"; }
_pg_sock() { printf '%s/run\n' "$1"; }

# Prints the postmaster pid of <inst> if it is running.
pg_pid() {
  local inst=$1 data pid
  data=$(_pg_data "$inst")
  [[ -f $data/postmaster.pid ]] || return 0
  pid=$(head -n1 "$data/postmaster.pid" 2>/dev/null)
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  if [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$data"; then
    printf '%s\n' "$pid"
  fi
}

# True when the server of <inst> on <port> accepts connections.
pg_ready() {
  local inst=$1 port=$2
  "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2 -U "$PG_ROLE" -d "$PG_DATABASE" 2>/dev/null
}

# Creates the cluster once: superuser role $PG_ROLE with a password, database $PG_DATABASE.
_pg_init() {
  local inst=$1 port=$2 log=$3 data pwfile
  data=$(_pg_data "$inst")
  [[ -f $data/PG_VERSION ]] && return 0
  stack_say "initialising PostgreSQL cluster in $data"
  rm -rf "$data"
  mkdir -p "$data"
  pwfile="$inst/.pwfile"
  printf '%s\n' "$PG_PASSWORD" >"$pwfile"
  if (( EUID == 0 )); then chown -R "$PG_OS_USER": "$inst"; fi
  chmod 700 "$data"
  _pg_as "$PG_BIN/initdb" -D "$data" -U "$PG_ROLE" --pwfile="$pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >>"$log" 2>&1 ||
    { rm -f "$pwfile"; stack_die "initdb failed; see $log"; }
  rm -f "$pwfile"
  cat >>"$data/postgresql.conf" <<EOF

# Local stack settings (deploy/local/lib/pg.sh)
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$(_pg_sock "$inst")'
max_connections = 200
logging_collector = off
EOF
  touch "$inst/.needs-createdb"
}

# Logical decoding for the postgres source's CDC mode (pgoutput slots); appended once, so a
# cluster initialised before it gets it at its next start.
_pg_logical() {
  grep -q '^wal_level = logical' "$1/postgresql.conf" && return 0
  cat >>"$1/postgresql.conf" <<EOF
# CDC (logical replication, pgoutput): deploy/local/lib/pg.sh
wal_level = logical
max_wal_senders = 10
max_replication_slots = 10
EOF
}

# Starts PostgreSQL for <inst> on <port> unless it runs; waits until it accepts connections.
pg_start() {
  local inst=$1 port=$2 log=$3 pid
  mkdir -p "$inst"
  inst=$(cd "$inst" && pwd)
  pid=$(pg_pid "$inst")
  if [[ -z $pid ]]; then
    _pg_ensure_os_user
    stack_require_port_free "$port" "$inst" "PostgreSQL"
    [[ -x $PG_BIN/pg_ctl ]] || stack_die "PostgreSQL 15 not found in $PG_BIN; run 'deploy/local/stack install'"
    mkdir -p "$(dirname "$log")" "$(_pg_sock "$inst")"
    touch "$log"
    if (( EUID == 0 )); then chown "$PG_OS_USER": "$log" "$inst" "$(_pg_sock "$inst")"; fi
    _pg_init "$inst" "$port" "$log"
    _pg_logical "$(_pg_data "$inst")"
    _pg_as "$PG_BIN/pg_ctl" -D "$(_pg_data "$inst")" -l "$log" -w -t 60 -s start ||
      stack_die "PostgreSQL did not start; see $log"
  fi
  local deadline=$(( $(stack_now) + 60 ))
  until "$PG_BIN/pg_isready" -q -h "$(_pg_sock "$inst")" -p "$port" -t 2; do
    (( $(stack_now) < deadline )) || stack_die "PostgreSQL not ready after 60s; see $log"
    sleep 0.3
  done
  if [[ -f $inst/.needs-createdb ]]; then
    _pg_as "$PG_BIN/createdb" -h "$(_pg_sock "$inst")" -p "$port" -U "$PG_ROLE" "$PG_DATABASE" 2>>"$log" ||
      _pg_as "$PG_BIN/psql" -h "$(_pg_sock "$inst")" -p "$port" -U "$PG_ROLE" -d postgres -tAc \
        "select 1 from pg_database where datname = '$PG_DATABASE'" | grep -q 1 ||
      stack_die "could not create database $PG_DATABASE; see $log"
    rm -f "$inst/.needs-createdb"
  fi
}

# Stops PostgreSQL of <inst> (fast shutdown: rolls back open transactions, closes sessions).
pg_stop() {
  local inst=$1 pid
  [[ -d $inst ]] || return 0
  inst=$(cd "$inst" && pwd)
  pid=$(pg_pid "$inst")
  [[ -n $pid ]] || return 0
  if ! _pg_as "$PG_BIN/pg_ctl" -D "$(_pg_data "$inst")" -m fast -w -t 60 -s stop; then
    stack_say "pg_ctl stop failed; sending SIGQUIT to postmaster $pid"
    kill -QUIT "$pid" 2>/dev/null || true
  fi
  local deadline=$(( $(stack_now) + 20 ))
  while kill -0 "$pid" 2>/dev/null && (( $(stack_now) < deadline )); do sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  return 0
}
