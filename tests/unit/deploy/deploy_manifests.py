#!/usr/bin/env python3
"""Offline structural validation of Dockerfile and docker-compose.yml (deploy/k8s/: see
k8s_manifests_test.sh).

Facts are read from the sources, not restated here: the binaries from services/CMakeLists.txt,
what each daemon requires (needs_kafka/registry/pg) from its main.cpp, the environment
variables the code reads (Environment::KnownNames, CLI11 envname(), getenv()), the health
ports from the stage identity table in common/src/config/stage_identity.cpp (a daemon listens
there only when its manifest sets SLUICE_HTTP_PORT; by default it binds any free port). Usage: deploy_manifests.py <source dir>
Prints every problem and exits 1 when there is any.
"""
import os
import posixpath
import re
import sys
from urllib.parse import urlparse

import yaml

SRC = os.path.abspath(sys.argv[1])
problems = []


def problem(where, message):
    problems.append(f"{where}: {message}")


def read(rel):
    with open(os.path.join(SRC, rel), encoding="utf-8") as f:
        return f.read()


# ---- facts from the sources ---------------------------------------------------------------
binaries = dict(re.findall(r"sluice_service\(\s*([\w-]+)\s+(sluice-[\w-]+)\)",
                           read("services/CMakeLists.txt")))  # dir -> binary
DAEMONS = {"sluice-producer", "sluice-cleaner", "sluice-enricher", "sluice-pg-sink"}
REGISTRY = "sluice-registry"
WANTED = DAEMONS | {REGISTRY}
for b in WANTED - set(binaries.values()):
    problem("services/CMakeLists.txt", f"no binary {b}")

needs = {}  # binary -> {"kafka", "registry", "pg"}
for d, b in binaries.items():
    main = os.path.join(SRC, "services", d, "main.cpp")
    if b in DAEMONS and os.path.exists(main):
        text = open(main, encoding="utf-8").read()
        needs[b] = set(re.findall(r"needs_(kafka|registry|pg)\b", text))
needs[REGISTRY] = {"kafka"}  # --brokers / SLUICE_KAFKA_BROKERS: its state is a Kafka topic

# The environment variables the code reads: the component generator's list, one definition.
sys.path.insert(0, os.path.join(SRC, "deploy", "k8s"))
from render_components import known_env as _known_env  # noqa: E402
known_env = _known_env()

# binary -> port, from the rows {Stage::kX, "id", "section", "binary", "group", "txn", "dlq", port}.
health_port = {b: int(p) for b, p in re.findall(
    r'\{Stage::k\w+,\s*"[\w-]*",\s*"[\w-]*",\s*"(sluice-[\w-]+)",\s*"[^"]*",\s*"[^"]*",\s*"[^"]*",\s*(\d+)\}',
    read("common/src/config/stage_identity.cpp"))}
for b in sorted(WANTED - set(health_port)):
    problem("stage_identity.cpp", f"no port for {b} in the stage table")


def daemon_port(where, binary, env):
    """The health port a daemon listens on: SLUICE_HTTP_PORT, which must be the table's."""
    value = env.get("SLUICE_HTTP_PORT")
    if value is None:
        problem(where, f"{binary} without SLUICE_HTTP_PORT binds any free port: its health check cannot find it")
        return None
    if str(value) != str(health_port.get(binary)):
        problem(where, f"SLUICE_HTTP_PORT={value} is not {binary}'s port in the stage table ({health_port.get(binary)})")
    return int(value) if str(value).isdigit() else None


def producer_inputs(pipeline_rel):
    """Container directories the producer reads (each source's dir:, or the directory of its
    path:, resolved like the daemon does: relative to the pipeline file, which the image has
    at /opt/sluice/<pipeline_rel>), and whether any of them is watched (the producer then
    runs until stopped)."""
    doc = yaml.safe_load(read(pipeline_rel)) or {}
    base = posixpath.dirname(posixpath.join("/opt/sluice", pipeline_rel))
    dirs, watched = set(), False
    for src in ((doc.get("producer") or {}).get("sources") or []):
        if src.get("dir"):
            dirs.add(posixpath.normpath(posixpath.join(base, src["dir"])))
            watched = watched or bool(src.get("watch"))
        elif src.get("path"):
            dirs.add(posixpath.dirname(posixpath.normpath(posixpath.join(base, src["path"]))))
    return dirs, watched


def producer_mounts(where, pipeline, mount_paths):
    """The producer must have a volume at each directory its pipeline reads."""
    if not pipeline:
        return
    dirs, _ = producer_inputs(pipeline)
    for d in sorted(dirs - set(mount_paths)):
        problem(where, f"the producer reads {d} ({pipeline}) but no volume is mounted there "
                       f"(mounted: {sorted(mount_paths)})")


def env_requirements(where, binary, env):
    """env: name -> value (None when from a secret)."""
    for name in env:
        if name not in known_env:
            problem(where, f"environment variable {name} is read by no daemon")
    need = needs.get(binary, set())
    if "kafka" in need and "SLUICE_KAFKA_BROKERS" not in env:
        problem(where, f"{binary} needs SLUICE_KAFKA_BROKERS")
    if "registry" in need and "SLUICE_REGISTRY_URL" not in env:
        problem(where, f"{binary} needs SLUICE_REGISTRY_URL")
    if "pg" in need and "SLUICE_PG_URL" not in env and "PGHOST" not in env:
        problem(where, f"{binary} needs SLUICE_PG_URL or PG*")
    if binary in DAEMONS:
        cfg = env.get("SLUICE_CONFIG")
        if not cfg:
            problem(where, f"{binary} needs SLUICE_CONFIG")
            return None
        m = re.fullmatch(r"/opt/sluice/(pipelines/[\w.-]+/pipeline\.yaml)", cfg)
        if not m or not os.path.exists(os.path.join(SRC, m.group(1))):
            problem(where, f"SLUICE_CONFIG={cfg} is not a pipelines/<p>/pipeline.yaml under /opt/sluice")
            return None
        return m.group(1)
    return None


def url_port(where, command):
    """The port of the http://127.0.0.1:<port>/<path> URL in a curl command, and the path."""
    urls = [a for a in command if isinstance(a, str) and a.startswith("http://")]
    if len(urls) != 1:
        problem(where, f"health check {command} has no single URL")
        return None, None
    u = urlparse(urls[0])
    return u.port, u.path


def registry_port(command):
    if "--port" in command:
        return int(command[command.index("--port") + 1])
    return health_port.get(REGISTRY, 18081)


# ---- Dockerfile ---------------------------------------------------------------------------
dockerfile = read("Dockerfile")
stages = re.split(r"(?m)^FROM ", dockerfile)[1:]
if len(stages) < 2:
    problem("Dockerfile", "expected a build stage and a runtime stage")
else:
    build_stage, runtime_stage = stages[0], stages[-1]
    install = read("deploy/local/lib/install.sh")
    m = re.search(r"STACK_APT_PACKAGES=\((.*?)\)", install, re.S)
    dev = [p for p in (m.group(1).split() if m else []) if p.endswith("-dev") and not p.startswith("libclang")]
    if not dev:
        problem("install.sh", "no -dev packages found in STACK_APT_PACKAGES")
    for p in dev + ["catch2", "cmake", "ninja-build"]:
        if not re.search(rf"(?<![\w-]){re.escape(p)}(?![\w-])", build_stage):
            problem("Dockerfile", f"build stage does not install {p} (deploy/local/lib/install.sh does)")
    if re.search(r"\S+-dev\b", runtime_stage):
        problem("Dockerfile", "runtime stage installs -dev packages")
    for b in sorted(WANTED):
        if f"/build/bin/{b}" not in runtime_stage:
            problem("Dockerfile", f"runtime stage does not copy {b}")
    if not re.search(r"(?m)^COPY pipelines/ /opt/sluice/pipelines/", runtime_stage):
        problem("Dockerfile", "runtime stage does not copy pipelines/ to /opt/sluice/pipelines/")
    users = re.findall(r"(?m)^USER (\S+)", runtime_stage)
    if not users or users[-1].split(":")[0] in ("0", "root"):
        problem("Dockerfile", "runtime stage does not end as a non-root USER")
    if "-DSLUICE_TESTS=OFF" not in build_stage:
        problem("Dockerfile", "build stage builds the tests")

# ---- docker-compose.yml -------------------------------------------------------------------
compose = yaml.safe_load(read("docker-compose.yml"))
services = compose.get("services") or {}
compose_images = {}
compose_binaries = {}
for name, svc in services.items():
    where = f"docker-compose.yml services.{name}"
    if not svc.get("image") and not svc.get("build"):
        problem(where, "has neither image nor build")
    if svc.get("image"):
        compose_images[name] = svc["image"]
    hc = svc.get("healthcheck") or {}
    command = svc.get("command") or []
    if isinstance(command, str):
        command = command.split()
    one_shot = svc.get("restart") == "no" and not (command and str(command[0]).startswith("sluice-"))
    if not hc.get("test") and not one_shot:  # a one-shot step (restart: "no") exits: no health
        problem(where, "has no healthcheck")
    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):
        problem(where, "depends_on without conditions")
        deps = {}
    for dep, cond in deps.items():
        if dep not in services:
            problem(where, f"depends on unknown service {dep}")
        elif (cond or {}).get("condition") != "service_healthy":
            problem(where, f"depends_on {dep} is not condition: service_healthy")
    binary = command[0] if command else None
    if not binary or not binary.startswith("sluice-"):
        continue
    if binary not in WANTED:
        problem(where, f"command {binary} is no Sluice binary")
        continue
    compose_binaries[binary] = name
    if not svc.get("build"):
        problem(where, "Sluice service without build: (the image comes from ./Dockerfile)")
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    pipeline = env_requirements(where, binary, env)
    if binary == "sluice-producer":
        mounts = [(v.split(":")[1] if isinstance(v, str) else v.get("target"))
                  for v in svc.get("volumes") or []]
        producer_mounts(where, pipeline, mounts)
    test = hc.get("test") or []
    port, path = url_port(where, test)
    if binary == REGISTRY:
        expected = registry_port(command)
    else:
        expected = daemon_port(where, binary, env)
    if path != "/readyz":
        problem(where, f"healthcheck path is {path}, not /readyz")
    if expected is not None and port != expected:
        problem(where, f"healthcheck port {port} is not the health port {expected}")
    for var, kind in (("SLUICE_KAFKA_BROKERS", "kafka"), ("SLUICE_REGISTRY_URL", "registry"),
                      ("SLUICE_PG_URL", "pg")):
        value = env.get(var)
        if not value:
            continue
        first = value.split(",")[0]
        host = urlparse(first if "://" in first else "x://" + first).hostname
        if host not in services:
            problem(where, f"{var}={value}: host {host} is no compose service")
        elif host not in deps:
            problem(where, f"{var} points at {host} but the service does not depend on it")
        if kind == "registry" and host in services:
            reg_cmd = services[host].get("command") or []
            if urlparse(value).port != registry_port(reg_cmd):
                problem(where, f"{var}={value}: the registry listens on {registry_port(reg_cmd)}")
for b in sorted(WANTED - set(compose_binaries)):
    problem("docker-compose.yml", f"no service runs {b}")

# deploy/k8s is checked by tests/unit/deploy/k8s_manifests_test.sh: its components are rendered
# from the same facts (deploy/k8s/render_components.py) and validated by kustomize + k8s-validate.

if problems:
    print("\n".join(problems))
    print(f"FAILED: {len(problems)} problem(s)")
    sys.exit(1)
print(f"ok: Dockerfile, {len(services)} compose services")
