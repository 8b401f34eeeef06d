#!/usr/bin/env python3
"""Checks the plain Python pipeline's rules (rules.py) against Sluice's documented expectation,
without Kafka or a database: the bad-mix file of tests/data/loans/loan_data.py (the real
sample with seeded bad rows, and a sidecar naming each bad row's line, rule and reason) must
give the same rejects by rule, each reason must contain the expected text, and the rest must
load.
  check_rules.py [--seed S]     exit 0 when all agree; prints the differences otherwise
Runs under bench/python/.venv (PyYAML); registered in ctest as bench_python_rules (label unit).
"""
import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import rules  # noqa: E402



def run(path, spec, schemas, lookup):
    producer = rules.Producer(spec, schemas["raw"])
    cleaner = rules.Cleaner(spec, schemas["clean"])
    enricher = rules.Enricher(spec, schemas["enriched"], lookup)
    out = {}
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    loaded = 0
    for item in producer.rows(text, path):
        if item[0] == "reject":
            out[item[3]] = ("producer", item[1], item[2])
            continue
        _, _key, rec, line = item
        try:
            clean = cleaner.process(rec, 0)
        except rules.Reject as r:
            out[line] = ("cleaner", r.rule, r.reason)
            continue
        try:
            enricher.process(clean)
        except rules.Reject as r:
            out[line] = ("enricher", r.rule, r.reason)
            continue
        loaded += 1
    return loaded, out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args()
    spec, schemas = rules.load_pipeline(os.path.join(ROOT, "pipelines/loans/pipeline.yaml"))
    # The states reference table, read from its SQL file (no database here).
    lookup = {"ref_us_states": collections.defaultdict(dict)}
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, os.path.join(ROOT, "tests/data/loans/loan_data.py"), "bad-mix",
                        "--seed", str(a.seed), "--out", tmp], check=True, stdout=subprocess.DEVNULL)
        csv_path = os.path.join(tmp, "lending_club_bad_mix.csv")
        expected = json.load(open(os.path.join(tmp, "lending_club_bad_mix.expected.json")))
        loaded, got = run(csv_path, spec, schemas, lookup)
    problems = []
    want_lines = {b["line"]: b for b in expected["bad"]}
    for line, b in sorted(want_lines.items()):
        g = got.get(line)
        if g is None:
            problems.append(f"line {line}: expected {b['stage']}/{b['rule']} ({b['reason']}), got loaded")
        elif (g[0], g[1]) != (b["stage"], b["rule"]) or b["reason"] not in g[2]:
            problems.append(f"line {line}: expected {b['stage']}/{b['rule']} ({b['reason']}), got {g}")
    for line, g in sorted(got.items()):
        if line not in want_lines:
            problems.append(f"line {line}: rejected {g}, expected loaded")
    expected_loaded = expected["expected_loaded"]
    print(f"python rules on the bad-mix file (seed {a.seed}): {loaded} loaded (Sluice: {expected_loaded}), "
          f"{len(got)} rejected (Sluice: {expected['expected_rejected']})")
    if problems:
        print("\n".join(problems[:40]))
        print(f"FAIL: {len(problems)} difference(s)")
        return 1
    print("ok: every row Sluice rejects is rejected by the same rule with the same reason, the rest load")
    return 0


if __name__ == "__main__":
    sys.exit(main())
