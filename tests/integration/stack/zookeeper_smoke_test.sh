#!/usr/bin/env bash
# ZooKeeper-mode smoke test: a separate Kafka 3.9 + ZooKeeper instance (ZK 12182, broker
# 19192, state in .stack/zk-smoke) must start, create a topic, carry one message from kcat to
# kcat, and stop leaving no process behind. Uses the same start/stop code as deploy/local/stack.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../../../deploy/local/lib/common.sh"
source "$STACK_LIB_DIR/kafka.sh"

ZK_PORT=12182
BROKER_PORT=19192
INST="$STACK_DIR/zk-smoke"
BROKER=127.0.0.1:$BROKER_PORT

fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
cleanup() { kafka_stop "$INST" || true; }
trap cleanup EXIT

command -v kcat >/dev/null || fail "kcat not found (deploy/local/stack install)"
kafka_stop "$INST"
rm -rf "$INST"
mkdir -p "$INST/logs"

kafka_zk_start "$INST" "$ZK_PORT" "$BROKER_PORT" "$INST/logs"
kafka_wait_ready "$INST" "$BROKER_PORT" "$INST/logs/kafka.log"
echo "broker up: Kafka $KAFKA_ZK_VERSION, ZooKeeper on $ZK_PORT"

topic="zk-smoke-$$-$RANDOM"
kafka_tool "$KAFKA_ZK_VERSION" org.apache.kafka.tools.TopicCommand --bootstrap-server "$BROKER" \
  --create --topic "$topic" --partitions 1 --replication-factor 1 >/dev/null ||
  fail "topic creation failed"
kcat -L -b "$BROKER" -t "$topic" -m 10 | grep -q "topic \"$topic\" with 1 partitions" ||
  fail "topic $topic not in metadata"

message="hello from zk smoke $RANDOM$RANDOM"
printf '%s\n' "$message" | kcat -P -b "$BROKER" -t "$topic" -X message.timeout.ms=20000 ||
  fail "produce failed"
received=$(timeout 60 kcat -C -b "$BROKER" -t "$topic" -o beginning -c 1 -e -q) ||
  fail "consume failed"
[[ $received == "$message" ]] || fail "consumed '$received', expected '$message'"
echo "produced and consumed one message on $topic"

trap - EXIT
kafka_stop "$INST"
left=$(stack_procs_under "$INST")
[[ -z $left ]] || fail "processes left after stop: $(ps -o pid=,args= -p $left | cut -c1-120)"
! stack_port_open "$BROKER_PORT" || fail "broker port $BROKER_PORT still open after stop"
! stack_port_open "$ZK_PORT" || fail "ZooKeeper port $ZK_PORT still open after stop"
echo "stopped; no process left"
