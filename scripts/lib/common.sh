# Helpers shared by scripts/test and scripts/demo: quiet steps that show their log only on
# failure, and the CMake configure+build of one build directory.

SLUICE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

say() { printf '%s\n' "$*"; }

# run_quiet <log> <command...>: runs the command with output to <log>; on failure prints the
# last lines of the log and returns the command's status.
run_quiet() {
  local log=$1
  shift
  mkdir -p "$(dirname "$log")"
  if "$@" >"$log" 2>&1; then
    return 0
  else
    local rc=$?
    printf '%s failed (exit %d); last lines of %s:\n' "$1" "$rc" "$log" >&2
    tail -n 60 "$log" >&2
    return "$rc"
  fi
}

# build_tree <dir> [cmake configure args...]: configures (Ninja, RelWithDebInfo) and builds
# everything in <dir>, quietly. SLUICE_BUILD_TARGETS (space-separated) limits the build.
build_tree() {
  local dir=$1
  shift
  local -a targets=()
  [[ -n ${SLUICE_BUILD_TARGETS:-} ]] && read -r -a targets <<<"$SLUICE_BUILD_TARGETS"
  local start=$SECONDS
  # Let ccache reuse objects across checkouts (CI builds a fresh clone at another path):
  # paths under the repo become relative and the build dir is left out of the hash. Costs
  # only the debug info's compile directory, which then names the first checkout.
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$SLUICE_ROOT} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
  run_quiet "$dir/configure.log" cmake -S "$SLUICE_ROOT" -B "$dir" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" || return
  if (( ${#targets[@]} )); then
    run_quiet "$dir/build.log" cmake --build "$dir" --target "${targets[@]}" || return
  else
    run_quiet "$dir/build.log" cmake --build "$dir" || return
  fi
  say "built $(basename "$dir") in $((SECONDS - start))s"
}
