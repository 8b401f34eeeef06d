#!/usr/bin/env python3
"""Checks every pipelines/<p>/ folder against the layout of pipelines/README.md (stdlib only).

  pipeline_folders.py <source dir>

Each folder has pipeline.yaml, schemas/*.avsc, cases/*.yaml (at least one per stage the
pipeline runs: cleaner_*.yaml, enricher_*.yaml) and sample/ with a PROVENANCE.md naming every
sample file with its sha256; a sample stays small. Nothing outside pipelines/ names a pipeline
file, SQL or case file the old way (pipelines/<p>.yaml, pipelines/sql/, tests/data/cleaner_cases,
schemas/ at the root). Prints every problem and exits 1 when there is any.
"""
import hashlib
import os
import re
import sys

SRC = os.path.abspath(sys.argv[1])
HERE = os.path.dirname(os.path.abspath(__file__))  # this check and its test name old paths
PIPELINES = os.path.join(SRC, "pipelines")
SAMPLE_LIMIT = 1 << 20  # bytes per pipeline: the sample ships in the image
problems = []


def problem(where, message):
    problems.append(f"{os.path.relpath(where, SRC)}: {message}")


folders = sorted(d for d in os.listdir(PIPELINES) if os.path.isdir(os.path.join(PIPELINES, d)))
if not folders:
    problem(PIPELINES, "no pipeline folder")
for name in folders:
    folder = os.path.join(PIPELINES, name)
    pipeline = os.path.join(folder, "pipeline.yaml")
    if not os.path.isfile(pipeline):
        readme = os.path.join(folder, "README.md")
        # A use case's data and tools may come before its pipeline file, when its README says so.
        if not (os.path.isfile(readme) and "no pipeline.yaml yet" in open(readme, encoding="utf-8").read()):
            problem(folder, "no pipeline.yaml (nor a README.md saying 'no pipeline.yaml yet')")
        continue
    text = open(pipeline, encoding="utf-8").read()
    if not re.search(rf"(?m)^pipeline:\s*{re.escape(name)}\s*$", text):
        problem(pipeline, f"'pipeline:' is not the folder name {name}")
    schemas = os.path.join(folder, "schemas")
    avsc = sorted(f for f in os.listdir(schemas) if f.endswith(".avsc")) if os.path.isdir(schemas) else []
    if not avsc:
        problem(folder, "no schemas/*.avsc")
    for f in avsc:
        if not f.startswith(f"{name}."):
            problem(os.path.join(schemas, f), f"a schema file name starts with the pipeline name ({name}.)")
    for m in re.finditer(r"(?m)^  (raw|clean|enriched|key):\s*(\S+)", text.split("\nschemas:", 1)[-1].split("\n\n", 1)[0]):
        if not m.group(2).startswith("schemas/"):
            problem(pipeline, f"schemas.{m.group(1)} is not in the folder's schemas/: {m.group(2)}")
    cases = os.path.join(folder, "cases")
    case_files = sorted(f for f in os.listdir(cases) if f.endswith(".yaml")) if os.path.isdir(cases) else []
    for stage in ("cleaner", "enricher"):
        if re.search(rf"(?m)^{stage}:", text) and not any(f.startswith(f"{stage}_") for f in case_files):
            problem(folder, f"the pipeline has a '{stage}:' section but cases/ has no {stage}_*.yaml")
    for f in case_files:
        head = open(os.path.join(cases, f), encoding="utf-8").read()
        stage = re.search(r"(?m)^stage:\s*(\w+)", head)
        if not stage or not f.startswith(stage.group(1) + "_"):
            problem(os.path.join(cases, f), "the file name does not start with its stage: (cleaner_, enricher_)")
    sample = os.path.join(folder, "sample")
    provenance = os.path.join(sample, "PROVENANCE.md")
    if not os.path.isfile(provenance):
        problem(folder, "no sample/PROVENANCE.md")
        continue
    described = open(provenance, encoding="utf-8").read()
    data = sorted(f for f in os.listdir(sample) if f != "PROVENANCE.md")
    if not data:
        problem(sample, "no sample data")
    size = 0
    for f in data:
        path = os.path.join(sample, f)
        size += os.path.getsize(path)
        digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
        if f"`{f}`" not in described:
            problem(provenance, f"does not name {f}")
        elif digest not in described:
            problem(provenance, f"does not hold the sha256 of {f} ({digest})")
    if size > SAMPLE_LIMIT:
        problem(sample, f"{size} bytes: a sample is small (at most {SAMPLE_LIMIT})")

# The old layout's paths must not come back.
old = re.compile(r"pipelines/(?:sql/|\w+\.ya?ml\b)|tests/data/cleaner_cases|\$SLUICE_ROOT/schemas/|SOURCE_DIR\)? \+ \"/schemas/")
for top in ("common", "services", "scripts", "deploy", "docs", "tests", "bench", "README.md", "Dockerfile",
            "docker-compose.yml", "CMakeLists.txt"):
    root = os.path.join(SRC, top)
    paths = [root] if os.path.isfile(root) else [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs]
    for path in paths:
        if os.path.dirname(path) == HERE or not path.endswith((".cpp", ".hpp", ".sh", ".py", ".md", ".yaml",
                                                                     ".yml", ".txt", "Dockerfile", "demo", "run",
                                                                     "pipeline", "test")):
            continue
        try:
            text = open(path, encoding="utf-8").read()
        except (UnicodeDecodeError, OSError):
            continue
        for n, line in enumerate(text.splitlines(), 1):
            m = old.search(line)
            if m:
                problem(path, f"line {n}: old pipeline layout path {m.group(0)!r}")

if problems:
    print("\n".join(problems))
    print(f"FAILED: {len(problems)} problem(s)")
    sys.exit(1)
print(f"ok: {len(folders)} pipeline folder(s): {', '.join(folders)}")
