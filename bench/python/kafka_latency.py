#!/usr/bin/env python3
"""Kafka's own produce -> consume latency on a broker: the floor bench/run compares Sluice's
end-to-end latency with. An idempotent producer (acks=all, linger.ms=5) sends ~300-byte
messages carrying their send time at a steady --rate for --seconds to a fresh --topic; a
read_committed consumer in another process (so the two share no interpreter lock) records
receive time - send time for each. Prints one JSON line: count, p50, p99, max (seconds).
No transactions: this is the broker's and client's floor, not a pipeline's.
"""
import argparse
import json
import multiprocessing
import os
import statistics
import struct
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

BROKERS = os.environ["SLUICE_KAFKA_BROKERS"]


def consume(topic, want, ready, out):
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": topic + "-lat", "auto.offset.reset": "earliest",
                  "isolation.level": "read_committed", "enable.auto.commit": False, "fetch.wait.max.ms": 100})
    c.subscribe([topic], on_assign=lambda consumer, parts: ready.set())
    lat = []
    deadline = time.time() + 600
    while len(lat) < want and time.time() < deadline:
        for m in c.consume(num_messages=1000, timeout=0.1):
            if m.error():
                continue
            now = time.time()
            lat.append(now - struct.unpack_from(">d", m.value())[0])
    c.close()
    out.put(lat)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--rate", type=float, required=True)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--partitions", type=int, default=6)
    a = ap.parse_args()
    admin = AdminClient({"bootstrap.servers": BROKERS})
    for f in admin.create_topics([NewTopic(a.topic, a.partitions, 1)]).values():
        f.result()
    n = max(1, int(a.rate * a.seconds))
    ready, out = multiprocessing.Event(), multiprocessing.Queue()
    proc = multiprocessing.Process(target=consume, args=(a.topic, n, ready, out))
    proc.start()
    ready.wait(60)
    time.sleep(1)  # let the consumer's first fetches settle
    p = Producer({"bootstrap.servers": BROKERS, "enable.idempotence": True, "acks": "all", "linger.ms": 5})
    pad = b"x" * 292
    t0 = time.time()
    for i in range(n):
        target = t0 + i / a.rate
        delay = target - time.time()
        if delay > 0:
            time.sleep(delay)
        p.produce(a.topic, struct.pack(">d", time.time()) + pad, key=str(i).encode())
        p.poll(0)
    p.flush(30)
    lat = out.get(timeout=600)
    proc.join(30)
    admin.delete_topics([a.topic])
    lat.sort()
    q = lambda x: lat[min(len(lat) - 1, int(x * len(lat)))]  # noqa: E731
    print(json.dumps({"count": len(lat), "p50": statistics.median(lat), "p99": q(0.99), "max": lat[-1]}))


if __name__ == "__main__":
    main()
