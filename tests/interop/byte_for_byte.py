"""Interop (a): byte for byte between Sluice's Avro codec (avro_tool), fastavro and avsc.

For every schema in tests/data/interop/schemas: the three libraries agree on the Parsing
Canonical Form; ours and fastavro agree on the CRC-64-AVRO fingerprint (avsc has no CRC-64:
its MD5 fingerprint is checked against the MD5 of our canonical form instead). Seeded random
datums are encoded by each library (ours and avsc from the datum's Avro JSON encoding); the three encodings must be identical (Avro binary is deterministic for these
writers: one block per array/map), and each library decodes the bytes of the others to the
same value. Prints one line per schema; exits 1 on the first mismatch of any schema (all
schemas are still run and every failure is listed).
"""
import copy
import glob
import hashlib
import io
import json
import os
import sys
import zlib

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

sys.path.insert(0, os.path.dirname(__file__))
from avro_random import Generator, to_avro_json  # noqa: E402
from interop_common import DATA, ToolError, avro_tool, node, same_value  # noqa: E402

DATUMS = int(os.environ.get("SLUICE_INTEROP_DATUMS", "60"))


def fastavro_bytes(parsed, datum):
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, datum)
    return buf.getvalue()


def fastavro_read(parsed, data):
    # Named union branches come back as (name, value) tuples, so a re-encode picks the same
    # branch (an enum symbol would otherwise be written as the string branch before it).
    return fastavro.schemaless_reader(io.BytesIO(data), parsed, parsed, return_named_type=True)


def check_schema(path):
    problems = []
    raw = json.load(open(path))
    parsed = fastavro.parse_schema(copy.deepcopy(raw))
    name = os.path.basename(path)

    canon_f = to_parsing_canonical_form(parsed)
    fp_f = fingerprint(canon_f, "CRC-64-AVRO")
    canon_o = avro_tool("canonical", path)[0]
    fp_o = avro_tool("fingerprint", path)[0]
    if canon_o != canon_f:
        problems.append(f"canonical form: ours {canon_o} != fastavro {canon_f}")
    # fastavro prints the fingerprint as the 8 little-endian bytes in hex (the order of the
    # single-object encoding); ours prints the uint64 as a number: compare the same bytes.
    fp_o_le = int(fp_o, 16).to_bytes(8, "little").hex()
    if fp_o_le != fp_f:
        problems.append(f"CRC-64-AVRO: ours {fp_o} (LE bytes {fp_o_le}) != fastavro {fp_f}")

    gen = Generator(copy.deepcopy(raw), seed=zlib.crc32(name.encode()))
    datums = [gen.datum() for _ in range(DATUMS)]
    f_bytes = [fastavro_bytes(parsed, d).hex() for d in datums]
    json_lines = [json.dumps(to_avro_json(gen.names, gen.schema, d)) for d in datums]
    expected_json = [json.loads(j) for j in json_lines]
    o_bytes = avro_tool("encode", path, stdin_lines=json_lines)
    if len(o_bytes) != DATUMS:
        return name, False, [f"avro_tool encode printed {len(o_bytes)} lines for {DATUMS} datums"]

    answer = node("avsc_check.js", {"schema": raw, "json": json_lines,
                                    "hex": {"fastavro": f_bytes, "ours": o_bytes}})
    if answer["canonical"] != canon_o:
        problems.append(f"canonical form: avsc {answer['canonical']} != ours {canon_o}")
    md5_ours = hashlib.md5(canon_o.encode()).hexdigest()
    if answer["md5"] != md5_ours:
        problems.append(f"avsc MD5 fingerprint {answer['md5']} != MD5(our canonical form) {md5_ours}")
    a_bytes = answer["encoded"]

    # Bytes identical across the three writers.
    for i in range(DATUMS):
        if not (o_bytes[i] == f_bytes[i] == a_bytes[i]):
            problems.append(f"datum {i} {json_lines[i][:200]}: bytes differ: ours {o_bytes[i][:120]} "
                            f"fastavro {f_bytes[i][:120]} avsc {a_bytes[i][:120]}")
            break

    # Ours decodes fastavro's and avsc's bytes (generic path) to the datum.
    for source, hexes in (("fastavro", f_bytes), ("avsc", a_bytes)):
        decoded = avro_tool("decode", path, stdin_lines=hexes)
        if len(decoded) != DATUMS:
            problems.append(f"ours decoding {source}: {len(decoded)} lines for {DATUMS} datums")
        for i, text in enumerate(decoded):
            diff = same_value(json.loads(text), expected_json[i])
            if diff:
                problems.append(f"ours decoding {source} datum {i}: {diff}")
                break
    # The flat fast path too, for flat-eligible records.
    try:
        flat = avro_tool("flat-decode", path, stdin_lines=f_bytes)
    except ToolError as e:
        flat = None
        if e.code != 3:  # 3: the schema is not flat-eligible
            problems.append(str(e))
    if flat is not None and len(flat) != DATUMS:
        problems.append(f"flat-decode printed {len(flat)} lines for {DATUMS} datums")
    if flat is not None:
        for i, text in enumerate(flat):
            diff = same_value(json.loads(text), expected_json[i])
            if diff:
                problems.append(f"ours (flat path) decoding fastavro datum {i}: {diff}")
                break

    # avsc decodes ours and fastavro's bytes to the datum, and re-encodes them identically.
    for source, results in answer["decoded"].items():
        for i, r in enumerate(results):
            if "error" in r:
                problems.append(f"avsc decoding {source} datum {i}: {r['error']}")
                break
            diff = same_value(json.loads(r["json"]), expected_json[i])
            if diff or r["hex"] != f_bytes[i]:
                problems.append(f"avsc decoding {source} datum {i}: {diff or 're-encoded bytes differ'}")
                break

    # fastavro decodes ours and avsc's bytes to what it decodes from its own, and re-encodes
    # them identically.
    for source, hexes in (("ours", o_bytes), ("avsc", a_bytes)):
        for i, h in enumerate(hexes):
            try:
                mine = fastavro_read(parsed, bytes.fromhex(f_bytes[i]))
                theirs = fastavro_read(parsed, bytes.fromhex(h))
                again = fastavro_bytes(parsed, theirs).hex()
            except Exception as e:  # noqa: BLE001 - any failure is the finding
                problems.append(f"fastavro decoding {source} datum {i}: {type(e).__name__}: {e}")
                break
            if theirs != mine or again != f_bytes[i]:
                problems.append(f"fastavro decoding {source} datum {i}: {theirs!r} != {mine!r}")
                break
    return name, flat is not None, problems


def main():
    paths = sorted(glob.glob(os.path.join(DATA, "interop", "schemas", "*.avsc")))
    if len(paths) < 20:
        sys.exit(f"FAIL: expected at least 20 schemas, found {len(paths)}")
    failed = 0
    for path in paths:
        try:
            name, flat, problems = check_schema(path)
        except Exception as e:  # noqa: BLE001
            name, flat, problems = os.path.basename(path), False, [f"{type(e).__name__}: {e}"]
        status = "ok" if not problems else "FAIL"
        print(f"{status:4} {name}: {DATUMS} datums{' (+flat path)' if flat else ''}")
        for p in problems:
            print(f"     {p}")
        failed += bool(problems)
    print(f"{len(paths) - failed}/{len(paths)} schemas agree across ours, fastavro and avsc")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
