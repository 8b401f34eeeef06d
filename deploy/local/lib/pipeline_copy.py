#!/usr/bin/env python3
"""Writes a private copy of a pipeline file for one e2e test or benchmark run (stdlib only).

Everything that would collide with another run on the shared stack is renamed after --name:
the pipeline name (hence consumer groups, transactional ids, the positions topic), the four
topics and the sink table. Health ports are not in a pipeline file: deploy/local/pipeline lets
each daemon pick a free one. Relative paths become absolute (the copy lives
in a temp dir), and the producer reads a watched inbox directory instead of the file in the
original. The rules, steps, key and id sections are copied unchanged, so the test runs the
real pipeline.

  pipeline_copy.py --src pipelines/loans/pipeline.yaml --out /tmp/x/p.yaml --name e2e_x_1234 \
      --inbox /tmp/x/inbox [--schema clean=../v2.avsc] \
      [--views states|all|none] [--partitions 3] [--{producer,cleaner,enricher}-batch N] [--sink-batch N]

The section handling is line-based on purpose (no YAML library in the stdlib): it relies on
top-level keys starting in column 0 and two-space indentation, which is how pipeline files
are written (docs/pipeline-file.md).
"""
import argparse
import os
import re
import sys


def blocks(lines):
    """Splits into [(top-level key or None, [lines])] keeping comments with what follows."""
    out, cur_key, cur = [], None, []
    pending = []  # comments/blank lines before the next top-level key
    for line in lines:
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*):", line)
        if m:
            if cur or cur_key is not None:
                out.append((cur_key, cur))
            cur_key, cur = m.group(1), pending + [line]
            pending = []
        elif line.strip() == "" or line.startswith("#"):
            pending.append(line)
        else:
            cur.extend(pending)
            pending = []
            cur.append(line)
    cur.extend(pending)
    out.append((cur_key, cur))
    return out


def absolute(path, base):
    path = path.strip().strip("'\"")
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(base, path))


def rewrite_sources(block, inbox, poll):
    """Replaces producer.sources with one watched-directory csv source; keeps name/columns/etc."""
    out, i = [], 0
    while i < len(block):
        line = block[i]
        if re.match(r"^  sources:\s*$", line):
            j = i + 1
            body = []
            while j < len(block) and (block[j].startswith("    ") or block[j].strip() == ""
                                      or block[j].startswith("  #")):
                body.append(block[j])
                j += 1
            keep = []
            for b in body:
                s = b.strip()
                if s.startswith("- type:"):
                    if not s.startswith("- type: csv"):
                        sys.exit("pipeline_copy: only csv sources are supported")
                    continue
                if s.startswith("#") or s == "":
                    continue
                key = s.split(":", 1)[0].lstrip("- ").strip()
                if key in ("path", "dir", "watch", "poll_interval", "glob"):
                    continue
                keep.append("      " + s.lstrip("- ").strip())
            out.append("  sources:")
            out.append("    - type: csv")
            out.extend(keep)
            out.append(f"      dir: {inbox}")
            out.append("      watch: true")
            out.append(f"      poll_interval: {poll}")
            i = j
            continue
        out.append(line)
        i += 1
    return out


def set_scalar(block, key, value, indent="  "):
    """Sets `<indent><key>: value` in a section block (replaces it or appends it)."""
    pat = re.compile(rf"^{indent}{re.escape(key)}:")
    for n, line in enumerate(block):
        if pat.match(line):
            block[n] = f"{indent}{key}: {value}"
            return block
    # Append after the last line that belongs to the section (before trailing blanks).
    end = len(block)
    while end > 1 and block[end - 1].strip() == "":
        end -= 1
    block.insert(end, f"{indent}{key}: {value}")
    return block


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--inbox", required=True)
    p.add_argument("--schema", action="append", default=[], help="role=path (raw, clean, enriched)")
    p.add_argument("--views", choices=["states", "all", "none"], default="states",
                   help="states: keep only view files that do not read the original table")
    p.add_argument("--partitions", type=int)
    p.add_argument("--poll", default="200ms")
    p.add_argument("--producer-batch", type=int)
    p.add_argument("--cleaner-batch", type=int)
    p.add_argument("--enricher-batch", type=int)
    p.add_argument("--sink-batch", type=int)
    a = p.parse_args()
    if not re.fullmatch(r"[a-z0-9_-]+", a.name):
        sys.exit(f"pipeline_copy: bad name {a.name!r}")
    src = os.path.abspath(a.src)
    base = os.path.dirname(src)
    lines = open(src, encoding="utf-8").read().split("\n")
    schema_override = {}
    for s in a.schema:
        role, _, path = s.partition("=")
        schema_override[role] = os.path.abspath(path)

    out = []
    original_table = None
    seen = set()
    for key, block in blocks(lines):
        seen.add(key)
        if key == "pipeline":
            block = [l if not l.startswith("pipeline:") else f"pipeline: {a.name}" for l in block]
        elif key == "topics":
            parts = None
            for l in block:
                m = re.match(r"^  partitions:\s*(\d+)", l)
                if m:
                    parts = int(m.group(1))
            if a.partitions:
                parts = a.partitions
            head = [l for l in block if l.startswith("#") or l.strip() == ""]
            block = head + ["topics:"] + [f"  {r}: {a.name}.{r}" for r in ("raw", "clean", "enriched", "dlq")]
            if parts:
                block.append(f"  partitions: {parts}")
            block.append("")
        elif key == "schemas":
            overrides = dict(schema_override)
            new = []
            for l in block:
                m = re.match(r"^  (\w+):\s*(\S.*)$", l)
                if m:
                    role = m.group(1)
                    l = f"  {role}: {overrides.pop(role, None) or absolute(m.group(2), base)}"
                new.append(l)
            at = next(n for n, l in enumerate(new) if l.startswith("schemas:")) + 1
            for role, path in overrides.items():
                new.insert(at, f"  {role}: {path}")
            block = new
        elif key == "producer":
            block = rewrite_sources(block, os.path.abspath(a.inbox), a.poll)
            if a.producer_batch:
                block = set_scalar(block, "batch_size", a.producer_batch)
        elif key in ("cleaner", "enricher") and getattr(a, f"{key}_batch"):
            block = set_scalar(block, "batch_size", getattr(a, f"{key}_batch"))
        elif key == "sink":
            new = []
            for l in block:
                m = re.match(r"^  table:\s*(\S+)", l)
                if m:
                    original_table = m.group(1).strip("'\"")
                    l = f"  table: {a.name}"
                m = re.match(r"^  views:\s*\[(.*)\]\s*$", l)
                if m:
                    files = [absolute(f, base) for f in m.group(1).split(",") if f.strip()]
                    if a.views == "none":
                        files = []
                    elif a.views == "states":
                        # View files name the original table; a private copy must not replace
                        # the views of the real pipeline, so only files not mentioning it stay.
                        files = [f for f in files
                                 if not re.search(rf"\bFROM\s+{re.escape(original_table or '')}\b",
                                                  open(f, encoding="utf-8").read(), re.I)]
                    l = f"  views: [{', '.join(files)}]"
                new.append(l)
            block = new
            if a.sink_batch:
                block = set_scalar(block, "batch_size", a.sink_batch)
        out.extend(block)
    if "pipeline" not in seen:
        sys.exit("pipeline_copy: the source has no 'pipeline:' key")
    while out and out[-1].strip() == "":
        out.pop()
    out.append("")
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w", encoding="utf-8") as f:
        f.write("\n".join(out))


if __name__ == "__main__":
    main()
