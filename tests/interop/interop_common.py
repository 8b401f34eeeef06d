"""Shared helpers of the interop scripts: paths, avro_tool calls, JSON value comparison."""
import json
import math
import os
import struct
import subprocess
import sys

ROOT = os.environ.get("SLUICE_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.environ.get("SLUICE_TEST_DATA_DIR") or os.path.join(ROOT, "tests", "data")
NODE_DIR = os.path.join(ROOT, "tests", "interop", "node")


def require_env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"FAIL: {name} is not set (run through ctest, or export it; "
                 f"for the stack: eval \"$(deploy/local/stack env)\")")
    return value


def avro_tool(*args, stdin_lines=None):
    """Runs avro_tool; returns its stdout lines. A non-zero exit raises with its stderr."""
    tool = require_env("SLUICE_AVRO_TOOL")
    text = "".join(line + "\n" for line in stdin_lines) if stdin_lines is not None else None
    p = subprocess.run([tool, *args], input=text, capture_output=True, text=True)
    if p.returncode != 0:
        raise ToolError(p.returncode, f"avro_tool {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}")
    lines = p.stdout.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


class ToolError(RuntimeError):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def node(script, request):
    """Runs a Node script of tests/interop with a JSON request on stdin; returns its JSON answer."""
    p = subprocess.run(["node", os.path.join(ROOT, "tests", "interop", script)],
                       input=json.dumps(request), capture_output=True, text=True, cwd=NODE_DIR,
                       env={**os.environ, "NODE_PATH": os.path.join(NODE_DIR, "node_modules")})
    if p.returncode != 0:
        raise RuntimeError(f"node {script} failed ({p.returncode}): {p.stderr.strip()}\n{p.stdout}")
    return json.loads(p.stdout)


def _f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def same_value(a, b, path="$"):
    """None when two JSON values are equal; otherwise where and how they differ. Numbers are
    equal when equal as doubles or, for float fields printed at float precision by one side
    and as the exact double by the other, equal once rounded to float32 (the binary bytes,
    compared separately, are exact)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return None if a is b else f"{path}: {a!r} != {b!r}"
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if a == b or (isinstance(a, float) or isinstance(b, float)) and (
                math.isfinite(a) and math.isfinite(b) and abs(a) < 3.5e38 and abs(b) < 3.5e38
                and _f32(a) == _f32(b)):
            return None
        return f"{path}: {a!r} != {b!r}"
    if isinstance(a, dict) and isinstance(b, dict):
        # Key order is not compared: avro_tool prints JSON objects with sorted keys (map entry
        # order is checked by the byte comparison instead).
        if sorted(a.keys()) != sorted(b.keys()):
            return f"{path}: keys {sorted(a.keys())} != {sorted(b.keys())}"
        for k in a:
            d = same_value(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = same_value(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    return None if a == b else f"{path}: {a!r} != {b!r}"
