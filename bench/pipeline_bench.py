#!/usr/bin/env python3
"""The measurements of bench/run (see bench/README.md); bench/run checks the environment and
calls this with bench/python/.venv's Python. Standard library only, except the Kafka latency
baseline (bench/python/kafka_latency.py, confluent-kafka) and the Python pipeline it starts.

Per repetition (--repeat K; every figure is the median of the K):
  1. Sluice end to end: a private loans instance, all four daemons; the clock runs from the file
     landing in the inbox to the sink's last commit (its sluice_records_out_total, polled every
     20 ms, plus every daemon's rejects); CPU seconds of each daemon from /proc/<pid>/stat over
     the run; peak RSS (VmHWM); the rows and DLQ records are then counted exactly.
  2. Python end to end: the same file through bench/python/pipeline.py (four processes), timed,
     CPU and RSS the same way, its rows and DLQ records counted; then both tables are compared
     (SQL EXCEPT both ways over every column of the enriched schema) and both DLQs by
     stage/rule. A difference fails the run.
  3. Each stage alone, on a fresh instance: the producer from the file to the raw topic (from
     the drop); then the cleaner alone on the filled raw topic, the enricher alone on the filled
     clean topic, the sink alone on the filled enriched topic (each from its first record in to
     its last record out); then a raw COPY of the sink's rows into the same table (the baseline).
  4. Latency: a fresh instance fed in paced chunks at half this repetition's end-to-end rate; p50/p99
     from the sink's sluice_end_to_end_seconds histogram (source timestamp -> row committed);
     then Kafka's own produce->consume latency at the same rate on the same broker.
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PIPE = os.path.join(ROOT, "deploy/local/pipeline")
TOOL = os.path.join(ROOT, "deploy/local/lib/pipeline_tool.py")
sys.path.insert(0, os.path.dirname(TOOL))
import pipeline_tool  # noqa: E402  (the local stack's tool: metrics parsing, effective values)
COPY = os.path.join(ROOT, "deploy/local/lib/pipeline_copy.py")
PIPELINE_FILE = os.path.join(ROOT, "pipelines/loans/pipeline.yaml")
PYDIR = os.path.join(ROOT, "bench/python")
DAEMONS = ["producer", "cleaner", "enricher", "pg-sink"]
TICK = os.sysconf("SC_CLK_TCK")
POLL = 0.02


def say(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class BenchError(Exception):
    pass


def run(*cmd, check=True, quiet=True, **kw):
    p = subprocess.run(list(cmd), stdout=subprocess.PIPE if quiet else None, stderr=subprocess.PIPE, text=True, **kw)
    if check and p.returncode != 0:
        raise BenchError(f"{' '.join(cmd[:4])} failed ({p.returncode}): {(p.stderr or '')[-800:]}")
    return p.stdout or ""


def psql(sql):
    return run("psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql).strip()


def cpu_seconds(pid):
    """utime + stime of the whole process (all threads, librdkafka's included)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return None


def peak_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def metrics(port):
    """{series name: sum} and the raw text of a /metrics page; {} when it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as r:
            text = r.read().decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - a daemon that does not answer counts as nothing yet
        return {}, ""
    return dict(pipeline_tool.parse_metrics(text)), text


def histogram(text, name):
    """[(upper bound, cumulative count)] of a Prometheus histogram, summed over label sets."""
    acc = {}
    for line in text.splitlines():
        if line.startswith(name + "_bucket"):
            m = re.search(r'le="([^"]+)"', line)
            le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
            acc[le] = acc.get(le, 0.0) + float(line.rsplit(" ", 1)[1])
    return sorted(acc.items())


def quantile(buckets, q):
    """Linear interpolation inside the bucket holding the q-quantile (Prometheus' method)."""
    total = buckets[-1][1] if buckets else 0
    if total <= 0:
        return None
    rank, lo, below = q * total, 0.0, 0.0
    for le, cum in buckets:
        if cum >= rank:
            if le == float("inf"):
                return lo
            return lo + (le - lo) * ((rank - below) / max(cum - below, 1e-12))
        lo, below = le, cum
    return lo


def feed(path, inbox, name=None):
    dst = os.path.join(inbox, name or os.path.basename(path))
    tmp = os.path.join(inbox, ".feed.part")
    shutil.copyfile(path, tmp)
    os.rename(tmp, dst)


class Sluice:
    """A private instance of the loans pipeline (own topics, table, groups), run by
    deploy/local/pipeline under STACK_DIR/pipelines/<name>."""

    def __init__(self, b, tag, poll="200ms"):
        self.b, self.name = b, f"{b.run}_{tag}"
        self.inbox = os.path.join(b.tmp, f"inbox_{tag}")
        os.makedirs(self.inbox, exist_ok=True)
        self.yaml = os.path.join(b.tmp, f"{self.name}.yaml")
        run(sys.executable, COPY, "--src", PIPELINE_FILE, "--out", self.yaml, "--name", self.name,
            "--inbox", self.inbox, "--poll", poll)
        self.dir = os.path.join(b.stack_dir, "pipelines", self.name)
        self.table, self.dlq = self.name, f"{self.name}.dlq"
        b.instances.append(self)

    def up(self, only=None):
        cmd = [PIPE, "up", self.yaml] + (["--only", ",".join(only)] if only else [])
        with open(os.path.join(self.b.out, f"{self.name}-up.log"), "a") as log:
            p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=log)
        if p.returncode != 0:
            raise BenchError(f"pipeline up {self.name} failed: see {self.b.out}/{self.name}-up.log")

    def port(self, d):
        try:
            return open(os.path.join(self.dir, "ports", d)).read().strip() or None
        except FileNotFoundError:
            return None

    def pid(self, d):
        try:
            return int(open(os.path.join(self.dir, "pids", f"{d}.pid")).read().strip())
        except (FileNotFoundError, ValueError):
            return None

    def metrics(self, d):
        port = self.port(d)
        return metrics(port) if port else ({}, "")

    def start(self, d):
        """Starts one daemon in the background (pipeline start returns once it is ready, by
        which time it may have read records: the clock must see the first)."""
        try:
            os.remove(os.path.join(self.dir, "ports", d))
        except FileNotFoundError:
            pass
        log = open(os.path.join(self.b.out, f"{self.name}-up.log"), "a")
        return subprocess.Popen([PIPE, "start", self.name, d], stdout=subprocess.DEVNULL, stderr=log)

    def kill(self, d):
        run(PIPE, "kill", self.name, d, check=False)
        deadline = time.time() + 60
        pid = self.pid(d)
        while pid and os.path.exists(f"/proc/{pid}") and time.time() < deadline:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            time.sleep(0.1)

    def down(self):
        run(PIPE, "down", self.name, check=False)

    def knobs(self):
        """The effective batch size and linger of each stage (the daemons' defaults included), from
        the effective configuration `pipeline up` saved: the Python pipeline runs with the same."""
        sys.path.insert(0, PYDIR)
        import rules  # noqa: PLC0415
        out = {}
        for stage, section, linger_key, default_linger in (("producer", "producer", None, "200ms"),
                                                           ("cleaner", "cleaner", "linger", "200ms"),
                                                           ("enricher", "enricher", "linger", "200ms"),
                                                           ("sink", "sink", "batch_linger", "500ms")):
            batch = pipeline_tool.effective_value(self.dir, section, "batch_size") or "1000"
            linger = (pipeline_tool.effective_value(self.dir, section, linger_key) if linger_key else None) or default_linger
            out[stage] = (int(batch), rules.duration_ms(linger) / 1000)
        return out

    def rows(self):
        if psql(f"SELECT to_regclass('\"{self.table}\"') IS NOT NULL") != "t":
            return 0
        return int(psql(f'SELECT count(*) FROM "{self.table}"'))


class PyPipeline:
    """bench/python/pipeline.py as four processes (started and stopped by this script)."""

    def __init__(self, b, tag):
        self.b, self.name = b, f"{b.run}_{tag}"
        self.inbox = os.path.join(b.tmp, f"inbox_{tag}")
        os.makedirs(self.inbox, exist_ok=True)
        self.table, self.dlq = self.name, f"{self.name}.dlq"
        self.procs = {}
        b.py_instances.append(self)

    def status_file(self, s):
        return os.path.join(self.b.tmp, f"{self.name}-{s}.json")

    def status(self, s):
        try:
            with open(self.status_file(s)) as f:
                return json.load(f)
        except (FileNotFoundError, ValueError):
            return {}

    def up(self, knobs):
        """Starts the four processes with Sluice's effective batch sizes and lingers (`knobs`:
        stage -> (records per transaction, seconds))."""
        for s in ["sink", "enricher", "cleaner", "producer"]:
            log = open(os.path.join(self.b.out, f"{self.name}-{s}.log"), "w")
            batch, linger = knobs[s]
            self.procs[s] = subprocess.Popen(
                [self.b.venv_python, os.path.join(PYDIR, "pipeline.py"), s, "--pipeline", PIPELINE_FILE,
                 "--name", self.name, "--inbox", self.inbox, "--status", self.status_file(s),
                 "--batch", str(batch), "--linger", str(linger)],
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while True:
            st = {s: self.status(s) for s in self.procs}
            if all(st[s] for s in self.procs) and all(st[s].get("assigned") for s in ("cleaner", "enricher", "sink")):
                return
            for s, p in self.procs.items():
                if p.poll() is not None:
                    raise BenchError(f"python {s} exited ({p.returncode}): see {self.b.out}/{self.name}-{s}.log")
            if time.time() > deadline:
                raise BenchError("the python pipeline did not get ready in 120 s")
            time.sleep(0.1)

    def pid(self, s):
        return self.procs[s].pid

    def down(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = {}


def kafka_admin():
    from confluent_kafka.admin import AdminClient  # noqa: PLC0415 - bench/python/.venv has it
    return AdminClient({"bootstrap.servers": os.environ["SLUICE_KAFKA_BROKERS"], "log_level": 4})


def log_append_time(topics, partitions=6):
    """Sets message.timestamp.type=LogAppendTime on `topics` (created when missing)."""
    from confluent_kafka.admin import (AlterConfigOpType, ConfigEntry, ConfigResource,  # noqa: PLC0415
                                       NewTopic)
    admin = kafka_admin()
    have = admin.list_topics(timeout=10).topics
    new = [NewTopic(t, partitions, 1, config={"message.timestamp.type": "LogAppendTime"})
           for t in topics if t not in have]
    for f in (admin.create_topics(new).values() if new else []):
        f.result()
    res = [ConfigResource(ConfigResource.Type.TOPIC, t, incremental_configs=[
        ConfigEntry("message.timestamp.type", "LogAppendTime", incremental_operation=AlterConfigOpType.SET)])
        for t in topics if t in have]
    for f in (admin.incremental_alter_configs(res).values() if res else []):
        f.result()


def first_append(topics, since):
    """The earliest broker append time (seconds) of a record at or after `since` in `topics`."""
    from confluent_kafka import Consumer, TopicPartition  # noqa: PLC0415
    c = Consumer({"bootstrap.servers": os.environ["SLUICE_KAFKA_BROKERS"], "group.id": "bench-first-append",
                  "enable.auto.commit": False, "isolation.level": "read_uncommitted", "log_level": 4})
    best = None
    try:
        md = c.list_topics(timeout=10).topics
        tps = [TopicPartition(t, p, int(since * 1000)) for t in topics if t in md for p in md[t].partitions]
        for tp in c.offsets_for_times(tps, timeout=10):
            if tp.offset < 0:
                continue
            c.assign([tp])
            deadline = time.time() + 10
            while time.time() < deadline:
                m = c.poll(0.5)
                if m is None or m.error():
                    continue
                ts = m.timestamp()[1] / 1000
                if ts >= since and (best is None or ts < best):
                    best = ts
                break
    finally:
        c.close()
    return best


def dlq_by_rule(topic):
    """(total, {stage/rule: count}, duplicate origins, {stage/rule: reason: count})."""
    out = run(sys.executable, TOOL, "dlq", topic)
    d = json.loads(out)
    return d["total"], d["by_rule"], d["duplicate_origins"], d["by_reason"]


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


class Bench:
    def __init__(self, a):
        self.a = a
        self.run = a.run
        self.tmp, self.out, self.stack_dir = a.tmp, a.out, a.stack_dir
        self.venv_python = a.python
        self.instances, self.py_instances = [], []
        self.knobs = None
        self.results = {"rows": a.rows, "seed": a.seed, "repeat": a.repeat, "runs": []}
        self.data = os.path.join(self.tmp, "synthetic.csv")

    # --- 1. Sluice end to end --------------------------------------------------------------
    def sluice_e2e(self, r):
        rows = self.a.rows
        inst = Sluice(self, f"e2e{r}")
        inst.up()
        self.knobs = inst.knobs()
        pids = {d: inst.pid(d) for d in DAEMONS}
        cpu0 = {d: cpu_seconds(p) for d, p in pids.items()}
        say(f"sluice end to end {r}: {rows} rows through producer -> cleaner -> enricher -> pg-sink")
        t0 = time.time()
        feed(self.data, inst.inbox)
        t_end, stages = self.clock(
            lambda: inst.metrics("pg-sink")[0],
            {d: (lambda d=d: inst.metrics(d)[0]) for d in DAEMONS[:-1]}, rows, t0)
        cpu = {d: (cpu_seconds(p) - cpu0[d]) if cpu_seconds(p) is not None and cpu0[d] is not None else None
               for d, p in pids.items()}
        rss = {d: peak_rss_kib(inst.pid(d)) for d in DAEMONS}
        rss["registry"] = peak_rss_kib(self.a.registry_pid) if self.a.registry_pid else None
        cm, _ = inst.metrics("cleaner")
        dedupe_metric = {k: v for k, v in cm.items() if "dedupe" in k}
        inst.down()
        table, (dlq, by_rule, dups, by_reason) = inst.rows(), dlq_by_rule(inst.dlq)
        res = {"by_reason": by_reason, "seconds": t_end - t0, "rate": rows / (t_end - t0), "cpu": cpu, "rss_kib": rss,
               "stages": stages, "table_rows": table, "dlq": dlq, "by_rule": by_rule, "dlq_duplicates": dups,
               "dedupe_keys": dedupe_metric or stages["cleaner"]["out"]}
        self.check_accounting("sluice", res)
        return inst, res

    def clock(self, sink_counters, upstream, rows, t0):
        """Polls the sink's counters every 20 ms (the others every 250 ms) until the sink's rows
        out plus every stage's rejects reach `rows`; returns the end time (the first poll that
        saw the final counts) and each stage's records, first/last activity and rate."""
        deadline = t0 + self.a.timeout
        up_c, up_t, last_up = {}, {}, 0.0
        first, last, prev = {}, {}, {}
        sink_out, sink_rej, t_sink = 0, 0, None
        prev_sink_poll, prev_up_poll = t0, t0
        while True:
            now = time.time()
            m = sink_counters()
            out, rej = int(m.get("sluice_records_out_total", 0)), int(m.get("sluice_records_rejected_total", 0))
            if out + rej != sink_out + sink_rej:
                t_sink = now
            if out and "sink" not in first:
                first["sink"] = prev_sink_poll  # it began after the last poll that saw nothing
            sink_out, sink_rej = out, rej
            prev_sink_poll = now
            if now - last_up >= 0.25 or sink_out + sink_rej + sum(c[1] for c in up_c.values()) >= rows:
                last_up = now
                for d, f in upstream.items():
                    um = f()
                    c = (int(um.get("sluice_records_in_total", 0)) or
                         int(um.get("sluice_records_out_total", 0)) + int(um.get("sluice_records_rejected_total", 0)),
                         int(um.get("sluice_records_rejected_total", 0)),
                         int(um.get("sluice_records_out_total", 0)))
                    if c != prev.get(d):
                        up_t[d] = now
                        if c[0] and d not in first:
                            first[d] = prev_up_poll
                    prev[d] = c
                    up_c[d] = c
                prev_up_poll = now
            total = sink_out + sink_rej + sum(c[1] for c in up_c.values())
            if total >= rows:
                end = max([t_sink or now] + [up_t.get(d, t0) for d in up_c if up_c[d][1]])
                break
            if now > deadline:
                raise BenchError(f"timeout: sink {sink_out} rows + rejects {total - sink_out} of {rows} "
                                 f"(stages: {up_c})")
            time.sleep(POLL)
        # Busy time: from the last poll that saw nothing to the first that saw the final count
        # (an upper bound, so the rate is a lower bound). Counters move when a batch commits, and
        # upstream ones are polled every 250 ms: under half a second this says nothing.
        stages = {}
        for d, c in up_c.items():
            n = c[0]
            busy = up_t.get(d, now) - first.get(d, t0)
            stages[d] = {"records": n, "out": c[2], "rejected": c[1], "seconds": busy,
                         "rate": n / busy if busy >= 0.5 else None}
        busy = (t_sink or now) - first.get("sink", t0)
        stages["pg-sink"] = {"records": sink_out, "out": sink_out, "rejected": sink_rej, "seconds": busy,
                             "rate": sink_out / busy if busy >= 0.5 else None}
        return end, stages

    def check_accounting(self, who, res, rows=None):
        rows = rows or self.a.rows
        if res["table_rows"] + res["dlq"] != rows or res["dlq_duplicates"]:
            raise BenchError(f"{who}: row accounting broken: table {res['table_rows']} + DLQ {res['dlq']} != "
                             f"{rows} rows in, or {res['dlq_duplicates']} duplicate DLQ origins")

    # --- 2. Python end to end ----------------------------------------------------------------
    def python_e2e(self, r):
        rows = self.a.rows
        py = PyPipeline(self, f"py{r}")
        py.up(self.knobs)
        stages_py = ["producer", "cleaner", "enricher", "sink"]
        pids = {s: py.pid(s) for s in stages_py}
        cpu0 = {s: cpu_seconds(p) for s, p in pids.items()}
        say(f"python end to end {r}: the same rows through bench/python/pipeline.py")
        t0 = time.time()
        feed(self.data, py.inbox)

        def as_metrics(s):
            st = py.status(s)
            return {"sluice_records_in_total": st.get("in", 0), "sluice_records_out_total": st.get("out", 0),
                    "sluice_records_rejected_total": st.get("rejected", 0)}
        t_end, stages = self.clock(lambda: as_metrics("sink"),
                                   {s: (lambda s=s: as_metrics(s)) for s in stages_py[:-1]}, rows, t0)
        cpu = {s: cpu_seconds(p) - cpu0[s] for s, p in pids.items()}
        rss = {s: peak_rss_kib(p) for s, p in pids.items()}
        dedupe = py.status("cleaner").get("dedupe_keys")
        py.down()
        table, (dlq, by_rule, dups, by_reason) = int(psql(f'SELECT count(*) FROM "{py.table}"')), dlq_by_rule(py.dlq)
        res = {"by_reason": by_reason, "seconds": t_end - t0, "rate": rows / (t_end - t0), "cpu": cpu, "rss_kib": rss,
               "stages": {("pg-sink" if k == "sink" else k): v for k, v in stages.items()},
               "table_rows": table, "dlq": dlq, "by_rule": by_rule, "dlq_duplicates": dups, "dedupe_keys": dedupe}
        self.check_accounting("python", res)
        return py, res

    def compare(self, sl, py, sres, pres):
        """Same rows (every column of the enriched schema, EXCEPT both ways) and same rejects.
        Two things depend on the order records are consumed from the 6 partitions, which differs
        from run to run (two Sluice runs differ the same way): the flags of running-statistics
        rules (outlier zscore, impute) and the values impute fills in. Those flags are taken out
        of `flags` and an imputed value is compared as null; how many rows carry them is printed."""
        sys.path.insert(0, PYDIR)
        import rules  # noqa: PLC0415
        spec, schemas = rules.load_pipeline(PIPELINE_FILE)
        stateful, imputed = [], {}
        for o in spec["cleaner"]["rules"]:
            if o["type"] == "impute" or (o["type"] == "outlier" and o.get("method") == "zscore"):
                stateful.append(o["name"])
            if o["type"] == "impute":
                imputed[o["field"]] = o["name"]
        names = [f["name"] for f in schemas["enriched"]["fields"]]
        lit = ", ".join("'" + n.replace("'", "''") + "'" for n in stateful) or "''"
        exprs = []
        for n in names:
            q = f'"{n}"'
            if n == "flags":
                q = (f"NULLIF(array_to_string(ARRAY(SELECT f FROM unnest(string_to_array(flags, ',')) f "
                     f"WHERE f NOT IN ({lit})), ','), '')")
            elif n in imputed:
                q = f"CASE WHEN ',' || flags || ',' LIKE '%,{imputed[n]},%' THEN NULL ELSE {q} END"
            exprs.append(q)
        cols = ", ".join(exprs)
        only_s = int(psql(f'SELECT count(*) FROM (SELECT {cols} FROM "{sl.table}" EXCEPT SELECT {cols} FROM "{py.table}") x'))
        only_p = int(psql(f'SELECT count(*) FROM (SELECT {cols} FROM "{py.table}" EXCEPT SELECT {cols} FROM "{sl.table}") x'))
        order_dependent = {}
        for who, t in (("sluice", sl.table), ("python", py.table)):
            order_dependent[who] = {n: int(psql(f"SELECT count(*) FROM \"{t}\" WHERE ',' || flags || ',' LIKE '%,{n},%'"))
                                    for n in stateful}
        # Counts by stage/rule must be equal, and so must the counts by reason text (the reason
        # names the offending value, so this compares the rejects record by record in effect).
        same_rejects = sres["by_rule"] == pres["by_rule"] and sres.get("by_reason") == pres.get("by_reason")
        reason_diff = {k: (sres.get("by_reason", {}).get(k, 0), pres.get("by_reason", {}).get(k, 0))
                       for k in set(sres.get("by_reason", {})) | set(pres.get("by_reason", {}))
                       if sres.get("by_reason", {}).get(k, 0) != pres.get("by_reason", {}).get(k, 0)}
        ok = only_s == 0 and only_p == 0 and same_rejects
        cmp = {"rows_only_in_sluice": only_s, "rows_only_in_python": only_p, "same_rejects": same_rejects,
               "order_dependent_flags": order_dependent, "reasons_differing": len(reason_diff),
               "sluice_rejects": sres["by_rule"], "python_rejects": pres["by_rule"], "ok": ok}
        if not ok:
            bar = "!" * 78
            print(f"\n{bar}\nMISMATCH between Sluice and the Python pipeline:\n"
                  f"  rows only in Sluice's table {sl.table}: {only_s}\n"
                  f"  rows only in Python's table {py.table}: {only_p}\n"
                  f"  rejects by stage/rule: Sluice {sres['by_rule']}\n"
                  f"                         Python {pres['by_rule']}\n"
                  f"  reasons counted differently (Sluice, Python): {dict(list(reason_diff.items())[:20])}\n{bar}\n",
                  flush=True)
        return cmp

    # --- the bad-mix file through both (correctness only, not timed) --------------------------
    def check_bad_mix(self):
        """The synthetic rows are all valid, so the reject comparison needs bad rows: the real
        sample with seeded bad rows of every kind (tests/data/loans/loan_data.py bad-mix) goes
        through a Sluice instance and the Python pipeline; same rows and same rejects by
        stage/rule, and each matches the generator's expected counts."""
        d = os.path.join(self.tmp, "badmix")
        run(sys.executable, os.path.join(ROOT, "tests/data/loans/loan_data.py"), "bad-mix", "--seed", "7", "--out", d)
        path = os.path.join(d, "lending_club_bad_mix.csv")
        exp = json.load(open(os.path.join(d, "lending_club_bad_mix.expected.json")))
        items = exp["items"]
        say(f"correctness: the bad-mix file ({items} items, {exp['expected_rejected']} bad) through Sluice and Python")
        sl = Sluice(self, "chk", poll="20ms")
        sl.up()
        knobs = sl.knobs()
        t0 = time.time()
        feed(path, sl.inbox)
        self.clock(lambda: sl.metrics("pg-sink")[0], {x: (lambda x=x: sl.metrics(x)[0]) for x in DAEMONS[:-1]},
                   items, t0)
        sl.down()
        sres = {"table_rows": sl.rows()}
        sres["dlq"], sres["by_rule"], sres["dlq_duplicates"], sres["by_reason"] = dlq_by_rule(sl.dlq)
        self.check_accounting("sluice (bad-mix)", sres, items)
        py = PyPipeline(self, "pychk")
        py.up(knobs)
        t0 = time.time()
        feed(path, py.inbox)

        def as_metrics(x):
            st = py.status(x)
            return {"sluice_records_in_total": st.get("in", 0), "sluice_records_out_total": st.get("out", 0),
                    "sluice_records_rejected_total": st.get("rejected", 0)}
        self.clock(lambda: as_metrics("sink"), {x: (lambda x=x: as_metrics(x)) for x in ("producer", "cleaner", "enricher")},
                   items, t0)
        py.down()
        pres = {"table_rows": int(psql(f'SELECT count(*) FROM "{py.table}"'))}
        pres["dlq"], pres["by_rule"], pres["dlq_duplicates"], pres["by_reason"] = dlq_by_rule(py.dlq)
        self.check_accounting("python (bad-mix)", pres, items)
        cmp = self.compare(sl, py, sres, pres)
        expected = {}
        for b in exp["bad"]:
            expected[f"{b['stage']}/{b['rule']}"] = expected.get(f"{b['stage']}/{b['rule']}", 0) + 1
        cmp["matches_expected"] = sres["by_rule"] == expected and sres["table_rows"] == exp["expected_loaded"]
        cmp["items"], cmp["loaded"] = items, sres["table_rows"]
        if not cmp["matches_expected"]:
            print(f"\n!!! Sluice's rejects on the bad-mix file differ from the generator's expectation: "
                  f"{sres['by_rule']} vs {expected}\n", flush=True)
        cmp["ok"] = cmp["ok"] and cmp["matches_expected"]
        say(f"  same rows and rejects on the bad-mix file: {'yes' if cmp['ok'] else 'NO'} "
            f"({sres['table_rows']} rows, {sres['dlq']} rejects)")
        return cmp

    # --- 3. each stage alone -------------------------------------------------------------------
    def stages_alone(self, r):
        inst = Sluice(self, f"st{r}", poll="20ms")
        inst.up(only=["registry", "producer"])
        res = {}
        say(f"stages alone {r}: producer from the file to the raw topic")
        t0 = time.time()
        feed(self.data, inst.inbox)
        n = self.wait_counter(inst, "producer", self.a.rows, t0, from_first=False)
        res["producer"] = n
        raw = n["out"]
        inst.kill("producer")
        # The cleaner and enricher count records in only when a batch commits, so their metrics
        # cannot show the first record in. The broker can: with LogAppendTime on their output
        # topics, the first record a stage writes (before its commit, a few ms after it read its
        # first record) carries the time the broker appended it.
        out_topics = {"cleaner": [f"{inst.name}.clean", inst.dlq], "enricher": [f"{inst.name}.enriched", inst.dlq]}
        log_append_time(sorted({t for ts in out_topics.values() for t in ts}))
        for d, want in (("cleaner", raw), ("enricher", None)):
            say(f"stages alone {r}: {d} alone on its filled input topic")
            started = time.time()
            starter = inst.start(d)
            n = self.wait_counter(inst, d, want if want is not None else res["cleaner"]["out"], time.time(),
                                  from_first=True)
            first = first_append(out_topics[d], started)
            if first is None:
                raise BenchError(f"{d} alone: no record of its output found on the broker")
            n["first_in_metrics_seconds"] = n["seconds"]
            n["seconds"] = n["end"] - first
            n["rate"] = n["records"] / n["seconds"]
            res[d] = n
            if starter.wait() != 0:
                raise BenchError(f"{d} did not start")
            inst.kill(d)
        loaded = res["enricher"]["out"]
        say(f"stages alone {r}: pg-sink alone on the filled enriched topic ({loaded} records)")
        starter = inst.start("pg-sink")
        res["pg-sink"] = self.wait_counter(inst, "pg-sink", loaded, time.time(), from_first=True)
        if starter.wait() != 0:
            raise BenchError("pg-sink did not start")
        inst.kill("pg-sink")
        if inst.rows() != loaded:
            raise BenchError(f"the sink reported {loaded} rows written but the table has {inst.rows()}")
        res["copy"] = self.copy_baseline(inst, loaded)
        inst.down()
        return res

    def wait_counter(self, inst, d, want, t0, from_first):
        """Polls one daemon every 20 ms until its records out + rejected reach `want`; the clock
        starts at t0 or (from_first) at the first poll that saw a record in."""
        deadline = time.time() + self.a.timeout
        t_first = None
        while True:
            m, _ = inst.metrics(d)
            now = time.time()
            if t_first is None and (m.get("sluice_records_in_total", 0) or m.get("sluice_records_out_total", 0)):
                t_first = now
            out, rej = int(m.get("sluice_records_out_total", 0)), int(m.get("sluice_records_rejected_total", 0))
            if out + rej >= want and want > 0:
                start = t_first if from_first else t0
                secs = max(now - start, 1e-9)
                return {"records": want, "out": out, "rejected": rej, "seconds": secs, "rate": want / secs,
                        "end": now}
            if now > deadline:
                raise BenchError(f"{d} alone: {out} out + {rej} rejected of {want} after {self.a.timeout}s")
            time.sleep(POLL)

    def copy_baseline(self, inst, loaded):
        """A raw COPY of the rows the sink wrote into the same table, emptied (psql \\timing)."""
        dump = os.path.join(self.tmp, f"{inst.name}.copy")
        run("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", f"\\copy \"{inst.table}\" TO '{dump}'")
        psql(f'TRUNCATE "{inst.table}"')
        out = run("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                  input=f"\\timing on\n\\copy \"{inst.table}\" FROM '{dump}'\n")
        ms = [float(x) for x in re.findall(r"Time: ([0-9.]+) ms", out)]
        copied = int(psql(f'SELECT count(*) FROM "{inst.table}"'))
        if copied != loaded or not ms:
            raise BenchError(f"baseline COPY loaded {copied} rows, expected {loaded}")
        return {"records": loaded, "seconds": ms[-1] / 1000, "rate": loaded / (ms[-1] / 1000)}

    # --- 4. latency at half the maximum rate -----------------------------------------------------
    def latency(self, rate, r):
        half = rate / 2
        interval = 0.25
        per_chunk = max(1, int(half * interval))
        with open(self.data) as f:
            header, lines = f.readline(), f.readlines()
        n_chunks = max(4, min(len(lines) // per_chunk, int(self.a.latency_seconds / interval)))
        n_chunks = min(n_chunks, len(lines) // per_chunk) or 1
        total = n_chunks * per_chunk
        inst = Sluice(self, f"lat{r}", poll="20ms")
        inst.up()
        # Each row's insert time (clock_timestamp() inside the sink's transaction, a few ms
        # before its commit): the sink names its columns, so the default fills this one.
        psql(f'ALTER TABLE "{inst.table}" ADD COLUMN bench_inserted_at timestamptz DEFAULT clock_timestamp()')
        sys.path.insert(0, PYDIR)
        import rules  # noqa: PLC0415
        spec, schemas = rules.load_pipeline(PIPELINE_FILE)
        ids = rules.Producer(spec, schemas["raw"])
        chunk_of = {}
        for i in range(n_chunks):
            text = header + "".join(lines[i * per_chunk:(i + 1) * per_chunk])
            for item in ids.rows(text, "chunk"):
                if item[0] == "emit":
                    chunk_of[item[2]["loan_id"]] = i
        dropped = {}
        _, before = inst.metrics("pg-sink")
        h0 = histogram(before, "sluice_end_to_end_seconds")
        say(f"latency: {total} rows in {n_chunks} files of {per_chunk} every {interval * 1000:.0f} ms "
            f"({per_chunk / interval:,.0f} rows/s, half this repetition's end-to-end rate)")
        t0 = time.time()
        for i in range(n_chunks):
            path = os.path.join(self.tmp, f"chunk_{i:05d}.csv")
            with open(path, "w") as f:
                f.write(header)
                f.writelines(lines[i * per_chunk:(i + 1) * per_chunk])
            target = t0 + i * interval
            time.sleep(max(0.0, target - time.time()))
            feed(path, inst.inbox)
            dropped[i] = time.time()
        self.clock(lambda: inst.metrics("pg-sink")[0],
                   {d: (lambda d=d: inst.metrics(d)[0]) for d in DAEMONS[:-1]}, total, t0)
        _, after = inst.metrics("pg-sink")
        h1 = histogram(after, "sluice_end_to_end_seconds")
        inserted = run("psql", "-X", "-q", "-tA", "-F", " ", "-v", "ON_ERROR_STOP=1", "-c",
                       f'SELECT loan_id, extract(epoch FROM bench_inserted_at) FROM "{inst.table}"')
        inst.down()
        per_row = sorted(float(t) - dropped[chunk_of[k]] for k, t in
                         (line.split(" ") for line in inserted.splitlines() if line.strip()) if k in chunk_of)
        b0 = dict(h0)
        delta = [(le, cum - b0.get(le, 0.0)) for le, cum in h1]
        res = {"rows": total, "rate": per_chunk / interval, "p50": quantile(delta, 0.5), "p99": quantile(delta, 0.99),
               "buckets": delta, "observed": delta[-1][1] if delta else 0,
               "drop_to_row": {"count": len(per_row), "p50": statistics.median(per_row) if per_row else None,
                               "p99": per_row[min(len(per_row) - 1, int(0.99 * len(per_row)))] if per_row else None,
                               "max": per_row[-1] if per_row else None}}
        say(f"latency: Kafka's own produce -> consume latency at {per_chunk / interval:,.0f} msgs/s")
        out = run(self.venv_python, os.path.join(PYDIR, "kafka_latency.py"), "--topic", f"{self.run}_lat{r}_kafka",
                  "--rate", str(per_chunk / interval), "--seconds", str(total / (per_chunk / interval)),
                  "--partitions", "6")
        res["kafka"] = json.loads(out.strip().splitlines()[-1])
        return res

    # --- orchestration -------------------------------------------------------------------------
    def main(self):
        a = self.a
        run(sys.executable, os.path.join(ROOT, "tests/data/loans/loan_data.py"), "synthetic", "--seed", str(a.seed),
            "--rows", str(a.rows), "--out", self.data)
        say(f"data: {a.rows} SYNTHETIC loan rows (seed {a.seed}), {os.path.getsize(self.data) / 1e6:.1f} MB")
        failed = False
        if not a.sink_only and not a.no_python:
            self.results["bad_mix"] = self.check_bad_mix()
            failed = not self.results["bad_mix"]["ok"]
            self.save()
        for r in range(1, a.repeat + 1):
            one = {}
            if not a.sink_only:
                sl, one["sluice"] = self.sluice_e2e(r)
                say(f"  sluice: {one['sluice']['seconds']:.2f} s, {one['sluice']['rate']:,.0f} records/s, "
                    f"CPU {sum(v for v in one['sluice']['cpu'].values() if v):.2f} s")
                if not a.no_python:
                    py, one["python"] = self.python_e2e(r)
                    say(f"  python: {one['python']['seconds']:.2f} s, {one['python']['rate']:,.0f} records/s, "
                        f"CPU {sum(one['python']['cpu'].values()):.2f} s")
                    one["compare"] = self.compare(sl, py, one["sluice"], one["python"])
                    failed = failed or not one["compare"]["ok"]
                    say(f"  same rows and rejects: {'yes' if one['compare']['ok'] else 'NO'}")
            one["alone"] = self.stages_alone(r)
            al = one["alone"]
            say("  alone: " + ", ".join(f"{d} {al[d]['rate']:,.0f}/s" for d in DAEMONS) +
                f"; COPY {al['copy']['rate']:,.0f} rows/s")
            if not a.sink_only and not a.no_latency:
                one["latency"] = self.latency(one["sluice"]["rate"], r)
                lat = one["latency"]
                say(f"  latency: p50/p99 {lat['drop_to_row']['p50'] * 1000:.0f}/{lat['drop_to_row']['p99'] * 1000:.0f} ms "
                    f"(Kafka alone {lat['kafka']['p50'] * 1000:.0f}/{lat['kafka']['p99'] * 1000:.0f} ms)")
            one["knobs"] = self.knobs
            self.results["runs"].append(one)
            self.save()
        summary = report(self.results)
        with open(os.path.join(self.out, "summary.txt"), "w") as f:
            f.write(summary)
        print(summary)
        if failed:
            print("bench: FAILED: Sluice and the Python pipeline gave different rows or rejects (see above)",
                  file=sys.stderr)
            return 1
        return 0

    def save(self):
        with open(os.path.join(self.out, "results.json"), "w") as f:
            json.dump(self.results, f, indent=1)

    def cleanup(self):
        for p in self.py_instances:
            p.down()
        for i in self.instances:
            i.down()
        if self.a.keep:
            return
        for i in self.instances + self.py_instances:
            psql(f'DROP TABLE IF EXISTS "{i.table}"')
            psql(f"DELETE FROM sluice_offsets WHERE consumer_group LIKE '%{i.name}%'")
            if isinstance(i, PyPipeline):
                psql(f"DELETE FROM bench_py_offsets WHERE consumer_group LIKE '%{i.name}%'")
            else:
                if os.path.isdir(os.path.join(i.dir, "logs")):
                    shutil.copytree(os.path.join(i.dir, "logs"), os.path.join(self.out, f"logs-{i.name}"),
                                    dirs_exist_ok=True)
                shutil.rmtree(i.dir, ignore_errors=True)
        self.delete_topics()

    def delete_topics(self):
        """The run's topics (every instance's, the latency baseline's; bench/run deletes the
        registry's once the registry has stopped)."""
        try:
            admin = kafka_admin()
            mine = [t for t in admin.list_topics(timeout=10).topics
                    if t.startswith(self.run + "_")]
            for f in admin.delete_topics(mine).values() if mine else []:
                try:
                    f.result()
                except Exception:  # noqa: BLE001 - best effort: a topic left behind is harmless
                    pass
        except Exception as e:  # noqa: BLE001
            print(f"bench: could not delete the run's topics: {e}", file=sys.stderr)


def fmt_rate(x):
    return "-" if x is None else f"{x:,.0f}"


def report(res):
    """The summary table: every figure as the median of the repetitions, with its ratio."""
    runs, rows = res["runs"], res["rows"]
    k = len(runs)

    def med(path):
        vals = []
        for r in runs:
            v = r
            for p in path:
                v = v.get(p) if isinstance(v, dict) else None
            if v is not None:
                vals.append(v)
        return median(vals), vals

    lines = [f"Sluice pipeline benchmark: {rows} SYNTHETIC loan rows, median of {k} run(s); "
             f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs", ""]
    copy_rate, copy_vals = med(["alone", "copy", "rate"])
    copy_rate = copy_rate or float("nan")
    row = "  {:<58} {:>13} {:>10}  {}"
    lines.append(row.format("figure", "median", "ratio", "runs / target"))
    lines.append(row.format("baseline: raw COPY of the sink's rows, rows/s", fmt_rate(copy_rate), "1.00x (COPY)",
                            ", ".join(fmt_rate(v) for v in copy_vals)))
    e2e, e2e_vals = med(["sluice", "rate"])
    pye2e, py_vals = med(["python", "rate"])
    if e2e is not None:
        lines.append(row.format("end to end, Sluice (file dropped -> last row), records/s", fmt_rate(e2e),
                                f"{e2e / copy_rate:.2f}x COPY", f"{', '.join(fmt_rate(v) for v in e2e_vals)}; target >= 0.50x COPY"))
        secs, _ = med(["sluice", "seconds"])
        lines.append(row.format("  seconds from drop to last row", f"{secs:.2f}", "", ""))
    if pye2e is not None:
        lines.append(row.format("end to end, plain Python pipeline, records/s", fmt_rate(pye2e),
                                f"{e2e / pye2e:.2f}x Sluice/Py", ", ".join(fmt_rate(v) for v in py_vals)))
    for d, target in (("producer", 200000), ("cleaner", 100000), ("enricher", 100000), ("pg-sink", None)):
        v, vals = med(["alone", d, "rate"])
        if v is None:
            continue
        ratio = f"{v / copy_rate:.2f}x COPY" if d == "pg-sink" else ""
        t = f"target >= {target:,}/s" if target else "target >= 0.80x COPY"
        what = {"producer": "rows/s (CSV -> raw topic, from the drop)", "pg-sink": "rows/s (first in -> last row)"}.get(d, "records/s (first out -> last commit)")
        lines.append(row.format(f"{d} alone, {what}", fmt_rate(v), ratio, f"{', '.join(fmt_rate(x) for x in vals)}; {t}"))
    if e2e is not None:
        lines += ["", "  CPU seconds per 100k records over the end-to-end run (utime+stime, all threads):",
                  "    {:<10} {:>8} {:>8} {:>8}".format("stage", "Sluice", "Python", "Py/Sluice")]
        tot_s, tot_p = [], []
        for d in DAEMONS:
            pd = "sink" if d == "pg-sink" else d
            s_vals = [r["sluice"]["cpu"].get(d) for r in runs]
            p_vals = [r["python"]["cpu"].get(pd) for r in runs if "python" in r]
            s = median([x * 100000 / rows for x in s_vals if x is not None])
            p = median([x * 100000 / rows for x in p_vals if x is not None])
            lines.append("    {:<10} {:>8} {:>8} {:>8}".format(
                d, f"{s:.2f}" if s is not None else "?", f"{p:.2f}" if p is not None else "-",
                f"{p / s:.1f}x" if s and p else ""))
        for r in runs:
            tot_s.append(sum(v for v in r["sluice"]["cpu"].values() if v) * 100000 / rows)
            if "python" in r:
                tot_p.append(sum(r["python"]["cpu"].values()) * 100000 / rows)
        s, p = median(tot_s), median(tot_p)
        lines.append("    {:<10} {:>8} {:>8} {:>8}   (target: Sluice <= 2.00)".format(
            "total", f"{s:.2f}", f"{p:.2f}" if p is not None else "-", f"{p / s:.1f}x" if p else ""))
        lines += ["", "  per stage during the Sluice end-to-end run (records in / busy time; indicative only: counters move "
                      "at commits, polled every 250 ms; '-' under 0.5 s):"]
        for d in DAEMONS:
            v, _ = med(["sluice", "stages", d, "rate"])
            n, _ = med(["sluice", "stages", d, "records"])
            lines.append(f"    {d:<9} {int(n or 0):>8} records  {fmt_rate(v):>10} records/s")
        lines += ["", "  peak RSS (VmHWM) during the end-to-end run, MiB (target <= 64 per daemon):"]
        for d in ["registry"] + DAEMONS:
            s, _ = med(["sluice", "rss_kib", d])
            pd = "sink" if d == "pg-sink" else d
            p, _ = med(["python", "rss_kib", pd])
            lines.append(f"    {d:<9} Sluice {s / 1024 if s else 0:>7.1f}" +
                         (f"   Python {p / 1024:>7.1f}" if p else ""))
        keys, _ = med(["sluice", "dedupe_keys"])
        lines.append(f"    the cleaner's dedupe window (24h, max_keys 1,000,000) held {int(keys) if isinstance(keys, (int, float)) else keys} "
                     "keys at the end (one per record it accepted)")
        cmp_ok = all(r.get("compare", {}).get("ok", True) for r in runs)
        if any("compare" in r for r in runs):
            c = runs[-1]["compare"]
            lines += ["", f"  same rows and rejects, Sluice vs Python: {'yes' if cmp_ok else 'NO (MISMATCH)'} "
                      f"(rows only in one table: {c['rows_only_in_sluice']} / {c['rows_only_in_python']}; "
                      f"rejects by rule: {c['sluice_rejects'] or 'none'})"]
    bm = res.get("bad_mix")
    if bm:
        lines.append(f"  same rows and rejects on the bad-mix file ({bm['items']} items): "
                     f"{'yes' if bm['ok'] else 'NO (MISMATCH)'} ({bm['loaded']} rows; "
                     f"rows only in one table {bm['rows_only_in_sluice']} / {bm['rows_only_in_python']}; rejects "
                     + ", ".join(f"{k} {v}" for k, v in sorted(bm["sluice_rejects"].items())) + ")")
        od = bm.get("order_dependent_flags", {})
        if od:
            lines.append("    left out of the comparison, as they depend on the order records are consumed from the "
                         "partitions: flags " + "; ".join(f"{w} " + ", ".join(f"{n} {c}" for n, c in v.items())
                                                         for w, v in od.items()))
    if any("latency" in r for r in runs):
        def ms(path):
            v, vals = med(["latency"] + path)
            return (v * 1000 if v is not None else float("nan")), ", ".join(f"{x * 1000:.0f}" for x in vals)
        rate, _ = med(["latency", "rate"])
        n, _ = med(["latency", "rows"])
        h50, h50s = ms(["p50"])
        h99, h99s = ms(["p99"])
        d50, d50s = ms(["drop_to_row", "p50"])
        d99, d99s = ms(["drop_to_row", "p99"])
        k50, k50s = ms(["kafka", "p50"])
        k99, k99s = ms(["kafka", "p99"])
        lines += ["", f"  latency at half each repetition's end-to-end rate (median {rate:,.0f} records/s, "
                      f"{int(n)} rows fed in files every 250 ms), ms:",
                  f"    {'':<50} {'p50':>8} {'p99':>8}   runs p50 / p99",
                  f"    {'Sluice, file dropped -> row inserted (exact, per row)':<50} {d50:8.1f} {d99:8.1f}   {d50s} / {d99s}",
                  f"    {'Sluice, source timestamp -> commit (sink histogram)':<50} {h50:8.1f} {h99:8.1f}   {h50s} / {h99s}"
                  "   (buckets 1, 2.5, 5 x 10^n s, interpolated)",
                  f"    {'Kafka alone, produce -> consume, same broker':<50} {k50:8.1f} {k99:8.1f}   {k50s} / {k99s}",
                  f"    {'ratio Sluice (exact) / Kafka':<50} {d50 / k50:7.1f}x {d99 / k99:7.1f}x",
                  f"    {'ratio Sluice (histogram) / Kafka':<50} {h50 / k50:7.1f}x {h99 / k99:7.1f}x"]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sink-only", action="store_true", help="only the stages alone (no end to end, no latency)")
    ap.add_argument("--no-python", action="store_true")
    ap.add_argument("--no-latency", action="store_true")
    ap.add_argument("--latency-seconds", type=float, default=15)
    ap.add_argument("--timeout", type=float, default=1200)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--run", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--stack-dir", required=True)
    ap.add_argument("--python", required=True, help="the venv's python (bench/python/setup)")
    ap.add_argument("--registry-pid", type=int, help="the run's schema registry (for its peak RSS)")
    a = ap.parse_args()
    b = Bench(a)
    rc = 1
    try:
        rc = b.main()
    except BenchError as e:
        print(f"bench: error: {e}", file=sys.stderr)
    finally:
        b.cleanup()
    return rc


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--report":
        print(report(json.load(open(sys.argv[2]))), end="")
        sys.exit(0)
    sys.exit(main())
