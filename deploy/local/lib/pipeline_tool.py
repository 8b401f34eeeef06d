#!/usr/bin/env python3
"""Read-only helpers for a running pipeline (Python 3 standard library only).

  pipeline_tool.py dlq TOPIC [--records]
      Reads a DLQ topic from the beginning to its end with kcat (read_committed, so records
      of aborted transactions are not counted) and prints a JSON summary: total, counts by
      stage/rule and by reason, and duplicates by origin. --records prints one JSON object
      per record instead (partition, offset, key, headers, source file and line).
  pipeline_tool.py metric URL NAME [NAME...]
      Fetches a Prometheus /metrics page and prints the sum of every series of each NAME
      (0 when absent), one per line, in order.
  pipeline_tool.py snapshot PIPELINE_DIR
      One JSON object: time, rows in the sink table, DLQ records, and each daemon's counters
      (records in/out/rejected, consumer lag; "up": false when its /metrics does not answer).
      PIPELINE_DIR is .stack/pipelines/<p> as written by deploy/local/pipeline up.
  pipeline_tool.py wait PIPELINE_DIR --expected N [--timeout S] [--interval S]
                        [--baseline FILE] [--report FILE] [--settle]
      Waits until rows in the table + DLQ records reach N, printing progress every interval;
      with --settle, then also until no consumer lags and the counts hold still. On timeout
      exits 1 naming the lagging stage. --report writes the last snapshot plus each stage's
      records and busy seconds since the baseline snapshot (for throughput).
  pipeline_tool.py count-csv FILE
      Counts the rows in of a CSV file as the producer does: every item after the header
      (RFC 4180), empty and blank lines included (the producer dead-letters them as
      empty_line, so rows in = rows loaded + rows rejected).

The brokers come from SLUICE_KAFKA_BROKERS. Used by scripts/demo, the e2e tests and bench/.
"""
import argparse
import collections
import csv
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

ORIGIN_LINE = re.compile(r"^(?P<file>.*):(?P<line>\d+)$")


def read_topic(topic, brokers):
    """Yields kcat's JSON envelopes of every committed record of `topic`."""
    cmd = ["kcat", "-C", "-b", brokers, "-t", topic, "-J", "-e", "-q",
           "-X", "isolation.level=read_committed", "-o", "beginning"]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        if "Unknown topic" in err or "UNKNOWN_TOPIC" in err:
            return  # no DLQ record yet: the topic does not exist
        sys.exit(f"kcat failed reading {topic} (exit {proc.returncode}): {err.strip()[:400]}")
    for raw in proc.stdout.split(b"\n"):
        if not raw.strip():
            continue
        # Payloads are Avro bytes: decode leniently, only headers and keys matter here.
        yield json.loads(raw.decode("utf-8", "surrogateescape"))


def record_view(env):
    headers = env.get("headers") or []
    pairs = list(zip(headers[0::2], headers[1::2]))
    multi = collections.defaultdict(list)
    for k, v in pairs:
        multi[k].append(v)
    first = {k: v[0] for k, v in multi.items()}
    origins = multi.get("sluice-origin", [])
    src_file = first.get("sluice-source-file")
    src_line = first.get("sluice-source-line")
    if src_line is None:
        # The producer's origin is "<file>:<line>"; later stages add "<topic>/<p>@<offset>".
        for o in origins:
            m = ORIGIN_LINE.match(o)
            if m and "@" not in o:
                src_file, src_line = m.group("file"), m.group("line")
                break
    return {
        "partition": env.get("partition"),
        "offset": env.get("offset"),
        "key": env.get("key"),
        "stage": first.get("sluice-dlq-stage", "?"),
        "rule": first.get("sluice-dlq-rule", "?"),
        "reason": first.get("sluice-dlq-reason", ""),
        "origins": origins,
        "source_file": src_file,
        "source_line": int(src_line) if src_line is not None and str(src_line).isdigit() else None,
        "headers": pairs,
    }


def origin_key(r):
    """What makes a DLQ record unique: the source row if known, else every origin header."""
    if r["source_file"] is not None and r["source_line"] is not None:
        return f"{os.path.basename(r['source_file'])}:{r['source_line']}"
    return "|".join(r["origins"]) or f"{r['partition']}@{r['offset']}"


def cmd_dlq(args):
    brokers = os.environ.get("SLUICE_KAFKA_BROKERS")
    if not brokers:
        sys.exit("SLUICE_KAFKA_BROKERS is unset (eval \"$(deploy/local/stack env)\")")
    records = [record_view(e) for e in read_topic(args.topic, brokers)]
    if args.records:
        for r in records:
            print(json.dumps(r))
        return
    by_rule = collections.Counter(f"{r['stage']}/{r['rule']}" for r in records)
    by_reason = collections.Counter(f"{r['stage']}/{r['rule']}: {r['reason']}" for r in records)
    origins = collections.Counter(origin_key(r) for r in records)
    dups = {k: n for k, n in origins.items() if n > 1}
    print(json.dumps({
        "topic": args.topic,
        "total": len(records),
        "by_rule": dict(sorted(by_rule.items())),
        "by_reason": dict(by_reason.most_common()),
        "duplicate_origins": len(dups),
        "duplicate_examples": dict(list(dups.items())[:5]),
    }, indent=1))


def parse_metrics(text):
    sums = collections.Counter()
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        try:
            series, value = line.rsplit(" ", 1)
            name = series.split("{", 1)[0]
            sums[name] += float(value)
        except ValueError:
            continue
    return sums


def cmd_metric(args):
    try:
        with urllib.request.urlopen(args.url, timeout=5) as r:
            text = r.read().decode("utf-8", "replace")
    except Exception as e:  # noqa: BLE001 - report any failure as one line
        sys.exit(f"cannot read {args.url}: {e}")
    sums = parse_metrics(text)
    for n in args.names:
        v = sums.get(n, 0.0)
        print(int(v) if v == int(v) else v)


def stage_ids(pdir):
    """The pipeline's stages in order (producer first), from the stage identity table the
    supervisor saved at `up` (stages.tsv, the daemons' --print-stages): rows with a section."""
    with open(os.path.join(pdir, "stages.tsv"), encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f]
    return [r[0] for r in rows[1:] if len(r) > 1 and r[1] != "-"]


def effective_value(pdir, section, key):
    """Value of `<section>:\n  <key>: v` in the effective configuration the supervisor saved."""
    cur = None
    with open(os.path.join(pdir, "effective.yaml"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^([A-Za-z_]\w*):", line)
            if m:
                cur = m.group(1)
                continue
            m = re.match(r"^  (\w+):\s*(.*?)\s*$", line)
            if m and cur == section and m.group(1) == key:
                return m.group(2).strip("'\"")
    return None


def psql_value(sql):
    # psql exits 2 when the server is unreachable or restarting: retry for up to a minute
    # (other tests on the shared stack may restart PostgreSQL); SQL errors are returned at once.
    for _ in range(60):
        proc = subprocess.run(["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        if proc.returncode != 2:
            break
        time.sleep(1)
    if proc.returncode != 0:
        return None, proc.stderr.decode("utf-8", "replace").strip()
    return proc.stdout.decode().strip(), None


def table_rows(schema, table):
    reg, _ = psql_value(f"SELECT to_regclass('{schema}.\"{table}\"') IS NOT NULL")
    if reg != "t":
        return 0
    v, err = psql_value(f'SELECT count(*) FROM "{schema}"."{table}"')
    if v is None:
        sys.exit(f"cannot count rows of {schema}.{table}: {err}")
    return int(v)


def stage_counters(pdir, stage):
    port_file = os.path.join(pdir, "ports", stage)
    if not os.path.exists(port_file):
        return {"up": False}
    port = open(port_file).read().strip()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as r:
            sums = parse_metrics(r.read().decode("utf-8", "replace"))
    except Exception:  # noqa: BLE001 - a daemon that does not answer is reported as down
        return {"up": False, "port": port}
    return {"up": True, "port": port,
            "in": int(sums.get("sluice_records_in_total", 0)),
            "out": int(sums.get("sluice_records_out_total", 0)),
            "rejected": int(sums.get("sluice_records_rejected_total", 0)),
            "lag": int(sums.get("sluice_consumer_lag", 0))}


def take_snapshot(pdir, with_tables=True):
    snap = {"time": time.time(), "stages": {s: stage_counters(pdir, s) for s in stage_ids(pdir)}}
    if with_tables:
        schema = effective_value(pdir, "sink", "schema") or "public"
        table = effective_value(pdir, "sink", "table")
        dlq = effective_value(pdir, "topics", "dlq")
        brokers = os.environ.get("SLUICE_KAFKA_BROKERS")
        if not brokers:
            sys.exit("SLUICE_KAFKA_BROKERS is unset")
        snap["table"] = f"{schema}.{table}"
        snap["rows"] = table_rows(schema, table)
        snap["dlq_topic"] = dlq
        snap["dlq"] = sum(1 for _ in read_topic(dlq, brokers))
    return snap


def stage_count(st):
    """Records a stage has taken in (the producer: rows it sent, to the topic or the DLQ)."""
    if not st.get("up"):
        return None
    return st.get("in", 0) if st.get("in") else st.get("out", 0) + st.get("rejected", 0)


def lagging(snap, expected):
    """Names the stage holding things up, upstream first, with the evidence."""
    st = snap["stages"]
    stages = list(st)
    for s in stages:
        if not st[s].get("up"):
            return f"{s} is not answering on its health port {st[s].get('port', '?')} (not running?)"
    for s in stages[1:]:
        if st[s].get("lag", 0) > 0:
            return f"{s} has {st[s]['lag']} records of consumer lag (in {st[s]['in']}, out {st[s]['out']})"
    p = st[stages[0]]
    return (f"{stages[0]}: no consumer lags, so the producer has not sent everything "
            f"(this run: out {p.get('out', 0)}, rejected {p.get('rejected', 0)}; expected {expected} "
            f"rows + DLQ, have {snap['rows'] + snap['dlq']})")


def progress_line(snap, expected, t0):
    st = snap["stages"]
    parts = []
    for s in st:
        c = stage_count(st[s])
        parts.append(f"{s} {'down' if c is None else c}")
    return (f"[{time.time() - t0:5.0f}s] table {snap['rows']} + DLQ {snap['dlq']} = "
            f"{snap['rows'] + snap['dlq']} / {expected} expected   ({', '.join(parts)})")


def cmd_snapshot(args):
    print(json.dumps(take_snapshot(args.pipeline_dir)))


def cmd_wait(args):
    base = json.load(open(args.baseline)) if args.baseline else None
    t0 = time.time()
    deadline = t0 + args.timeout
    first, last, prev_counts = {}, {}, {}
    base_time = base["time"] if base else t0
    next_full = 0.0
    snap = None
    reached_at = None
    stable = 0
    prev_key = None
    stages = stage_ids(args.pipeline_dir)
    while True:
        now = time.time()
        light = {s: stage_counters(args.pipeline_dir, s) for s in stages}
        for s in stages:
            c = stage_count(light[s])
            b = stage_count(base["stages"][s]) if base else 0
            if c is None:
                continue
            d = max(0, c - (b or 0))
            if d > 0 and s not in first:
                first[s] = prev_counts.get("_t", base_time)
            if d != prev_counts.get(s):
                last[s] = now
            prev_counts[s] = d
        prev_counts["_t"] = now
        if now >= next_full:
            snap = take_snapshot(args.pipeline_dir)
            snap["stages"] = light
            total = snap["rows"] + snap["dlq"]
            if not args.quiet:
                print(progress_line(snap, args.expected, t0), flush=True)
            next_full = now + args.interval
            if total >= args.expected:
                if reached_at is None:
                    reached_at = now
                if not args.settle:
                    break
                key = (snap["rows"], snap["dlq"], tuple(stage_count(light[s]) for s in stages))
                lags = sum(light[s].get("lag", 0) for s in stages[1:])
                stable = stable + 1 if key == prev_key and lags == 0 else 0
                prev_key = key
                if stable >= 2:
                    break
                next_full = now + 1.0
            if now >= deadline:
                print(f"timeout after {args.timeout}s: table {snap['rows']} + DLQ {snap['dlq']} = "
                      f"{total}, expected {args.expected}. Lagging: {lagging(snap, args.expected)}",
                      file=sys.stderr, flush=True)
                if args.report:
                    json.dump({"snapshot": snap, "ok": False}, open(args.report, "w"), indent=1)
                sys.exit(1)
        time.sleep(0.5)
    report = {"ok": True, "snapshot": snap, "waited_seconds": time.time() - t0,
              "reached_seconds": (reached_at or time.time()) - base_time, "stages": {}}
    for s in stages:
        c = stage_count(snap["stages"][s])
        b = stage_count(base["stages"][s]) if base else 0
        records = max(0, (c or 0) - (b or 0))
        busy = (last.get(s, base_time) - first.get(s, base_time)) if s in first else 0.0
        # Busy time is measured between polls (0.5 s apart): never below one poll interval.
        busy = max(busy, 0.5) if records else 0.0
        report["stages"][s] = {"records": records, "busy_seconds": round(busy, 2),
                               "since_feed_seconds": round(last.get(s, base_time) - base_time, 2),
                               "records_per_second": round(records / busy, 1) if busy else 0.0}
    if args.report:
        json.dump(report, open(args.report, "w"), indent=1)


def cmd_count_csv(args):
    with open(args.file, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        next(reader, None)
        print(sum(1 for _ in reader))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dlq")
    d.add_argument("topic")
    d.add_argument("--records", action="store_true")
    m = sub.add_parser("metric")
    m.add_argument("url")
    m.add_argument("names", nargs="+")
    c = sub.add_parser("count-csv")
    c.add_argument("file")
    sn = sub.add_parser("snapshot")
    sn.add_argument("pipeline_dir")
    w = sub.add_parser("wait")
    w.add_argument("pipeline_dir")
    w.add_argument("--expected", type=int, required=True)
    w.add_argument("--timeout", type=float, default=300)
    w.add_argument("--interval", type=float, default=3)
    w.add_argument("--baseline")
    w.add_argument("--report")
    w.add_argument("--settle", action="store_true")
    w.add_argument("--quiet", action="store_true")
    a = p.parse_args()
    {"dlq": cmd_dlq, "metric": cmd_metric, "count-csv": cmd_count_csv,
     "snapshot": cmd_snapshot, "wait": cmd_wait}[a.cmd](a)


if __name__ == "__main__":
    main()
