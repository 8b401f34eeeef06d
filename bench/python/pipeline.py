#!/usr/bin/env python3
"""A plain Python version of the loans pipeline: the baseline bench/run measures Sluice against.

Four processes, as Sluice has four daemons, each started as `pipeline.py <stage> [options]`:

  producer  watches --inbox for CSV files; each line -> Avro (fastavro) -> <name>.raw, bad lines
            to <name>.dlq; transactional (a transaction per --batch lines or --linger)
  cleaner   <name>.raw -> rules -> <name>.clean, rejects to <name>.dlq; consume-transform-produce
            in Kafka transactions (send_offsets_to_transaction), read_committed
  enricher  <name>.clean -> steps (states table read from PostgreSQL) -> <name>.enriched
  sink      <name>.enriched -> psycopg COPY into a staging table, then an upsert by key into
            --table, with the consumed offsets in the same PostgreSQL transaction (the offsets
            table bench_py_offsets); on assignment it seeks to the stored offsets

The rules are bench/python/rules.py, built from the same pipeline file and schemas. Schemas are
registered in the Confluent-compatible registry at SLUICE_REGISTRY_URL under <topic>-value and
records use the Confluent wire format. Each process writes its counters (in, out, rejected by
rule, first/last record times) to --status after every batch (a JSON file, replaced
atomically) so bench/run can time it without querying the database.

Weaker than Sluice, on purpose kept simple: no health/metrics endpoint, no retry budget (an
infrastructure error ends the process), the producer stores no file position (a restart
re-reads a file; the dedupe rule sends the repeats to the DLQ), the writer schema is assumed to
be the reader's (no schema resolution).
Needs bench/python/setup (confluent-kafka, fastavro, psycopg, PyYAML).
"""
import argparse
import io
import json
import os
import signal
import struct
import sys
import time
import urllib.request

import fastavro
import psycopg
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rules  # noqa: E402

STOP = False


def on_term(*_):
    global STOP
    STOP = True


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)


class Status:
    """Counters written to a JSON file after each batch (atomically, by rename)."""

    def __init__(self, path):
        self.path = path
        self.d = {"pid": os.getpid(), "in": 0, "out": 0, "rejected": 0, "by_rule": {},
                  "first_in": None, "last_out": None}

    def seen(self, n):
        if n and self.d["first_in"] is None:
            self.d["first_in"] = time.time()
        self.d["in"] += n

    def reject(self, rule):
        self.d["rejected"] += 1
        self.d["by_rule"][rule] = self.d["by_rule"].get(rule, 0) + 1

    def flush(self, out=0, extra=None):
        self.d["out"] += out
        if out or extra:
            self.d["last_out"] = time.time()
        if extra:
            self.d.update(extra)
        if not self.path:
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.d, f)
        os.replace(tmp, self.path)


class Topics:
    def __init__(self, name):
        self.raw, self.clean, self.enriched, self.dlq = (f"{name}.{r}" for r in ("raw", "clean", "enriched", "dlq"))


def kafka_conf(extra=None):
    conf = {"bootstrap.servers": os.environ["SLUICE_KAFKA_BROKERS"]}
    conf.update(extra or {})
    return conf


def ensure_topics(topics, partitions):
    admin = AdminClient(kafka_conf())
    have = admin.list_topics(timeout=10).topics
    new = [NewTopic(t, partitions, 1) for t in (topics.raw, topics.clean, topics.enriched, topics.dlq) if t not in have]
    if new:
        for t, f in admin.create_topics(new).items():
            try:
                f.result()
            except KafkaException as e:
                if "TOPIC_ALREADY_EXISTS" not in str(e):
                    raise


class Codec:
    """Confluent wire format with one registered schema: 0, schema id (big-endian), Avro."""

    def __init__(self, registry, subject, schema):
        sid = register(registry, subject, schema)
        self.header = struct.pack(">bI", 0, sid)
        self.parsed = fastavro.parse_schema(rules.plain_schema(schema))

    def encode(self, record):
        buf = io.BytesIO()
        buf.write(self.header)
        fastavro.schemaless_writer(buf, self.parsed, record)
        return buf.getvalue()

    def decode(self, value):
        if len(value) < 5 or value[0] != 0:
            raise ValueError("not the Confluent wire format")
        return fastavro.schemaless_reader(io.BytesIO(value[5:]), self.parsed, None)


def register(registry, subject, schema):
    """POST /subjects/<subject>/versions (the Confluent REST API): the schema's id."""
    body = json.dumps({"schema": json.dumps(schema)}).encode()
    req = urllib.request.Request(f"{registry}/subjects/{urllib.request.quote(subject, safe='')}/versions",
                                 data=body, method="POST",
                                 headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)["id"]


def dlq_message(stage, rule, reason, origin, value, key=None):
    headers = [("sluice-dlq-stage", stage), ("sluice-dlq-rule", rule), ("sluice-dlq-reason", reason),
               ("sluice-origin", origin)]
    return dict(value=value, key=key, headers=headers)


# --- producer ---------------------------------------------------------------------------------

def run_producer(a, spec, schemas, topics, registry):
    st = Status(a.status)
    src = rules.Producer(spec, schemas["raw"])
    codec = Codec(registry, topics.raw + "-value", schemas["raw"])
    p = Producer(kafka_conf({"transactional.id": f"py-producer-{a.name}", "linger.ms": 5,
                             "enable.idempotence": True}))
    p.init_transactions()
    done = set()
    st.flush()
    while not STOP:
        files = sorted(f for f in os.listdir(a.inbox) if not f.startswith(".") and f not in done)
        if not files:
            time.sleep(a.poll)
            continue
        for fname in files:
            path = os.path.join(a.inbox, fname)
            with open(path, encoding="utf-8", newline="") as f:
                text = f.read()
            if st.d["first_in"] is None:
                st.d["first_in"] = time.time()
            p.begin_transaction()
            n, sent, started = 0, 0, time.monotonic()
            for item in src.rows(text, path):
                n += 1
                if item[0] == "emit":
                    _, key, rec, line = item
                    p.produce(topics.raw, codec.encode(rec), key=key.encode(),
                              headers=[("sluice-origin", f"{path}:{line}")])
                    sent += 1
                else:
                    _, rule, reason, line, raw = item
                    st.reject(rule)
                    p.produce(topics.dlq, **dlq_message("producer", rule, reason, f"{path}:{line}", raw.encode()))
                p.poll(0)
                if n % a.batch == 0 or time.monotonic() - started > a.linger:
                    p.commit_transaction()
                    st.d["in"] = n
                    st.flush(out=sent)
                    sent = 0
                    p.begin_transaction()
                    started = time.monotonic()
            p.commit_transaction()
            st.d["in"] = n
            st.flush(out=sent, extra={"files": st.d.get("files", 0) + 1})
            done.add(fname)
    p.flush(10)


# --- cleaner and enricher: consume-transform-produce in transactions ---------------------------

def transform_loop(a, stage, in_topic, out_topic, dlq_topic, in_codec, out_codec, process, st):
    group = f"py-{stage}-{a.name}"
    c = Consumer(kafka_conf({"group.id": group, "isolation.level": "read_committed",
                             "enable.auto.commit": False, "auto.offset.reset": "earliest",
                             "fetch.wait.max.ms": 100}))
    p = Producer(kafka_conf({"transactional.id": f"py-{stage}-{a.name}", "linger.ms": 5}))
    p.init_transactions()
    def on_assign(consumer, parts):
        st.d["assigned"] = True
        st.flush()
    c.subscribe([in_topic], on_assign=on_assign)
    st.flush()
    while not STOP:
        msgs = c.consume(num_messages=a.batch, timeout=0.1)
        if not msgs:
            continue
        p.begin_transaction()
        out = 0
        offsets = {}
        got = 0
        for m in msgs:
            if m.error():
                raise KafkaException(m.error())
            got += 1
            offsets[(m.topic(), m.partition())] = m.offset() + 1
            origin = f"{m.topic()}/{m.partition()}@{m.offset()}"
            headers = m.headers() or []
            try:
                row = process(in_codec.decode(m.value()), m.timestamp()[1])
            except rules.Reject as r:
                st.reject(r.rule)
                p.produce(dlq_topic, **dlq_message(stage, r.rule, r.reason, origin, m.value(), m.key()))
                continue
            except (ValueError, EOFError, TypeError) as e:
                st.reject("decode")
                p.produce(dlq_topic, **dlq_message(stage, "decode", str(e), origin, m.value(), m.key()))
                continue
            if not any(h[0] == "sluice-source-ts" for h in headers):
                headers = headers + [("sluice-source-ts", str(m.timestamp()[1]))]
            p.produce(out_topic, out_codec.encode(row), key=m.key(), headers=headers)
            out += 1
            p.poll(0)
        st.seen(got)
        p.send_offsets_to_transaction([TopicPartition(t, part, off) for (t, part), off in offsets.items()],
                                      c.consumer_group_metadata())
        p.commit_transaction()
        st.flush(out=out)
    c.close()


def run_cleaner(a, spec, schemas, topics, registry):
    cleaner = rules.Cleaner(spec, schemas["clean"])
    st = Status(a.status)
    in_codec = Codec(registry, topics.raw + "-value", schemas["raw"])
    out_codec = Codec(registry, topics.clean + "-value", schemas["clean"])

    def process(rec, ts):
        row = cleaner.process(rec, ts)
        st.d["dedupe_keys"] = cleaner.dedupe_keys()
        return row
    transform_loop(a, "cleaner", topics.raw, topics.clean, topics.dlq, in_codec, out_codec, process, st)


def run_enricher(a, spec, schemas, topics, registry):
    tables = {}
    with psycopg.connect(os.environ.get("SLUICE_PG_URL", "")) as conn:
        for table, column, columns in rules.Enricher.lookups(spec):
            cols = ", ".join(f'"{c}"::text' for c in [column] + columns)
            tables[table] = {r[0]: dict(zip(columns, r[1:])) for r in conn.execute(f"SELECT {cols} FROM {table}")}
    enricher = rules.Enricher(spec, schemas["enriched"], tables)
    st = Status(a.status)
    in_codec = Codec(registry, topics.clean + "-value", schemas["clean"])
    out_codec = Codec(registry, topics.enriched + "-value", schemas["enriched"])
    transform_loop(a, "enricher", topics.clean, topics.enriched, topics.dlq, in_codec, out_codec,
                   lambda rec, ts: enricher.process(rec), st)


# --- sink -------------------------------------------------------------------------------------

PG_TYPES = {"string": "text", "int": "integer", "long": "bigint", "double": "double precision",
            "float": "real", "boolean": "boolean", "date": "date"}


def run_sink(a, spec, schemas, topics, registry):
    st = Status(a.status)
    types = rules.field_types(schemas["enriched"])
    cols = [n for n, *_ in types]
    key = spec["sink"]["key"]
    q = lambda n: '"' + n.replace('"', '""') + '"'  # noqa: E731
    table = q(a.table)
    conn = psycopg.connect(os.environ.get("SLUICE_PG_URL", ""))
    ddl = ", ".join(f"{q(n)} {PG_TYPES[t]}{'' if nullable and n not in key else ' NOT NULL'}"
                    for n, t, nullable, _ in types)
    with conn.transaction():
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({ddl}, PRIMARY KEY ({', '.join(map(q, key))}))")
        conn.execute("CREATE TABLE IF NOT EXISTS bench_py_offsets (consumer_group text, topic text, "
                     "partition int, next_offset bigint, PRIMARY KEY (consumer_group, topic, partition))")
    group = f"py-sink-{a.name}"
    date_cols = {i for i, (_, t, *_r) in enumerate(types) if t == "date"}
    codec = Codec(registry, topics.enriched + "-value", schemas["enriched"])

    def on_assign(consumer, parts):
        stored = dict(((r[0], r[1]), r[2]) for r in conn.execute(
            "SELECT topic, partition, next_offset FROM bench_py_offsets WHERE consumer_group = %s", (group,)))
        conn.commit()
        for tp in parts:
            tp.offset = stored.get((tp.topic, tp.partition), -2)  # -2: the beginning
        consumer.assign(parts)
        st.d["assigned"] = True
        st.flush()

    c = Consumer(kafka_conf({"group.id": group, "isolation.level": "read_committed",
                             "enable.auto.commit": False, "auto.offset.reset": "earliest",
                             "fetch.wait.max.ms": 100}))
    c.subscribe([topics.enriched], on_assign=on_assign)
    set_cols = ", ".join(f"{q(n)} = EXCLUDED.{q(n)}" for n in cols if n not in key)
    collist = ", ".join(map(q, cols))
    upsert = (f"INSERT INTO {table} ({collist}) SELECT DISTINCT ON ({', '.join(map(q, key))}) {collist} "
              f"FROM _stage ORDER BY {', '.join(map(q, key))}, _seq DESC "
              f"ON CONFLICT ({', '.join(map(q, key))}) DO UPDATE SET {set_cols}")
    st.flush()
    while not STOP:
        msgs, deadline = [], time.monotonic() + a.linger
        while len(msgs) < a.batch and time.monotonic() < deadline:
            got = c.consume(num_messages=a.batch - len(msgs), timeout=max(0.0, deadline - time.monotonic()))
            msgs.extend(got)
            if not got and msgs:
                break  # drained: write what we have
        if not msgs:
            continue
        offsets = {}
        with conn.transaction():
            conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS _stage (LIKE {table}, _seq bigint) ON COMMIT DELETE ROWS")
            with conn.cursor().copy(f"COPY _stage ({collist}, _seq) FROM STDIN") as cp:
                for seq, m in enumerate(msgs):
                    if m.error():
                        raise KafkaException(m.error())
                    offsets[(m.topic(), m.partition())] = m.offset() + 1
                    rec = codec.decode(m.value())
                    row = [rec[n] for n in cols]
                    for i in date_cols:
                        if row[i] is not None:
                            row[i] = rules.EPOCH + rules.datetime.timedelta(days=row[i])
                    row.append(seq)
                    cp.write_row(row)
            conn.execute(upsert)
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO bench_py_offsets VALUES (%s, %s, %s, %s) ON CONFLICT "
                                "(consumer_group, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset",
                                [(group, t, part, off) for (t, part), off in offsets.items()])
        st.seen(len(msgs))
        st.flush(out=len(msgs))
    c.close()
    conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", choices=["producer", "cleaner", "enricher", "sink"])
    ap.add_argument("--pipeline", required=True, help="pipelines/loans/pipeline.yaml")
    ap.add_argument("--name", required=True, help="topic prefix and group/transactional id suffix")
    ap.add_argument("--table", help="sink: target table (default: --name)")
    ap.add_argument("--inbox", help="producer: watched directory")
    ap.add_argument("--status", help="JSON counters file, rewritten after each batch")
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--batch", type=int, default=5000, help="records per transaction / sink batch")
    ap.add_argument("--linger", type=float, default=0.1, help="seconds before a partial batch is committed")
    ap.add_argument("--poll", type=float, default=0.2, help="producer: inbox poll interval, seconds")
    a = ap.parse_args()
    a.table = a.table or a.name
    spec, schemas = rules.load_pipeline(a.pipeline)
    topics = Topics(a.name)
    registry = os.environ["SLUICE_REGISTRY_URL"].rstrip("/")
    if a.stage == "producer":
        if not a.inbox:
            ap.error("producer needs --inbox")
        ensure_topics(topics, a.partitions)
        run_producer(a, spec, schemas, topics, registry)
    elif a.stage == "cleaner":
        ensure_topics(topics, a.partitions)
        run_cleaner(a, spec, schemas, topics, registry)
    elif a.stage == "enricher":
        ensure_topics(topics, a.partitions)
        run_enricher(a, spec, schemas, topics, registry)
    else:
        ensure_topics(topics, a.partitions)
        run_sink(a, spec, schemas, topics, registry)


if __name__ == "__main__":
    main()
