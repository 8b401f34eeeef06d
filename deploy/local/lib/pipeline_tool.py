#!/usr/bin/env python3
"""Helpers for a running pipeline (Python 3 standard library only); only `feed` writes.

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
  pipeline_tool.py wait-read PIPELINE_DIR [--timeout S] [--interval S] [--quiet]
      For sources that are not fed files (an HTTP API): waits until every position in the
      pipeline's positions topic says its source read all it has (a sweep done), then as
      `wait --settle` for the rows it read.
  pipeline_tool.py feed FILE INBOX [--pipeline-dir PIPELINE_DIR]
      Drops FILE into the watched directory INBOX under a hidden name, then renames it (the
      producer never sees half a file). With --pipeline-dir, first records what `summary` needs
      (the file's rows in, a snapshot, the producer log's length) in PIPELINE_DIR/last-feed.json.
  pipeline_tool.py summary PIPELINE_DIR [--json] [--timeout S] [--interval S] [--progress]
      What happened to the last fed file: waits for the producer's verdict on it and for the
      sink to catch up (settled), then prints rows in, read, loaded, rejected by stage, rule and
      reason, duplicates, whether rows in = loaded + rejected, and each stage's throughput
      (the wait's measurement, kept in last-report.json so a second summary says the same).
      Without a fed file: the totals, with rows in = every row the producer has read (its
      positions topic). scripts/demo and `sluice pipeline summary` print this.
  pipeline_tool.py dlq-show TOPIC [--reason TEXT] [--limit N] [--json]
      The DLQ records as a table: partition@offset, stage, rule, origin (source file:line, else
      the last stage's topic/partition@offset), reason, key. --reason keeps records whose rule
      or reason contains TEXT. (`sluice dlq show`.)
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
import shutil
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
        "source": first.get("sluice-source", "?"),
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


def kafka_brokers():
    brokers = os.environ.get("SLUICE_KAFKA_BROKERS")
    if not brokers:
        sys.exit("SLUICE_KAFKA_BROKERS is unset (eval \"$(deploy/local/stack env)\")")
    return brokers


def dlq_summary(records, topic):
    by_rule = collections.Counter(f"{r['stage']}/{r['rule']}" for r in records)
    by_stage = collections.Counter(r["stage"] for r in records)
    by_source = collections.Counter(r["source"] for r in records)
    by_reason = collections.Counter(f"{r['stage']}/{r['rule']}: {r['reason']}" for r in records)
    origins = collections.Counter(origin_key(r) for r in records)
    dups = {k: n for k, n in origins.items() if n > 1}
    return {
        "topic": topic,
        "total": len(records),
        "by_stage": dict(sorted(by_stage.items())),
        "by_rule": dict(sorted(by_rule.items())),
        "by_source": dict(sorted(by_source.items())),
        "by_reason": dict(by_reason.most_common()),
        "duplicate_origins": len(dups),
        "duplicate_examples": dict(list(dups.items())[:5]),
    }


def cmd_dlq(args):
    records = [record_view(e) for e in read_topic(args.topic, kafka_brokers())]
    if args.records:
        for r in records:
            print(json.dumps(r))
        return
    print(json.dumps(dlq_summary(records, args.topic), indent=1))


def origin_text(r):
    if r["source_file"] is not None and r["source_line"] is not None:
        return f"{os.path.basename(r['source_file'])}:{r['source_line']}"
    return r["origins"][-1] if r["origins"] else "?"


def cmd_dlq_show(args):
    records = [record_view(e) for e in read_topic(args.topic, kafka_brokers())]
    total = len(records)
    if args.reason:
        want = args.reason.lower()
        records = [r for r in records if want in r["rule"].lower() or want in r["reason"].lower()]
    matched = len(records)
    records = records[:args.limit]
    if args.json:
        for r in records:
            print(json.dumps({k: r[k] for k in ("partition", "offset", "key", "stage", "rule", "reason",
                                                "origins", "source_file", "source_line")}))
        return
    rows = [(f"{r['partition']}@{r['offset']}", r["stage"], r["rule"], origin_text(r),
             (r["reason"] or "").replace("\n", " "), r["key"] or "") for r in records]
    head = ("record", "stage", "rule", "origin", "reason", "key")
    widths = [max([len(head[i])] + [min(len(row[i]), 60) for row in rows]) for i in range(len(head))]

    def line(cells):
        out = []
        for i, c in enumerate(cells):
            c = c if len(c) <= 60 else c[:57] + "..."
            out.append(c.ljust(widths[i]))
        return "  ".join(out).rstrip()
    print(line(head))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))
    what = f"{matched} of {total} match '{args.reason}'" if args.reason else f"{total} in total"
    print(f"({len(rows)} shown; {what} in {args.topic})")


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
    report = wait_until(args.pipeline_dir, args.expected, args.timeout, args.interval, args.settle,
                        base, args.quiet, args.report)
    if args.report:
        json.dump(report, open(args.report, "w"), indent=1)


def wait_until(pipeline_dir, expected, timeout, interval, settle, base, quiet, report_file=None,
               out=sys.stdout):
    """Waits until table rows + DLQ records reach `expected` (and, with settle, hold still with
    no consumer lag). Returns the report (snapshot, each stage's records and busy seconds since
    `base`); on timeout prints the lagging stage and exits 1."""
    t0 = time.time()
    deadline = t0 + timeout
    first, last, prev_counts = {}, {}, {}
    base_time = base["time"] if base else t0
    next_full = 0.0
    snap = None
    reached_at = None
    stable = 0
    prev_key = None
    stages = stage_ids(pipeline_dir)
    while True:
        now = time.time()
        light = {s: stage_counters(pipeline_dir, s) for s in stages}
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
            snap = take_snapshot(pipeline_dir)
            snap["stages"] = light
            total = snap["rows"] + snap["dlq"]
            if not quiet:
                print(progress_line(snap, expected, t0), file=out, flush=True)
            next_full = now + interval
            if total >= expected:
                if reached_at is None:
                    reached_at = now
                if not settle:
                    break
                key = (snap["rows"], snap["dlq"], tuple(stage_count(light[s]) for s in stages))
                lags = sum(light[s].get("lag", 0) for s in stages[1:])
                stable = stable + 1 if key == prev_key and lags == 0 else 0
                prev_key = key
                if stable >= 2:
                    break
                next_full = now + 1.0
            if now >= deadline:
                print(f"timeout after {timeout}s: table {snap['rows']} + DLQ {snap['dlq']} = "
                      f"{total}, expected {expected}. Lagging: {lagging(snap, expected)}",
                      file=sys.stderr, flush=True)
                if report_file:
                    json.dump({"snapshot": snap, "ok": False}, open(report_file, "w"), indent=1)
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
    return report


def count_csv(path):
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        next(reader, None)
        return sum(1 for _ in reader)


def cmd_count_csv(args):
    print(count_csv(args.file))


def log_lines(pdir, daemon):
    try:
        with open(os.path.join(pdir, "logs", f"{daemon}.log"), "rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def cmd_feed(args):
    name = os.path.basename(args.file)
    rows = count_csv(args.file)
    record = {"file": os.path.abspath(args.file), "name": name, "rows": rows,
              "fed_as": os.path.join(os.path.abspath(args.inbox), name)}
    if args.pipeline_dir:
        record["baseline"] = take_snapshot(args.pipeline_dir)
        record["log_lines"] = log_lines(args.pipeline_dir, "producer")
    os.makedirs(args.inbox, exist_ok=True)
    hidden = os.path.join(args.inbox, f".{name}.part")
    shutil.copyfile(args.file, hidden)
    os.replace(hidden, record["fed_as"])
    record["time"] = time.time()
    if args.pipeline_dir:
        for old in ("last-report.json",):
            try:
                os.remove(os.path.join(args.pipeline_dir, old))
            except FileNotFoundError:
                pass
        with open(os.path.join(args.pipeline_dir, "last-feed.json"), "w") as f:
            json.dump(record, f, indent=1)
    print(f"fed {name}: {rows} data rows -> {args.inbox}/")


def producer_verdict(pdir, feed):
    """The producer's JSON log line about the fed file since the feed: ingested or known."""
    try:
        with open(os.path.join(pdir, "logs", "producer.log"), encoding="utf-8", errors="replace") as f:
            lines = f.readlines()[feed.get("log_lines", 0):]
    except FileNotFoundError:
        return None
    found = None
    suffix = "/" + feed["name"]
    for line in lines:
        try:
            j = json.loads(line)
        except ValueError:
            continue
        msg = str(j.get("msg", ""))
        if str(j.get("file", "")).endswith(suffix) and (msg == "file ingested" or msg.startswith("file already ingested")):
            found = j
    return found


def dedupe_rules(pdir):
    """(name, key, window) of each dedupe rule in the effective pipeline file."""
    rules, cur = [], None
    in_rules = False
    with open(os.path.join(pdir, "effective.yaml"), encoding="utf-8") as f:
        for line in f:
            if re.match(r"^\S", line):
                in_rules = False
            if re.match(r"^  rules:", line):
                in_rules = True
                continue
            if not in_rules:
                continue
            m = re.match(r"^    - type:\s*(\S+)", line)
            if m:
                cur = {"type": m.group(1)}
                rules.append(cur)
                continue
            m = re.match(r"^      (name|key|window):\s*(.*?)\s*$", line)
            if m and cur is not None:
                cur[m.group(1)] = m.group(2).strip("'\"")
    return [(r.get("name", "dedupe"), r.get("key", "?").strip("[]"), r.get("window", "?"))
            for r in rules if r["type"] == "dedupe"]


def rows_read_total(pipeline):
    """Every row the producer has read, from its positions topic (last record per key)."""
    return sum(int(p.get("records", 0)) + int(p.get("rejected", 0)) for p in positions(pipeline).values())


def positions(pipeline):
    """The producer's committed positions (last record per key), decoded. sluice-replay's state
    records (keys "sluice-replay/<stage>", services/replay/README.md) are not the producer's."""
    last = {}
    for env in read_topic(f"{pipeline}.positions", kafka_brokers()):
        if (env.get("key") or "").startswith("sluice-replay/"):
            continue
        try:
            last[env.get("key")] = json.loads(env.get("payload") or "null")
        except ValueError:
            continue
    return {k: v for k, v in last.items() if v}


def cmd_wait_read(args):
    """Waits until every source of the pipeline has read what it has (a csv file done, an http
    source's sweep done), then until table rows + DLQ records = what was read, settled."""
    pipeline = os.path.basename(os.path.normpath(args.pipeline_dir))
    deadline = time.time() + args.timeout
    while True:
        pos = positions(pipeline)
        if pos and all(p.get("done") or p.get("sweep_done") for p in pos.values()):
            break
        if time.time() >= deadline:
            sys.exit(f"{pipeline}: the producer has not read everything within {args.timeout:.0f}s "
                     f"(positions: {json.dumps(pos)[:300]})")
        time.sleep(0.5)
    wait_until(args.pipeline_dir, rows_read_total(pipeline), max(1.0, deadline - time.time()),
               args.interval, True, None, args.quiet)


def build_summary(pdir, args):
    """The summary as data; also drives the wait for the last fed file."""
    feed = None
    try:
        feed = json.load(open(os.path.join(pdir, "last-feed.json")))
    except FileNotFoundError:
        pass
    report = None
    if feed and "baseline" in feed:
        rep_file = os.path.join(pdir, "last-report.json")
        try:
            report = json.load(open(rep_file))
            if report.get("feed_time") != feed["time"]:
                report = None
        except (FileNotFoundError, ValueError):
            report = None
        if report is None:
            if args.progress:
                print(f"waiting for the producer to read {feed['name']} ...", file=sys.stderr, flush=True)
            deadline = time.time() + args.timeout
            verdict = producer_verdict(pdir, feed)
            while verdict is None:
                if time.time() >= deadline:
                    sys.exit(f"the producer did not report on {feed['fed_as']} within {args.timeout:.0f}s "
                             f"(log: {pdir}/logs/producer.log)")
                time.sleep(0.5)
                verdict = producer_verdict(pdir, feed)
            base = feed["baseline"]
            rerun = str(verdict["msg"]).startswith("file already ingested")
            read = 0 if rerun else int(verdict.get("records", 0)) + int(verdict.get("rejected", 0))
            report = wait_until(pdir, base["rows"] + base["dlq"] + read, max(1.0, deadline - time.time()),
                                args.interval, True, base, not args.progress, out=sys.stderr)
            report["verdict"] = verdict
            report["feed_time"] = feed["time"]
            json.dump(report, open(rep_file, "w"), indent=1)
        snap = report["snapshot"]
    else:
        snap = take_snapshot(pdir)
    records = [record_view(e) for e in read_topic(snap["dlq_topic"], kafka_brokers())]
    dlq = dlq_summary(records, snap["dlq_topic"])
    pipeline = os.path.basename(os.path.normpath(pdir))  # deploy/local/pipeline keeps .stack/pipelines/<p>
    dedupes = dedupe_rules(pdir)
    dedupe_names = {n for n, _, _ in dedupes} or {"duplicate"}
    dups = sum(n for k, n in dlq["by_rule"].items() if k.split("/", 1)[-1] in dedupe_names)
    out = {"pipeline": pipeline, "table": snap["table"], "dlq_topic": snap["dlq_topic"],
           "loaded": snap["rows"], "rejected": snap["dlq"],
           "rejected_by_stage": dlq["by_stage"], "rejected_by_rule": dlq["by_rule"],
           "rejected_by_reason": dlq["by_reason"], "duplicates": dups,
           "duplicate_rules": [{"rule": n, "key": k, "window": w} for n, k, w in dedupes],
           "duplicate_origins": dlq["duplicate_origins"]}
    if report:
        verdict = report["verdict"]
        rerun = str(verdict["msg"]).startswith("file already ingested")
        base = feed["baseline"]
        out["file"] = {"name": feed["name"], "rows": feed["rows"], "fed_as": feed["fed_as"]}
        out["rows_in"] = feed["rows"]
        out["read"] = {"rerun": rerun, "first_read_as": verdict.get("first_read_as"),
                       "rows": 0 if rerun else int(verdict["records"]) + int(verdict["rejected"]),
                       "to_raw": 0 if rerun else int(verdict["records"]),
                       "malformed": 0 if rerun else int(verdict["rejected"])}
        out["baseline"] = {"loaded": base["rows"], "rejected": base["dlq"]}
        out["changed"] = (snap["rows"], snap["dlq"]) != (base["rows"], base["dlq"])
        out["throughput"] = None if rerun else {
            s: {"records": st["records"], "busy_seconds": st["busy_seconds"],
                "records_per_second": st["records_per_second"]} for s, st in report["stages"].items()}
        out["end_to_end_seconds"] = None if rerun else round(report["reached_seconds"], 2)
    else:
        out["file"] = None
        out["rows_in"] = rows_read_total(pipeline)
        out["read"] = {"rows": out["rows_in"]}
        out["throughput"] = None
    # Rows in = loaded + rejected. For a fed file: its rows against what this run added to the
    # table and the DLQ (the totals when the pipeline was empty before, or when the file was
    # known already and nothing was read).
    acc = {"rows_in": out["rows_in"], "loaded": snap["rows"], "rejected": snap["dlq"], "this_file": False}
    if report and not out["read"]["rerun"] and (out["baseline"]["loaded"] or out["baseline"]["rejected"]):
        acc.update(loaded=snap["rows"] - out["baseline"]["loaded"],
                   rejected=snap["dlq"] - out["baseline"]["rejected"], this_file=True)
    acc["ok"] = acc["rows_in"] == acc["loaded"] + acc["rejected"]
    out["accounting"] = acc
    out["accounting_ok"] = acc["ok"]
    return out


def print_summary(s):
    w = 24

    def row(k, v):
        print(f"  {k:<{w}} {v}")
    read = s["read"]
    if s["file"]:
        row("rows in the file", f"{s['file']['rows']}")
        if read["rerun"]:
            row("rows read (this run)", f"0: the producer recognised the file (same content, first read as "
                f"{read.get('first_read_as') or '?'}) and read nothing")
        else:
            row("rows read (this run)", f"{read['rows']} ({read['to_raw']} to the raw topic, "
                f"{read['malformed']} malformed to the DLQ)")
    else:
        row("rows read (all sources)", f"{read['rows']} (the producer's positions: every record and "
            "rejected page its sources read; no file fed with 'sluice pipeline feed' here)")
    row("loaded", f"{s['loaded']} rows in table {s['table']}")
    row("rejected", f"{s['rejected']} records in the DLQ topic {s['dlq_topic']}")
    for reason, n in s["rejected_by_reason"].items():
        row("", f"{n:>6}  {reason}")
    rules = s["duplicate_rules"]
    how = "; ".join(f"the cleaner's rule '{r['rule']}': same {r['key']} within {r['window']}" for r in rules)
    row("duplicates", f"{s['duplicates']} ({'rejected by ' + how if rules else 'no dedupe rule'})")
    a = s["accounting"]
    rows_in_what = "rows in" if s["file"] else "rows read"
    if a["this_file"]:
        row("accounting", f"rows in {a['rows_in']} = loaded +{a['loaded']} + rejected +{a['rejected']} "
            f"(added by this file): {'yes' if a['ok'] else 'NO'}")
    else:
        row("accounting", f"{rows_in_what} {a['rows_in']} = loaded {a['loaded']} + rejected {a['rejected']}: "
            f"{'yes' if a['ok'] else 'NO'}")
    if s["duplicate_origins"]:
        row("", f"WARNING: {s['duplicate_origins']} DLQ origins appear more than once")
    print()
    if s["file"] and read["rerun"]:
        b = s["baseline"]
        print(f"  Second run: the same file was fed again. {'SOMETHING CHANGED: ' if s['changed'] else 'Nothing changed: '}"
              f"table {b['loaded']} -> {s['loaded']} rows, DLQ {b['rejected']} -> {s['rejected']} records "
              "(re-feeding a file is idempotent).")
        print(f"  Throughput: nothing new went through the daemons in this run; run "
              f"'sluice pipeline down {s['pipeline']}' and wipe the topics/table for a fresh measurement.")
    elif s["throughput"]:
        print("  Throughput per stage (records taken in by each daemon during this run, over the time it was busy;")
        print("  polled every 0.5 s, so short runs are coarse):")
        names = {"producer": "producer (rows read)", "cleaner": "cleaner", "enricher": "enricher",
                 "pg-sink": "pg-sink (records in)"}
        for st_name, st in s["throughput"].items():
            rate = f"{st['records_per_second']:>9,.0f} records/s" if st["records"] else "        - "
            print(f"    {names.get(st_name, st_name):<22} {st['records']:>7} records  {st['busy_seconds']:>6.1f} s busy  {rate}")
        print(f"    end to end: the last row reached PostgreSQL {s['end_to_end_seconds']:.1f} s after the file was dropped")
    else:
        print("  Throughput: measured per fed file; feed one with 'sluice pipeline feed', then ask for the summary.")


def cmd_summary(args):
    s = build_summary(args.pipeline_dir, args)
    if args.json:
        print(json.dumps(s, indent=1))
    else:
        print_summary(s)
    # Scripts and CI can rely on the exit code: rows in != loaded + rejected is a failure.
    if s.get("accounting_ok") is False:
        sys.exit(1)


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
    wr = sub.add_parser("wait-read")
    wr.add_argument("pipeline_dir")
    wr.add_argument("--timeout", type=float, default=600)
    wr.add_argument("--interval", type=float, default=3)
    wr.add_argument("--quiet", action="store_true")
    f = sub.add_parser("feed")
    f.add_argument("file")
    f.add_argument("inbox")
    f.add_argument("--pipeline-dir")
    su = sub.add_parser("summary")
    su.add_argument("pipeline_dir")
    su.add_argument("--json", action="store_true")
    su.add_argument("--timeout", type=float, default=600)
    su.add_argument("--interval", type=float, default=3)
    su.add_argument("--progress", action="store_true")
    ds = sub.add_parser("dlq-show")
    ds.add_argument("topic")
    ds.add_argument("--reason")
    ds.add_argument("--limit", type=int, default=50)
    ds.add_argument("--json", action="store_true")
    a = p.parse_args()
    {"dlq": cmd_dlq, "metric": cmd_metric, "count-csv": cmd_count_csv,
     "snapshot": cmd_snapshot, "wait": cmd_wait, "wait-read": cmd_wait_read, "feed": cmd_feed, "summary": cmd_summary,
     "dlq-show": cmd_dlq_show}[a.cmd](a)


if __name__ == "__main__":
    main()
