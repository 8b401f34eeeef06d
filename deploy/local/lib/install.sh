# Idempotent installation of what the build and the local stack need: Debian packages (only
# when one is missing, with a single apt-get update) and the Kafka jars. Requires lib/common.sh
# and lib/kafka.sh.

# Build toolchain, the C++ libraries CMake looks for, PostgreSQL 15, kcat, clang for the
# sanitizer/fuzz builds, small tools the scripts use (ss, pgrep), and what the offline
# deploy manifests test uses (python3-yaml, docker-compose).
STACK_APT_PACKAGES=(
  cmake ninja-build g++ pkg-config ccache clang libclang-rt-14-dev
  librdkafka-dev libpqxx-dev libpq-dev nlohmann-json3-dev libspdlog-dev catch2
  libyaml-cpp-dev libcli11-dev libcpp-httplib-dev libcurl4-openssl-dev
  postgresql-15 kcat python3-venv python3-yaml docker-compose iproute2 procps
)

# Prints the packages of STACK_APT_PACKAGES (plus a JDK / Maven when absent) not installed.
stack_missing_packages() {
  local -a wanted=("${STACK_APT_PACKAGES[@]}")
  command -v java >/dev/null || wanted+=(default-jdk-headless)
  command -v mvn >/dev/null || wanted+=(maven)
  local pkg status
  for pkg in "${wanted[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || printf '%s\n' "$pkg"
  done
}

stack_install_packages() {
  local -a missing
  mapfile -t missing < <(stack_missing_packages)
  (( ${#missing[@]} == 0 )) && return 0
  local -a sudo=()
  if (( EUID != 0 )); then
    command -v sudo >/dev/null || stack_die "missing packages (install them as root): ${missing[*]}"
    sudo=(sudo)
  fi
  stack_say "installing: ${missing[*]}"
  mkdir -p "$STACK_LOG_DIR"
  "${sudo[@]}" apt-get update -q >"$STACK_LOG_DIR/apt.log" 2>&1 ||
    stack_die "apt-get update failed; see $STACK_LOG_DIR/apt.log"
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends \
    "${missing[@]}" >>"$STACK_LOG_DIR/apt.log" 2>&1 ||
    stack_die "apt-get install failed; see $STACK_LOG_DIR/apt.log"
}

# install [kraft|zookeeper|all]: packages, then the jars of the given mode(s).
stack_install() {
  local what=${1:-all}
  stack_install_packages
  mkdir -p "$STACK_DIR"
  case $what in
    kraft) kafka_ensure_jars kraft "$KAFKA_KRAFT_VERSION" ;;
    zookeeper) kafka_ensure_jars zk "$KAFKA_ZK_VERSION" ;;
    all|*)
      kafka_ensure_jars kraft "$KAFKA_KRAFT_VERSION"
      kafka_ensure_jars zk "$KAFKA_ZK_VERSION"
      ;;
  esac
}

# Cheap check used by "up": installs only what the given mode lacks.
stack_install_if_needed() {
  stack_install "$1"
}
