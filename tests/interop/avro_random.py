"""Seeded random datums for an Avro schema, as fastavro-native Python values.

Unions of named types use fastavro's tuple notation ("full.name", value), so the branch is the
one the generator chose even when a plain value would fit an earlier branch (an enum symbol
is also a string). Longs stay within +-2**52 because avsc represents longs as JS numbers
(beyond that it refuses them or zigzag-encodes them wrongly); ints and the other types cover their full ranges.
"""
import random
import struct
import uuid

PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
SAFE_LONG = 2**52 - 1  # avsc mis-encodes longs beyond +-2**52 (JS doubles), see README


class Names:
    """Full names of the named types of one schema document, with their definitions."""

    def __init__(self, schema):
        self.types = {}
        self._collect(schema, "")

    @staticmethod
    def full(name, namespace):
        if "." in name or not namespace:
            return name
        return namespace + "." + name

    def _collect(self, s, ns):
        if isinstance(s, list):
            for b in s:
                self._collect(b, ns)
        elif isinstance(s, dict):
            t = s.get("type")
            if t in ("record", "error", "enum", "fixed"):
                full = self.full(s["name"], s.get("namespace", ns))
                s["_full"] = full
                s["_ns"] = full.rpartition(".")[0]
                self.types[full] = s
                if t in ("record", "error"):
                    for f in s["fields"]:
                        self._collect(f["type"], s["_ns"])
            elif t == "array":
                self._collect(s["items"], ns)
            elif t == "map":
                self._collect(s["values"], ns)
            elif isinstance(t, (dict, list)):
                self._collect(t, ns)

    def resolve(self, s, ns):
        """(definition, namespace) for a schema or a reference by name."""
        if isinstance(s, str) and s not in PRIMITIVES:
            d = self.types.get(self.full(s, ns)) or self.types[s]
            return d, d["_ns"]
        if isinstance(s, dict) and s.get("type") in ("record", "error", "enum", "fixed"):
            return s, s["_ns"]
        if isinstance(s, dict) and isinstance(s.get("type"), (dict, list)):
            return self.resolve(s["type"], ns)
        if isinstance(s, dict) and isinstance(s.get("type"), str) and s["type"] not in (
                "array", "map") and s["type"] not in PRIMITIVES:
            return self.resolve(s["type"], ns)
        return s, ns


def _float32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


class Generator:
    def __init__(self, schema, seed):
        self.names = Names(schema)
        self.schema = schema
        self.rnd = random.Random(seed)

    def datum(self):
        return self.value(self.schema, "", 0)

    def _len(self, depth):
        r = self.rnd
        if depth > 6:
            return 0
        return r.choice([0, 1, 2, 3, r.randint(0, 12)])

    def _string(self):
        r = self.rnd
        alphabet = "abcXYZ019 _-\"\\/\n\té€日本😀"
        n = r.choice([0, 1, 5, r.randint(0, 40)])
        return "".join(r.choice(alphabet) for _ in range(n))

    def _key(self):
        # Non-numeric keys: JS objects reorder integer-like keys, which would change the
        # order avsc writes map entries in (legal, but then bytes are not comparable).
        return "k" + self._string()

    def _bytes(self, n=None):
        r = self.rnd
        if n is None:
            n = r.choice([0, 1, 4, r.randint(0, 40)])
        return bytes(r.randint(0, 255) for _ in range(n))

    def _int(self, lo, hi):
        r = self.rnd
        return r.choice([lo, hi, 0, -1, 1, r.randint(-64, 63), r.randint(lo, hi)])

    def value(self, s, ns, depth):
        r = self.rnd
        s, ns = self.names.resolve(s, ns)
        t = s if isinstance(s, str) else (s if isinstance(s, list) else s["type"])
        logical = s.get("logicalType") if isinstance(s, dict) else None
        if isinstance(t, list):
            return self.union(t, ns, depth)
        if t == "null":
            return None
        if t == "boolean":
            return r.random() < 0.5
        if t == "int":
            if logical == "date":
                return r.randint(-719162, 2932896)   # years 1..9999 (fastavro reads datetime.date)
            if logical == "time-millis":
                return r.randint(0, 86_399_999)
            return self._int(-2**31, 2**31 - 1)
        if t == "long":
            if logical in ("time-micros",):
                return r.randint(0, 86_399_999_999)
            if logical in ("timestamp-millis", "local-timestamp-millis"):
                return r.randint(0, 4_102_444_800_000)       # 1970..2100
            if logical in ("timestamp-micros", "local-timestamp-micros"):
                return r.randint(0, 4_102_444_800_000_000)
            return self._int(-SAFE_LONG, SAFE_LONG)
        if t == "float":
            return _float32(r.choice([0.0, -0.0, 1.5, -2.25, 3.4e38, 1e-40, r.uniform(-1e6, 1e6)]))
        if t == "double":
            return r.choice([0.0, 1.0, -1e308, 5e-324, 0.1, r.uniform(-1e12, 1e12)])
        if t == "bytes":
            if logical == "decimal":
                # Minimal two's-complement bytes, as every library writes a decimal value.
                v = r.randint(-10**(s["precision"]) + 1, 10**(s["precision"]) - 1)
                n = max(1, (v.bit_length() + 8) // 8)
                return v.to_bytes(n, "big", signed=True)
            return self._bytes()
        if t == "string":
            if logical == "uuid":
                return str(uuid.UUID(int=r.getrandbits(128)))
            return self._string()
        if t == "fixed":
            if logical == "decimal":
                limit = min(10**s["precision"] - 1, 2**(8 * s["size"] - 1) - 1)
                return r.randint(-limit, limit).to_bytes(s["size"], "big", signed=True)
            return self._bytes(s["size"])
        if t == "enum":
            return r.choice(s["symbols"])
        if t == "array":
            return [self.value(s["items"], ns, depth + 1) for _ in range(self._len(depth))]
        if t == "map":
            # Keys in UTF-8 byte order: avro_tool reads Avro JSON through nlohmann::json, whose
            # objects are sorted that way, so this is the only order all three writers share.
            keys = sorted({self._key() for _ in range(self._len(depth))}, key=lambda k: k.encode())
            return {k: self.value(s["values"], ns, depth + 1) for k in keys}
        if t in ("record", "error"):
            return {f["name"]: self.value(f["type"], ns, depth + 1) for f in s["fields"]}
        raise ValueError(f"unsupported schema {s!r}")

    def union(self, branches, ns, depth):
        r = self.rnd
        choices = list(branches)
        if depth > 4:
            # Prefer a non-recursive branch when deep (null when there is one).
            flat = [b for b in choices if b == "null"] or choices
            choices = flat
        b = r.choice(choices)
        d, bns = self.names.resolve(b, ns)
        v = self.value(b, ns, depth + 1)
        if isinstance(d, dict) and d.get("type") in ("record", "error", "enum", "fixed"):
            return (d["_full"], v)
        return v


def _avro_json_bytes(b):
    return b.decode("latin-1")


def to_avro_json(names, s, v, ns=""):
    """The Avro JSON encoding of a generated value (unions: the first branch the value fits,
    as fastavro chooses, or the named branch of a tuple). fastavro's own json_writer is not
    used: it fails on recursive schemas (IndexError / RecursionError in fastavro 1.13)."""
    d, ns = names.resolve(s, ns)
    t = d if isinstance(d, (str, list)) else d["type"]
    if isinstance(t, list):
        if isinstance(v, tuple):
            name, inner = v
            for b in t:
                bd, bns = names.resolve(b, ns)
                if isinstance(bd, dict) and bd.get("_full") == name:
                    return {name: to_avro_json(names, b, inner, ns)}
            raise ValueError(f"no branch {name}")
        for b in t:
            bd, bns = names.resolve(b, ns)
            bt = bd if isinstance(bd, str) else bd["type"]
            fits = {
                "null": v is None,
                "boolean": isinstance(v, bool),
                "int": isinstance(v, int) and not isinstance(v, bool) and -2**31 <= v < 2**31,
                "long": isinstance(v, int) and not isinstance(v, bool),
                "float": isinstance(v, float),
                "double": isinstance(v, float),
                "string": isinstance(v, str),
                "bytes": isinstance(v, bytes),
                "array": isinstance(v, list),
                "map": isinstance(v, dict),
            }.get(bt, False)
            if fits:
                return None if v is None else {bt: to_avro_json(names, b, v, ns)}
        raise ValueError(f"no branch of {t} fits {v!r}")
    if t in ("bytes", "fixed"):
        return _avro_json_bytes(v)
    if t == "array":
        return [to_avro_json(names, d["items"], x, ns) for x in v]
    if t == "map":
        return {k: to_avro_json(names, d["values"], x, ns) for k, x in v.items()}
    if t in ("record", "error"):
        return {f["name"]: to_avro_json(names, f["type"], v[f["name"]], ns) for f in d["fields"]}
    return v
