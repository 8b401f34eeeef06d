"""The loans pipeline's rules in plain Python: the baseline bench/run measures Sluice against.

Pure functions and small classes, no Kafka, no database: `Producer.rows` turns CSV text into
raw records (or rejects), `Cleaner.process` and `Enricher.process` turn one record into an
emit or a reject with the same rule name and reason text Sluice gives. Built from the same
pipeline file (pipelines/loans/pipeline.yaml) and .avsc schemas, for the rule and step types
that file uses (required, coerce, range, regex, allowed, impute, dedupe, outlier,
synthetic_date; pg_lookup, derive substr/installment/date_part). Any other type is refused at
start-up rather than ignored.

The semantics follow common/src/stages/{rules,steps}/ and row.cpp (value text, number parsing,
typing into the schema). Where this baseline is knowingly weaker than Sluice it says so:
the producer keeps
no file position in its transactions (a restart re-sends the file; the dedupe rule catches the
repeats).
"""
import collections
import datetime
import io
import json
import math
import os
import re

import yaml

EPOCH = datetime.date(1970, 1, 1)
_WS = " \t\r\n"
_DOUBLE = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_INT = re.compile(r"-?\d+", re.ASCII)
_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})", re.ASCII)
MASK = (1 << 64) - 1


class Reject(Exception):
    """A per-record problem: the record goes to the DLQ with this rule name and reason."""

    def __init__(self, rule, reason):
        super().__init__(reason)
        self.rule = rule
        self.reason = reason


# --- values (row.cpp) -------------------------------------------------------------------------

def trim(s):
    return s.strip(_WS)


def describe(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "%.15g" % v
    return "'" + (v[:64] + "..." if len(v) > 64 else v) + "'"


def parse_double(text):
    if text.startswith("+"):
        text = text[1:]
    if not _DOUBLE.fullmatch(text):
        return None
    d = float(text)
    return d if math.isfinite(d) else None


def parse_int64(text):
    if text.startswith("+"):
        text = text[1:]
    if not _INT.fullmatch(text):
        return None
    i = int(text)
    return i if -(1 << 63) <= i < (1 << 63) else None


def parse_date(text):
    m = _DATE.fullmatch(text)
    if not m:
        return None
    try:
        return (datetime.date(int(m.group(1)), int(m.group(2)), int(m.group(3))) - EPOCH).days
    except ValueError:
        return None


def as_text(v):
    if isinstance(v, str):
        return v
    if v is None:
        return ""
    return convert(v, "string")


def as_number(v):
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    return parse_double(trim(v))


class TypeProblem(Exception):
    pass


def convert(v, t):
    """ConvertTo: a value into a schema type; raises TypeProblem with Sluice's message."""
    if v is None:
        return None
    if t == "string":
        if isinstance(v, str):
            return v
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        return describe(v)
    if t in ("int", "long"):
        out = None
        if isinstance(v, bool):
            out = None
        elif isinstance(v, int):
            out = v
        elif isinstance(v, float):
            if math.trunc(v) == v and abs(v) < 9.2e18:
                out = int(v)
        else:
            out = parse_int64(trim(v))
            if out is None:
                d = parse_double(trim(v))
                if d is not None and math.trunc(d) == d and abs(d) < 9.2e18:
                    out = int(d)
        if out is None:
            raise TypeProblem("not an integer: " + describe(v))
        if t == "int" and not -(1 << 31) <= out < (1 << 31):
            raise TypeProblem("out of int range: " + describe(v))
        return out
    if t in ("double", "float"):
        if isinstance(v, float):
            return v
        if isinstance(v, int) and not isinstance(v, bool):
            return float(v)
        if isinstance(v, str):
            d = parse_double(trim(v))
            if d is not None:
                return d
        raise TypeProblem("not a number: " + describe(v))
    if t == "date":
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if isinstance(v, str):
            d = parse_date(trim(v))
            if d is not None:
                return d
        raise TypeProblem("not a date (YYYY-MM-DD): " + describe(v))
    if t == "boolean":
        if isinstance(v, bool):
            return v
        if isinstance(v, str):
            low = trim(v).lower()
            if low in ("true", "1", "yes"):
                return True
            if low in ("false", "0", "no"):
                return False
        raise TypeProblem("not a boolean: " + describe(v))
    raise TypeProblem("unsupported type")


def normalize(s):
    return " ".join(re.split(r"[ \t\n\r]+", trim(s))).lower() if trim(s) else ""


def stable_hash64(data, seed=0):
    """FNV-1a 64 with a splitmix64 finalizer (csv_reader.cpp StableHash64)."""
    h = 0xcbf29ce484222325 ^ seed
    for c in data:
        h = ((h ^ c) * 0x100000001b3) & MASK
    h ^= h >> 30
    h = (h * 0xbf58476d1ce4e5b9) & MASK
    h ^= h >> 27
    h = (h * 0x94d049bb133111eb) & MASK
    h ^= h >> 31
    return h


def key_of(row, fields):
    return "".join(as_text(row.get(f)) + "\x1f" for f in fields)


def show_key(row, fields):
    return ",".join(f"{f}={as_text(row.get(f))}" for f in fields)


def content_key(row, fields, prefix):
    canon = []
    for f in fields:
        v = row.get(f)
        if v is None:
            canon.append(f + "\x1e\x1f")
        else:
            canon.append(f + "=" + (trim(v) if isinstance(v, str) else describe(v)) + "\x1f")
    return prefix + "%016x" % stable_hash64("".join(canon).encode())


# --- schemas ---------------------------------------------------------------------------------

def load_avsc(path):
    """An .avsc file with "sluice.extends" resolved (the extended record's fields first)."""
    with open(path, encoding="utf-8") as f:
        s = json.load(f)
    base = s.pop("sluice.extends", None)
    if base:
        parent = load_avsc(os.path.join(os.path.dirname(path), base))
        s["fields"] = parent["fields"] + s["fields"]
    return s


def field_types(schema):
    """[(name, type, nullable)] with Sluice's type names (date for the date logical type)."""
    out = []
    for f in schema["fields"]:
        t, nullable = f["type"], False
        if isinstance(t, list):
            nullable = "null" in t
            t = next(x for x in t if x != "null")
        if isinstance(t, dict):
            t = "date" if t.get("logicalType") == "date" else t["type"]
        out.append((f["name"], t, nullable, f.get("default")))
    return out


def plain_schema(schema):
    """The schema without logical types, so fastavro hands dates over as day numbers."""
    def strip(t):
        if isinstance(t, list):
            return [strip(x) for x in t]
        if isinstance(t, dict) and "logicalType" in t and t["type"] != "record":
            return t["type"]
        return t
    out = dict(schema)
    out["fields"] = [dict(f, type=strip(f["type"])) for f in schema["fields"]]
    return out


def type_into(row, types):
    out = {}
    for name, t, nullable, default in types:
        v = row.get(name)
        if v is None:
            if nullable:
                out[name] = None
                continue
            if name not in row and default is not None:
                out[name] = default
                continue
            raise Reject("type", f"{name}: null in a non-nullable {t} field")
        try:
            out[name] = convert(v, t)
        except TypeProblem as e:
            raise Reject("type", f"{name}: {e}") from None
    return out


# --- producer (csv source) -------------------------------------------------------------------

class Producer:
    """CSV rows -> raw records {field: text or None}, keyed and identified as the csv source."""

    def __init__(self, spec, raw_schema):
        src = spec["producer"]["sources"][0]
        if src.get("type") != "csv":
            raise ValueError("only csv sources are supported")
        self.columns = src.get("columns") or {}
        self.null_values = src.get("null_values") or [""]
        idc = spec["producer"].get("id") or {}
        self.id_field, self.id_from, self.id_prefix = idc.get("field"), idc.get("from", []), idc.get("prefix", "")
        self.key = spec["producer"]["key"]
        self.fields = [f for f, *_ in field_types(raw_schema) if f != self.id_field]

    def rows(self, text, name):
        """Yields ("emit", key, record, line) or ("reject", rule, reason, line, raw_line), like
        Sluice's reader: a bad record is rejected and the next line starts afresh."""
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        header = split_line(lines[0].lstrip("\ufeff").rstrip("\r"))
        where = {self.columns.get(h, h): i for i, h in enumerate(header)}
        missing = [f for f in self.fields if f not in where]
        if missing:
            raise ValueError(f"{name}: no column for {missing}")
        idx = [where[f] for f in self.fields]
        width = len(header)
        nulls = set(self.null_values)
        fields, id_field, id_from, prefix, key = self.fields, self.id_field, self.id_from, self.id_prefix, self.key
        quoted = [i for i, l in enumerate(lines) if '"' in l]  # lines that may close a quote
        i = 1
        while i < len(lines):
            raw_line, n = lines[i], i + 1
            i += 1
            line = raw_line[:-1] if raw_line.endswith("\r") else raw_line
            if not line.strip(_WS):
                yield ("reject", "empty_line", "empty line", n, raw_line)
                continue
            try:
                cells = split_line(line)
            except Unterminated:
                # RFC 4180: a quoted field may span lines. Join the next lines that hold a quote
                # until it closes; if it never does, reject this line and go on with the next.
                cells = None
                for j in (q for q in quoted if q >= i):
                    joined = "\n".join(l[:-1] if l.endswith("\r") else l for l in lines[n - 1:j + 1])
                    try:
                        cells = split_line(joined)
                    except Unterminated:
                        continue
                    except CsvError as e:
                        cells = e
                    raw_line, i = "\n".join(lines[n - 1:j + 1]), j + 1
                    break
                if cells is None:
                    yield ("reject", "csv", "unterminated quoted field at end of file", n, raw_line)
                    continue
                if isinstance(cells, CsvError):
                    yield ("reject", "csv", str(cells), n, raw_line)
                    continue
            except CsvError as e:
                yield ("reject", "csv", str(e), n, raw_line)
                continue
            if len(cells) != width:
                yield ("reject", "csv", f"expected {width} columns, found {len(cells)}", n, raw_line)
                continue
            rec = {}
            for f, col in zip(fields, idx):
                c = cells[col]
                rec[f] = None if c.strip(_WS) in nulls else c
            if id_field:
                rec = {id_field: content_key(rec, id_from, prefix), **rec}
            yield ("emit", "".join(as_text(rec.get(k)) for k in key), rec, n)


class CsvError(Exception):
    pass


class Unterminated(CsvError):
    pass


def split_line(line):
    """One CSV record (RFC 4180 quoting) into cells; the common line without quotes is a plain
    split."""
    if '"' not in line:
        return line.split(",")
    cells, i, n, field = [], 0, len(line), 1
    while True:
        if i < n and line[i] == '"':
            i += 1
            buf = []
            while True:
                j = line.find('"', i)
                if j < 0:
                    raise Unterminated("unterminated quoted field")
                buf.append(line[i:j])
                i = j + 1
                if i < n and line[i] == '"':
                    buf.append('"')
                    i += 1
                    continue
                break
            cells.append("".join(buf))
            if i < n and line[i] != ",":
                raise CsvError(f"unexpected character after closing quote in field {field}")
        else:
            j = line.find(",", i)
            j = n if j < 0 else j
            cell = line[i:j]
            if '"' in cell:
                raise CsvError(f"stray quote in unquoted field {field}")
            cells.append(cell)
            i = j
        if i >= n:
            return cells
        i += 1
        field += 1


# --- cleaner rules ---------------------------------------------------------------------------

def _num(s):
    return None if s is None else float(s)


class Rule:
    default_action = "reject"

    def __init__(self, o, index):
        self.name = o.get("name") or f"{o['type']}{index}"
        self.action = o.get("action", self.default_action)

    def violation(self, flags, reason, fix=None):
        if self.action in ("reject", "drop"):
            raise Reject(self.name, reason)
        if self.action == "flag":
            if self.name not in flags:
                flags.append(self.name)
        elif self.action == "fix" and fix:
            fix()

    def commit(self, row, ts):
        pass

    def abandon(self):
        pass


class FieldsRule(Rule):
    def __init__(self, o, index):
        super().__init__(o, index)
        self.fields = [o["field"]] if "field" in o else list(o["fields"])

    def apply(self, row, flags, ts):
        for f in self.fields:
            self.apply_to(f, row, flags)


class Required(Rule):
    def __init__(self, o, index):
        super().__init__(o, index)
        self.fields = list(o["fields"])

    def apply(self, row, flags, ts):
        missing = [f for f in self.fields if row.get(f) is None or (isinstance(row[f], str) and not trim(row[f]))]
        if missing:
            self.violation(flags, "missing required field(s): " + ", ".join(missing))


class Coerce(FieldsRule):
    def __init__(self, o, index):
        super().__init__(o, index)
        self.to = o["to"]
        if self.to not in ("int", "long", "double", "decimal"):
            raise ValueError(f"coerce to {self.to}: not needed by this baseline")
        self.remove = list(o.get("remove") or [])
        self.map = {trim(k): (v if v != "" else None) for k, v in (o.get("map") or {}).items()}
        self.pattern = o.get("extract")
        self.regex = re.compile(self.pattern, re.ASCII) if self.pattern else None

    def parse(self, raw):
        t = "double" if self.to == "decimal" else self.to
        try:
            return convert(trim(raw), t)
        except TypeProblem:
            raise TypeProblem("is not a valid " + self.to) from None

    def convert(self, v):
        text = trim(as_text(v))
        if text in self.map:
            return None if self.map[text] is None else self.parse(self.map[text])
        s = text
        for r in self.remove:
            if r:
                s = s.replace(r, "")
        if self.regex:
            m = self.regex.search(s)
            if not m:
                raise TypeProblem(describe(v) + " does not match " + self.pattern)
            s = m.group(1) if m.re.groups >= 1 and m.group(1) is not None else m.group(0)
        try:
            return self.parse(s)
        except TypeProblem as e:
            raise TypeProblem(describe(v) + " " + str(e)) from None

    def apply_to(self, f, row, flags):
        v = row.get(f)
        if v is None:
            return
        try:
            row[f] = self.convert(v)
        except TypeProblem as e:
            self.violation(flags, f"{f}: {e}", lambda: row.__setitem__(f, None))
            if self.action == "flag":
                row[f] = None


class Range(FieldsRule):
    def __init__(self, o, index):
        super().__init__(o, index)
        self.min, self.max = _num(o.get("min")), _num(o.get("max"))

    def apply_to(self, f, row, flags):
        v = row.get(f)
        if v is None:
            return
        x = as_number(v)
        if x is None:
            return self.violation(flags, f"{f}: {describe(v)} is not a number", lambda: row.__setitem__(f, None))
        if (self.min is not None and x < self.min) or (self.max is not None and x > self.max):
            lo = describe(self.min) if self.min is not None else "-inf"
            hi = describe(self.max) if self.max is not None else "inf"
            self.violation(flags, f"{f}: {describe(x)} is outside [{lo}, {hi}]")


class Regex(Rule):
    def __init__(self, o, index):
        super().__init__(o, index)
        self.field, self.pattern = o["field"], o["regex"]
        self.regex = re.compile(self.pattern, re.ASCII)

    def apply(self, row, flags, ts):
        v = row.get(self.field)
        if v is not None and not self.regex.fullmatch(as_text(v)):
            self.violation(flags, f"{self.field}: {describe(v)} does not match {self.pattern}")


class Allowed(FieldsRule):
    def __init__(self, o, index):
        super().__init__(o, index)
        if o.get("case_sensitive") in ("true", True):
            raise ValueError("allowed: case_sensitive is not needed by this baseline")
        self.canonical = {normalize(v): v for v in o.get("values") or []}
        for variant, canonical in (o.get("map") or {}).items():
            self.canonical[normalize(variant)] = canonical

    def apply_to(self, f, row, flags):
        v = row.get(f)
        if v is None:
            return
        c = self.canonical.get(normalize(as_text(v)))
        if c is not None:
            row[f] = c
        else:
            self.violation(flags, f"{f}: {describe(v)} is not an allowed value")


class Stat:
    __slots__ = ("count", "mean", "m2", "recent")

    def __init__(self):
        self.count, self.mean, self.m2, self.recent = 0, 0.0, 0.0, collections.deque()

    def variance(self):
        return self.m2 / (self.count - 1) if self.count > 1 else 0.0

    def median(self):
        v = sorted(self.recent)
        mid = len(v) // 2
        return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


class KeyedStats:
    def __init__(self, max_keys, window):
        self.stats, self.max_keys, self.window = {}, max_keys, window

    def observe(self, key, x):
        s = self.stats.get(key)
        if s is None:
            if len(self.stats) >= self.max_keys:
                return
            s = self.stats[key] = Stat()
        s.count += 1
        d = x - s.mean
        s.mean += d / s.count
        s.m2 += d * (x - s.mean)
        if self.window > 0:
            s.recent.append(x)
            if len(s.recent) > self.window:
                s.recent.popleft()


class Impute(Rule):
    default_action = "fix"

    def __init__(self, o, index):
        super().__init__(o, index)
        if "constant" in o:
            raise ValueError("impute constant: not needed by this baseline")
        self.field, self.statistic, self.by = o["field"], o["statistic"], list(o.get("by") or [])
        self.stats = KeyedStats(10000, int(o.get("window", 0)))
        self.imputed = False

    def apply(self, row, flags, ts):
        v = row.get(self.field)
        if not (v is None or (isinstance(v, str) and not trim(v))):
            return
        s = self.stats.stats.get(key_of(row, self.by)) if self.by else None
        if s is None or s.count == 0:
            s = self.stats.stats.get("")
        fill = None
        if s is not None and s.count > 0:
            fill = s.mean if self.statistic == "mean" else s.median()
        row[self.field] = fill
        self.imputed = True
        if self.action == "flag" and fill is not None:
            flags.append(self.name)

    def abandon(self):
        self.imputed = False

    def commit(self, row, ts):
        was, self.imputed = self.imputed, False
        if was:
            return
        x = as_number(row.get(self.field))
        if x is None:
            return
        self.stats.observe("", x)
        if self.by:
            self.stats.observe(key_of(row, self.by), x)


_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")


def duration_ms(text):
    m = _DURATION.fullmatch(str(text))
    if not m:
        raise ValueError(f"bad duration {text!r}")
    return int(m.group(1)) * {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000}[m.group(2)]


class Dedupe(Rule):
    def __init__(self, o, index):
        super().__init__(o, index)
        self.key, self.window = list(o["key"]), duration_ms(o["window"])
        self.max_keys = int(o.get("max_keys", 1000000))
        self.seen, self.order, self.seq, self.newest = {}, collections.deque(), 0, -(1 << 63)

    def keys(self):
        return len(self.seen)

    def _pop(self):
        key, seq, _ = self.order.popleft()
        if self.seen.get(key) == seq:
            del self.seen[key]

    def apply(self, row, flags, ts):
        while self.order and self.order[0][2] < ts - self.window:
            self._pop()
        if all(row.get(f) is None for f in self.key):
            return
        if key_of(row, self.key) in self.seen:
            self.violation(flags, f"duplicate key {show_key(row, self.key)} within the window")

    def commit(self, row, ts):
        if all(row.get(f) is None for f in self.key):
            return
        self.newest = max(self.newest, ts)
        key = key_of(row, self.key)
        self.seq += 1
        self.seen[key] = self.seq
        self.order.append((key, self.seq, self.newest))
        while len(self.order) > self.max_keys:
            self._pop()


class Outlier(Rule):
    default_action = "flag"

    def __init__(self, o, index):
        super().__init__(o, index)
        self.field, self.method = o["field"], o["method"]
        self.min, self.max = _num(o.get("min")), _num(o.get("max"))
        self.threshold = float(o.get("threshold", 3))
        self.by = list(o.get("by") or [])
        self.warmup = int(o.get("warmup", 100))
        self.stats = KeyedStats(10000, 0)

    def apply(self, row, flags, ts):
        v = row.get(self.field)
        if v is None:
            return
        x = as_number(v)
        if x is None:
            return
        if self.method == "bounds":
            if (self.min is not None and x < self.min) or (self.max is not None and x > self.max):
                lo = describe(self.min) if self.min is not None else "-inf"
                hi = describe(self.max) if self.max is not None else "inf"
                self.violation(flags, f"{self.field}: {describe(x)} is an outlier (outside [{lo}, {hi}])")
            return
        s = self.stats.stats.get(key_of(row, self.by))
        if s is None or s.count < self.warmup:
            return
        sd = math.sqrt(s.variance())
        if sd <= 0:
            return
        z = (x - s.mean) / sd
        if abs(z) > self.threshold:
            extra = f" for {show_key(row, self.by)}" if self.by else ""
            self.violation(flags, f"{self.field}: z-score {z:.3g} beyond {self.threshold:.3g}{extra}")

    def commit(self, row, ts):
        if self.method == "zscore":
            x = as_number(row.get(self.field))
            if x is not None:
                self.stats.observe(key_of(row, self.by), x)


class SyntheticDate(Rule):
    default_action = "fix"

    def __init__(self, o, index):
        super().__init__(o, index)
        self.field, self.src = o["field"], list(o["from"])
        self.first, self.last = parse_date(o["start"]), parse_date(o["end"])

    def apply(self, row, flags, ts):
        span = self.last - self.first + 1
        row[self.field] = self.first + stable_hash64(key_of(row, self.src).encode(), 0x5eed) % span


RULES = {"required": Required, "coerce": Coerce, "range": Range, "regex": Regex, "allowed": Allowed,
         "impute": Impute, "dedupe": Dedupe, "outlier": Outlier, "synthetic_date": SyntheticDate}


class Cleaner:
    """The cleaner's rules in order, then typing into the clean schema (cleaner.cpp)."""

    def __init__(self, spec, clean_schema, flags_field="flags"):
        self.rules = []
        for i, o in enumerate(spec["cleaner"]["rules"]):
            if o["type"] not in RULES:
                raise ValueError(f"rule type {o['type']} is not in this baseline")
            self.rules.append(RULES[o["type"]](o, i))
        self.types = field_types(clean_schema)
        self.flags_field = flags_field if any(n == flags_field for n, *_ in self.types) else None

    def dedupe_keys(self):
        return sum(r.keys() for r in self.rules if isinstance(r, Dedupe))

    def process(self, record, ts):
        """Returns the typed clean row; raises Reject."""
        work, flags = dict(record), []
        try:
            for r in self.rules:
                r.apply(work, flags, ts)
            if self.flags_field:
                work[self.flags_field] = ",".join(flags) or None
            out = type_into(work, self.types)
        except Reject:
            for r in self.rules:
                r.abandon()
            raise
        work.update(out)
        for r in self.rules:
            r.commit(work, ts)
        return out


# --- enricher steps --------------------------------------------------------------------------

def monthly_installment(principal, rate_pct, months):
    r = rate_pct / 1200.0
    n = float(months)
    payment = principal / n if r == 0 else principal * r / (1 - math.pow(1 + r, -n))
    x = payment * 100
    return math.copysign(math.floor(abs(x) + 0.5), x) / 100


class Enricher:
    """The enricher's steps in order, then typing into the enriched schema (enricher.cpp).
    `tables` maps a pg_lookup table name to {key text: {column: value}} (read by the caller)."""

    def __init__(self, spec, enriched_schema, tables):
        self.steps = []
        for o in spec["enricher"]["steps"]:
            t = o["type"]
            if t == "pg_lookup":
                if o.get("missing", "null") == "reject":
                    raise ValueError("pg_lookup missing: reject is not in this baseline")
                fields = o["fields"]
                self.steps.append(("lookup", o["name"], o["key"], tables[o["table"]], list(fields.items())))
            elif t == "derive" and o["function"] in ("substr", "installment", "date_part"):
                self.steps.append(("derive", o["name"], o))
            else:
                raise ValueError(f"step {t}/{o.get('function')} is not in this baseline")
        self.types = field_types(enriched_schema)

    @staticmethod
    def lookups(spec):
        """[(table, key column, [columns])] the caller must read for the pg_lookup steps."""
        return [(o["table"], o.get("column", o["key"]), list(o["fields"].keys()))
                for o in spec["enricher"]["steps"] if o["type"] == "pg_lookup"]

    def process(self, clean):
        row = dict(clean)
        for step in self.steps:
            if step[0] == "lookup":
                _, _, key, table, fields = step
                k = row.get(key)
                hit = None if k is None else table.get(as_text(k))
                for column, field in fields:
                    row[field] = hit.get(column) if hit else None
                continue
            _, name, o = step
            field, fn = o["field"], o["function"]
            if fn == "substr":
                v = row.get(o["from"])
                if v is None:
                    row[field] = None
                else:
                    s, start = as_text(v), int(o.get("start", 0))
                    row[field] = "" if start >= len(s) else s[start:start + int(o.get("length", 1))]
            elif fn == "date_part":
                v = row.get(o["from"])
                if v is None:
                    row[field] = None
                    continue
                days = v if isinstance(v, int) and not isinstance(v, bool) else parse_date(trim(as_text(v)))
                if days is None:
                    raise Reject(name, f"{o['from']}: {describe(v)} is not a date")
                d = EPOCH + datetime.timedelta(days=days)
                part = o["part"]
                if part == "year":
                    row[field] = d.year
                elif part == "month":
                    row[field] = d.month
                elif part == "day":
                    row[field] = d.day
                elif part == "quarter":
                    row[field] = (d.month - 1) // 3 + 1
                elif part == "weekday":
                    row[field] = d.isoweekday()
                else:
                    row[field] = d.isoformat()[:7]
            else:  # installment
                p, r, n = (as_number(row.get(o[k])) for k in ("principal", "rate", "term"))
                if p is None or r is None or n is None:
                    row[field] = None
                    continue
                if n < 1 or math.trunc(n) != n or r < 0:
                    raise Reject(name, "installment needs a whole number of months >= 1 and a rate >= 0, "
                                       f"got term {describe(row.get(o['term']))} and rate {describe(row.get(o['rate']))}")
                row[field] = monthly_installment(p, r, int(n))
        return type_into(row, self.types)


def load_pipeline(path):
    """The pipeline file with every scalar as text (yaml-cpp reads scalars as text too; the
    rules convert), and the three schemas resolved relative to it."""
    with open(path, encoding="utf-8") as f:
        spec = yaml.load(f, Loader=yaml.BaseLoader)
    base = os.path.dirname(os.path.abspath(path))
    schemas = {role: load_avsc(os.path.join(base, p)) for role, p in spec["schemas"].items()}
    return spec, schemas
