#!/usr/bin/env python3
"""Derives a host-network compose file from docker-compose.yml, for the container tier.

  derive_compose.py COMPOSE --port-base N --out FILE [--ports-json FILE]
      Writes FILE: COMPOSE with, on every service, `network_mode: host`, `ports:` dropped,
      `build.network: host`, and every endpoint moved to 127.0.0.1 on a free loopback port:
      each container port P the file uses (the container side of `ports:`, `<service>:P`,
      `localhost:P`, `127.0.0.1:P`, `0.0.0.0:P`, a listener `//:P`, SLUICE_HTTP_PORT and PGPORT
      values, `--port P`) becomes N, N+1, ... in increasing order of P; `<service>:P` and the
      other forms become `127.0.0.1:<new>`; `--bind 0.0.0.0` becomes `--bind 127.0.0.1`; the
      postgres image (which listens on 5432 on every address) gets PGPORT=<new 5432> and
      `-c listen_addresses=127.0.0.1`. Nothing else changes. --ports-json writes the port map.
  derive_compose.py --verify COMPOSE DERIVED
      Checks that DERIVED is such a derivation of COMPOSE: host networking and no `ports:` on
      every service, no service name left as a host, every endpoint on 127.0.0.1 at a port of
      one consistent map, each daemon's healthcheck on its own SLUICE_HTTP_PORT, and every other
      key unchanged. Prints each problem and exits 1 if there is one.

Why: the engine on our machines has host networking only (deploy/README.md, "The container
tier"), docker-compose 1.29 refuses `ports:` with `network_mode: host`, and an override file
cannot remove `ports:`, so the tier runs one derived file. Needs PyYAML (Debian python3-yaml).
"""
import argparse
import copy
import json
import re
import sys

import yaml

LOOPBACK = "127.0.0.1"
HOST_ALIASES = ("localhost", "127.0.0.1", "0.0.0.0")
PORT_VALUE_KEYS = ("SLUICE_HTTP_PORT", "PGPORT")
# Keys the derivation may change; every other key of a service must be equal.
CHANGED_KEYS = {"network_mode", "ports", "environment", "command", "healthcheck", "build"}


def endpoint_re(services):
    hosts = "|".join(re.escape(h) for h in sorted(set(services) | set(HOST_ALIASES), key=len, reverse=True))
    # <host>:<port>, or :<port> right after // (a Kafka listener such as PLAINTEXT://:9092).
    return re.compile(r"(?P<pre>^|(?<=[\s/@,=\"'\[]))(?P<host>" + hosts + r"|(?<=//))"
                      r":(?P<port>\d{1,5})(?=$|[/\s,\"'\]?])")


def text_items(service):
    """Yields (path, text) of every string the derivation rewrites in a service."""
    env = service.get("environment")
    if isinstance(env, dict):
        for k, v in env.items():
            if v is not None:
                yield ("environment", k), str(v)
    elif isinstance(env, list):
        for i, v in enumerate(env):
            yield ("environment", i), str(v)
    for key in ("command", "entrypoint"):
        v = service.get(key)
        if isinstance(v, str):
            yield (key,), v
        elif isinstance(v, list):
            for i, item in enumerate(v):
                yield (key, i), str(item)
    test = (service.get("healthcheck") or {}).get("test")
    if isinstance(test, str):
        yield ("healthcheck", "test"), test
    elif isinstance(test, list):
        for i, item in enumerate(test):
            yield ("healthcheck", "test", i), str(item)


def env_pairs(service):
    env = service.get("environment")
    if isinstance(env, dict):
        return {k: (None if v is None else str(v)) for k, v in env.items()}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {}


def container_port(entry):
    if isinstance(entry, dict):
        return int(entry["target"])
    text = str(entry).split("/")[0]
    return int(text.rsplit(":", 1)[-1].split("-")[0])


def is_postgres(service):
    return str(service.get("image", "")).split(":")[0] in ("postgres", "library/postgres")


def list_command(service):
    cmd = service.get("command")
    return cmd if isinstance(cmd, list) else None


def collect_ports(doc):
    """The container ports the file uses, sorted."""
    services = doc["services"]
    rx = endpoint_re(services)
    ports = set()
    for svc in services.values():
        for entry in svc.get("ports") or []:
            ports.add(container_port(entry))
        for _, text in text_items(svc):
            ports.update(int(m.group("port")) for m in rx.finditer(text))
        for k, v in env_pairs(svc).items():
            if k in PORT_VALUE_KEYS and v and v.isdigit():
                ports.add(int(v))
        cmd = list_command(svc) or []
        for a, b in zip(cmd, cmd[1:]):
            if a == "--port" and str(b).isdigit():
                ports.add(int(b))
        if is_postgres(svc):
            ports.add(5432)
    return sorted(ports)


def set_at(service, path, value):
    node = service
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value


def derive(doc, port_base):
    doc = copy.deepcopy(doc)
    services = doc["services"]
    ports = collect_ports(doc)
    port_map = {p: port_base + i for i, p in enumerate(ports)}
    rx = endpoint_re(services)

    def sub(text):
        return rx.sub(lambda m: f"{m.group('pre')}{LOOPBACK}:{port_map[int(m.group('port'))]}", text)

    for svc in services.values():
        svc.pop("ports", None)
        svc["network_mode"] = "host"
        if isinstance(svc.get("build"), str):
            svc["build"] = {"context": svc["build"]}
        if isinstance(svc.get("build"), dict):
            svc["build"]["network"] = "host"
        for path, text in list(text_items(svc)):
            new = sub(text)
            if path[0] == "environment" and isinstance(path[1], str) and path[1] in PORT_VALUE_KEYS \
                    and new.isdigit():
                new = str(port_map[int(new)])
            if path[0] == "environment" and isinstance(path[1], int):
                k, _, v = new.partition("=")
                if k in PORT_VALUE_KEYS and v.isdigit():
                    new = f"{k}={port_map[int(v)]}"
            if new != text:
                set_at(svc, path, new)
        cmd = list_command(svc)
        if cmd:
            for i in range(len(cmd) - 1):
                if cmd[i] == "--port" and str(cmd[i + 1]).isdigit():
                    cmd[i + 1] = str(port_map[int(cmd[i + 1])])
                if cmd[i] == "--bind" and cmd[i + 1] == "0.0.0.0":
                    cmd[i + 1] = LOOPBACK
        if is_postgres(svc):
            env = svc.setdefault("environment", {})
            if isinstance(env, dict):
                env["PGPORT"] = str(port_map[5432])
            else:
                env.append(f"PGPORT={port_map[5432]}")
            if svc.get("command") is None:
                svc["command"] = ["postgres", "-c", f"listen_addresses={LOOPBACK}"]
            elif isinstance(svc["command"], list):
                svc["command"] = list(svc["command"]) + ["-c", f"listen_addresses={LOOPBACK}"]
            else:
                svc["command"] = f"{svc['command']} -c listen_addresses={LOOPBACK}"
    return doc, port_map


# --- verification ----------------------------------------------------------------------------

def neutral(value, services):
    """The value with every endpoint, host alias and bare port reduced to a placeholder, so the
    original and the derivation compare equal exactly when only endpoints differ."""
    rx = endpoint_re(services)
    if isinstance(value, dict):
        return {k: neutral(v, services) for k, v in value.items()}
    if isinstance(value, list):
        return [neutral(v, services) for v in value]
    if isinstance(value, str):
        text = rx.sub(lambda m: f"{m.group('pre')}<ep>", value)
        return "<port>" if text.isdigit() else ("<host>" if text in HOST_ALIASES else text)
    return value


def verify(orig, derived):
    problems = []
    osvcs, dsvcs = orig.get("services", {}), derived.get("services", {})
    if set(osvcs) != set(dsvcs):
        problems.append(f"services differ: {sorted(osvcs)} vs {sorted(dsvcs)}")
    for k in set(orig) | set(derived):
        if k != "services" and orig.get(k) != derived.get(k):
            problems.append(f"top-level key {k!r} changed")
    rx = endpoint_re(osvcs)
    port_map = {}  # original container port -> derived port, learnt from aligned strings

    def learn(otext, dtext, where):
        om = [int(m.group("port")) for m in rx.finditer(otext)]
        dm = list(rx.finditer(dtext))
        if len(om) != len(dm):
            problems.append(f"{where}: endpoints {otext!r} -> {dtext!r}")
            return
        for p, m in zip(om, dm):
            if m.group("host") != LOOPBACK:
                problems.append(f"{where}: endpoint {m.group(0).strip()!r} is not on {LOOPBACK}")
            learn_port(p, int(m.group("port")), where)

    def learn_port(p, q, where):
        if port_map.setdefault(p, q) != q:
            problems.append(f"{where}: port {p} became {q}, elsewhere {port_map[p]}")

    for name in sorted(set(osvcs) & set(dsvcs)):
        o, d = osvcs[name], dsvcs[name]
        where = f"service {name}"
        if d.get("network_mode") != "host":
            problems.append(f"{where}: network_mode is {d.get('network_mode')!r}, not host")
        if "ports" in d:
            problems.append(f"{where}: still has ports: {d['ports']}")
        if "networks" in d:
            problems.append(f"{where}: has networks: (host networking only)")
        for k in (set(o) | set(d)) - CHANGED_KEYS:
            if o.get(k) != d.get(k):
                problems.append(f"{where}: {k} changed: {o.get(k)!r} -> {d.get(k)!r}")
        ob, db = o.get("build"), d.get("build")
        if ob is not None or db is not None:
            ob = {"context": ob} if isinstance(ob, str) else dict(ob or {})
            db = dict(db or {}) if isinstance(db, dict) else {"context": db}
            if db.pop("network", None) != "host":
                problems.append(f"{where}: build has no network: host")
            if ob != db:
                problems.append(f"{where}: build changed: {ob!r} -> {db!r}")
        ohc, dhc = dict(o.get("healthcheck") or {}), dict(d.get("healthcheck") or {})
        if {k: v for k, v in ohc.items() if k != "test"} != {k: v for k, v in dhc.items() if k != "test"}:
            problems.append(f"{where}: healthcheck settings changed")
        # Strings: same shape once endpoints are neutralised, and every endpoint on loopback.
        oenv, denv = env_pairs(o), env_pairs(d)
        extra = set(denv) - set(oenv)
        if is_postgres(o):
            extra.discard("PGPORT")
        if extra or set(oenv) - set(denv):
            problems.append(f"{where}: environment variables differ: {sorted(set(oenv) ^ set(denv))}")
        for k in set(oenv) & set(denv):
            ov, dv = oenv[k] or "", denv[k] or ""
            if k in PORT_VALUE_KEYS and ov.isdigit():
                if not dv.isdigit():
                    problems.append(f"{where}: {k}={dv!r}")
                else:
                    learn_port(int(ov), int(dv), f"{where} {k}")
            elif neutral(ov, osvcs) != neutral(dv, osvcs):
                problems.append(f"{where}: {k} changed beyond its endpoints: {ov!r} -> {dv!r}")
            else:
                learn(ov, dv, f"{where} {k}")
        for key in ("command", "entrypoint"):
            ov, dv = o.get(key), d.get(key)
            if is_postgres(o) and key == "command":
                tail = ["-c", f"listen_addresses={LOOPBACK}"]
                if isinstance(dv, list) and dv[-2:] == tail:
                    dv = dv[:-2] if ov is not None else None
                    if ov is None and d.get(key)[:1] != ["postgres"]:
                        problems.append(f"{where}: command {d.get(key)!r}")
                else:
                    problems.append(f"{where}: postgres does not listen on {LOOPBACK} only: {dv!r}")
            if neutral(ov, osvcs) != neutral(dv, osvcs):
                problems.append(f"{where}: {key} changed beyond its endpoints: {ov!r} -> {dv!r}")
                continue
            if isinstance(ov, list):
                for i, (a, b) in enumerate(zip(ov, dv)):
                    if i and ov[i - 1] == "--port" and str(a).isdigit():
                        learn_port(int(a), int(b), f"{where} --port")
                    elif i and ov[i - 1] == "--bind" and b != LOOPBACK:
                        problems.append(f"{where}: --bind {b}, not {LOOPBACK}")
                    else:
                        learn(str(a), str(b), f"{where} {key}")
            elif isinstance(ov, str):
                learn(ov, dv, f"{where} {key}")
        ot, dt = ohc.get("test"), dhc.get("test")
        if neutral(ot, osvcs) != neutral(dt, osvcs):
            problems.append(f"{where}: healthcheck test changed beyond its endpoints: {ot!r} -> {dt!r}")
        elif isinstance(ot, list):
            for a, b in zip(ot, dt):
                learn(str(a), str(b), f"{where} healthcheck")
        elif isinstance(ot, str):
            learn(ot, dt, f"{where} healthcheck")
        if is_postgres(o):
            pg = denv.get("PGPORT")
            if not (pg and pg.isdigit()):
                problems.append(f"{where}: no PGPORT for the postgres image")
            else:
                learn_port(5432, int(pg), f"{where} PGPORT")
        # A daemon's healthcheck calls its own health port.
        hp = denv.get("SLUICE_HTTP_PORT")
        if hp and dt and f":{hp}/" not in " ".join(dt if isinstance(dt, list) else [dt]):
            problems.append(f"{where}: healthcheck does not call SLUICE_HTTP_PORT {hp}: {dt!r}")
        # Every published port of the original is reached somewhere in the derivation.
        for entry in o.get("ports") or []:
            if container_port(entry) not in port_map and container_port(entry) not in collect_ports(orig):
                problems.append(f"{where}: published port {entry} unaccounted for")
    # No service name is left as a host anywhere.
    names = "|".join(re.escape(n) for n in osvcs)
    left = re.compile(r"(?:^|[\s/@,=\"'])(" + names + r"):\d")
    for name, d in dsvcs.items():
        for path, text in text_items(d):
            m = left.search(text)
            if m:
                problems.append(f"service {name} {'/'.join(map(str, path))}: still names host {m.group(1)!r}: {text!r}")
    targets = list(port_map.values())
    if len(set(targets)) != len(targets):
        problems.append(f"two container ports share one derived port: {port_map}")
    if any(p == q for p, q in port_map.items()):
        problems.append(f"ports left as they were (they may clash with the host's): {port_map}")
    return problems, port_map


def load(path):
    # Through JSON: YAML aliases (the services' `<<: *sluice-image`) share objects, and a
    # change to one service must not reach the others or the anchor.
    with open(path) as f:
        return json.loads(json.dumps(yaml.safe_load(f)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("compose")
    ap.add_argument("derived", nargs="?")
    ap.add_argument("--verify", action="store_true")
    ap.add_argument("--port-base", type=int)
    ap.add_argument("--out")
    ap.add_argument("--ports-json")
    args = ap.parse_args()
    orig = load(args.compose)
    if args.verify:
        if not args.derived:
            ap.error("--verify needs COMPOSE and DERIVED")
        problems, port_map = verify(orig, load(args.derived))
        for p in problems:
            print(f"derive_compose: {p}")
        if problems:
            return 1
        print(f"derive_compose: {args.derived} is a host-network derivation of {args.compose}: "
              f"ports {json.dumps({str(k): v for k, v in sorted(port_map.items())})}")
        return 0
    if args.port_base is None or not args.out:
        ap.error("--port-base and --out are required")
    derived, port_map = derive(orig, args.port_base)
    if max(port_map.values(), default=0) > 65535:
        ap.error("--port-base too high")
    problems, _ = verify(orig, derived)
    if problems:
        for p in problems:
            print(f"derive_compose: {p}")
        return 1
    with open(args.out, "w") as f:
        f.write(f"# Generated by deploy/docker/derive_compose.py from {args.compose} for the container\n"
                f"# tier (host networking, 127.0.0.1 ports from {args.port_base}); do not edit.\n")
        yaml.safe_dump(derived, f, sort_keys=False, default_flow_style=False, width=1000)
    if args.ports_json:
        with open(args.ports_json, "w") as f:
            json.dump({str(k): v for k, v in port_map.items()}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
