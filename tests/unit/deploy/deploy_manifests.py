#!/usr/bin/env python3
"""Offline structural validation of Dockerfile, docker-compose.yml and deploy/k8s/.

Facts are read from the sources, not restated here: the binaries from services/CMakeLists.txt,
what each daemon requires (needs_kafka/registry/pg) from its main.cpp, the environment
variables the code reads (Environment::KnownNames, CLI11 envname(), getenv()), the health
ports from the stage identity table in common/src/config/stage_identity.cpp (a daemon listens
there only when its manifest sets SLUICE_HTTP_PORT; by default it binds any free port). Usage: deploy_manifests.py <source dir> [rendered kustomize output]
Prints every problem and exits 1 when there is any.
"""
import os
import posixpath
import re
import sys
from urllib.parse import urlparse

import yaml

SRC = os.path.abspath(sys.argv[1])
RENDERED = sys.argv[2] if len(sys.argv) > 2 else None
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

known_env = {"SLUICE_CONFIG"}
known_env |= set(re.findall(r'"((?:SLUICE|PG)[A-Z_]*)"', read("common/src/config/environment.cpp")))
for root in ("common/src", "services"):
    for dirpath, _, files in os.walk(os.path.join(SRC, root)):
        for name in files:
            if name.endswith(".cpp"):
                text = open(os.path.join(dirpath, name), encoding="utf-8").read()
                known_env |= set(re.findall(r'(?:envname|getenv)\("([A-Z_]+)"\)', text))

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


def split_image(image):
    name, _, tag = image.partition(":")
    return name, tag or "latest"


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

# ---- deploy/k8s ---------------------------------------------------------------------------
K8S = os.path.join(SRC, "deploy/k8s")
kust = yaml.safe_load(read("deploy/k8s/kustomization.yaml"))
listed = set(kust.get("resources") or [])
on_disk = {f for f in os.listdir(K8S) if f.endswith((".yaml", ".yml")) and f != "kustomization.yaml"}
for f in sorted(on_disk - listed):
    problem("deploy/k8s", f"{f} is not listed in kustomization.yaml resources")
for f in sorted(listed - on_disk):
    problem("deploy/k8s/kustomization.yaml", f"resource {f} does not exist")

generated = {}  # ConfigMap name -> {key: source path relative to SRC}
for gen in kust.get("configMapGenerator") or []:
    keys = {}
    for entry in gen.get("files") or []:
        key, _, path = entry.rpartition("=") if "=" in entry else (os.path.basename(entry), "", entry)
        full = os.path.normpath(os.path.join(K8S, path))
        if not os.path.isfile(full):
            problem("kustomization.yaml", f"configMapGenerator file {path} does not exist")
        keys[key] = os.path.relpath(full, SRC)
    generated[gen["name"]] = keys


def runtime_files(folder):
    """What the daemons read from a pipeline folder (pipelines/README.md): pipeline.yaml, sql/
    and schemas/; cases/ and sample/ are for tests and people, not shipped in a ConfigMap."""
    files = {f"{folder}/pipeline.yaml"}
    for sub in ("sql", "schemas"):
        d = os.path.join(SRC, folder, sub)
        if os.path.isdir(d):
            files |= {f"{folder}/{sub}/{f}" for f in os.listdir(d)}
    return files


# pipeline folder (pipelines/<p>) -> the ConfigMap generated from exactly its runtime files
pipeline_cm = {}
for n, k in generated.items():
    pipeline_key = k.get("pipeline.yaml", "")
    if not re.fullmatch(r"pipelines/[\w.-]+/pipeline\.yaml", pipeline_key):
        continue
    folder = posixpath.dirname(pipeline_key)
    if set(k.values()) != runtime_files(folder):
        problem("kustomization.yaml", f"ConfigMap {n} is not generated from exactly {folder}/pipeline.yaml, "
                                      f"sql/ and schemas/: missing {sorted(runtime_files(folder) - set(k.values()))}, "
                                      f"extra {sorted(set(k.values()) - runtime_files(folder))}")
    pipeline_cm[folder] = n
if "pipelines/loans" not in pipeline_cm:
    problem("kustomization.yaml", "no ConfigMap generated from pipelines/loans/pipeline.yaml")

docs = []
for f in sorted(listed & on_disk):
    try:
        for doc in yaml.safe_load_all(read(f"deploy/k8s/{f}")):
            if doc is not None:
                docs.append((f, doc))
    except yaml.YAMLError as e:
        problem(f"deploy/k8s/{f}", f"does not parse: {e}")

by_kind = {}
for f, doc in docs:
    name = (doc.get("metadata") or {}).get("name")
    if not doc.get("apiVersion") or not doc.get("kind") or not name:
        problem(f"deploy/k8s/{f}", f"document without apiVersion/kind/metadata.name: {str(doc)[:80]}")
        continue
    by_kind.setdefault(doc["kind"], {})[name] = (f, doc)

secrets = {n: set((d.get("stringData") or {}) | (d.get("data") or {}))
           for n, (_, d) in by_kind.get("Secret", {}).items()}
pvcs = set(by_kind.get("PersistentVolumeClaim", {}))
services_k8s = by_kind.get("Service", {})
workloads = {**by_kind.get("Deployment", {}), **by_kind.get("StatefulSet", {}), **by_kind.get("Job", {})}
kust_images = {i["name"]: i for i in kust.get("images") or []}
sluice_image = split_image(compose_images.get(compose_binaries.get(REGISTRY, ""), "sluice"))
k8s_binaries = {}

for name, (f, doc) in workloads.items():
    where = f"deploy/k8s/{f} {doc['kind']}/{name}"
    spec = doc.get("spec") or {}
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    tmpl = spec.get("template") or {}
    labels = (tmpl.get("metadata") or {}).get("labels") or {}
    if not selector and doc["kind"] != "Job":  # a Job's selector is generated
        problem(where, "no selector.matchLabels")
    for k, v in selector.items():
        if labels.get(k) != v:
            problem(where, f"selector {k}={v} does not match the pod template labels {labels}")
    if doc["kind"] == "StatefulSet" and spec.get("serviceName") not in services_k8s:
        problem(where, f"serviceName {spec.get('serviceName')} is no Service")
    pod = tmpl.get("spec") or {}
    if doc["kind"] == "Job" and pod.get("restartPolicy") not in ("OnFailure", "Never"):
        problem(where, "a Job's pod needs restartPolicy OnFailure or Never")
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    claims = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates") or []}
    for vname, vol in volumes.items():
        if "configMap" in vol:
            cm = vol["configMap"]["name"]
            if cm not in generated and cm not in by_kind.get("ConfigMap", {}):
                problem(where, f"volume {vname}: ConfigMap {cm} is neither generated nor declared")
            for item in vol["configMap"].get("items") or []:
                if cm in generated and item["key"] not in generated[cm]:
                    problem(where, f"volume {vname}: key {item['key']} not in ConfigMap {cm}")
        if "persistentVolumeClaim" in vol and vol["persistentVolumeClaim"]["claimName"] not in pvcs:
            problem(where, f"volume {vname}: no PersistentVolumeClaim {vol['persistentVolumeClaim']['claimName']}")
    for c in pod.get("containers") or []:
        cw = f"{where} container {c.get('name')}"
        res = c.get("resources") or {}
        for part in ("requests", "limits"):
            if not all(k in (res.get(part) or {}) for k in ("cpu", "memory")):
                problem(cw, f"resources.{part} needs cpu and memory")
        mounts = {}
        for m in c.get("volumeMounts") or []:
            if m["name"] not in volumes and m["name"] not in claims:
                problem(cw, f"volumeMount {m['name']} has no volume")
            mounts[m["mountPath"]] = m["name"]
        ports = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
        env = {}
        for e in c.get("env") or []:
            env[e["name"]] = e.get("value")
            ref = (e.get("valueFrom") or {}).get("secretKeyRef")
            if ref and ref.get("key") not in secrets.get(ref.get("name"), set()):
                problem(cw, f"env {e['name']}: no key {ref.get('key')} in Secret {ref.get('name')}")
        command = c.get("command") or []
        binary = command[0] if command else None
        image_name, image_tag = split_image(c.get("image", ""))
        if not binary or not binary.startswith("sluice-"):
            other = [i for s, i in compose_images.items() if split_image(i)[0] == image_name]
            if not other:
                problem(cw, f"image {c.get('image')} is used by no compose service")
            elif c.get("image") not in other:
                problem(cw, f"image {c.get('image')} differs from compose's {other[0]}")
            continue
        if binary not in WANTED:
            problem(cw, f"command {binary} is no Sluice binary")
            continue
        k8s_binaries[binary] = name
        tag = kust_images.get(image_name, {}).get("newTag", image_tag)
        if (image_name, tag) != sluice_image:
            problem(cw, f"image {image_name}:{tag} is not compose's {':'.join(sluice_image)}")
        pipeline = env_requirements(cw, binary, env)
        if binary == "sluice-producer" and pipeline:
            producer_mounts(cw, pipeline, mounts)
            if producer_inputs(pipeline)[1] and doc["kind"] == "Job":
                problem(cw, f"{pipeline} watches a directory (the producer never exits): not a Job")
        if pipeline:
            # The pipeline's folder is mounted whole, each file at its path in the folder.
            folder = posixpath.dirname(pipeline)
            mount = mounts.get(f"/opt/sluice/{folder}")
            cm = (volumes.get(mount) or {}).get("configMap", {}).get("name")
            if cm is None or cm != pipeline_cm.get(folder):
                problem(cw, f"/opt/sluice/{folder} is not the ConfigMap generated from {folder}/")
            else:
                keys = {i["key"]: i["path"] for i in volumes[mount]["configMap"].get("items") or []}
                for key, rel in generated[cm].items():
                    want = os.path.relpath(rel, folder)
                    if keys.get(key, key) != want:
                        problem(cw, f"ConfigMap key {key} is mounted at {keys.get(key, key)}, not {want}")
        expected = registry_port(command) if binary == REGISTRY else daemon_port(cw, binary, env)
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/livez")):
            p = c.get(probe)
            if not p:
                problem(cw, f"no {probe}")
                continue
            if "httpGet" in p:
                port = p["httpGet"]["port"]
                port = ports.get(port, port)
                got_path = p["httpGet"].get("path")
                if binary != REGISTRY:
                    # The daemons' health server binds 127.0.0.1 (SLUICE_HTTP_BIND): the kubelet
                    # cannot reach it through the pod IP.
                    problem(cw, f"{probe} httpGet cannot reach a server bound to 127.0.0.1")
            elif "exec" in p:
                port, got_path = url_port(cw, p["exec"].get("command") or [])
            else:
                problem(cw, f"{probe} is neither httpGet nor exec")
                continue
            if got_path != path:
                problem(cw, f"{probe} path {got_path}, not {path}")
            if expected is not None and port != expected:
                problem(cw, f"{probe} port {port} is not the health port {expected}")
        for var in ("SLUICE_KAFKA_BROKERS", "SLUICE_REGISTRY_URL"):
            value = env.get(var)
            if value:
                first = value.split(",")[0]
                u = urlparse(first if "://" in first else "x://" + first)
                svc = services_k8s.get(u.hostname)
                if not svc:
                    problem(cw, f"{var}={value}: no Service {u.hostname}")
                elif u.port not in [p["port"] for p in svc[1]["spec"].get("ports") or []]:
                    problem(cw, f"{var}={value}: Service {u.hostname} has no port {u.port}")
        if env.get("PGHOST") and env["PGHOST"] not in services_k8s:
            problem(cw, f"PGHOST={env['PGHOST']} is no Service")
for b in sorted(WANTED - set(k8s_binaries)):
    problem("deploy/k8s", f"no workload runs {b}")

for name, (f, doc) in services_k8s.items():
    where = f"deploy/k8s/{f} Service/{name}"
    selector = (doc.get("spec") or {}).get("selector") or {}
    matches = [w for w, (_, d) in workloads.items()
               if all(((d["spec"]["template"].get("metadata") or {}).get("labels") or {}).get(k) == v
                      for k, v in selector.items())]
    if not selector or not matches:
        problem(where, f"selector {selector} matches no workload")
    for p in doc["spec"].get("ports") or []:
        target = p.get("targetPort", p["port"])
        names = {}
        for w in matches:
            for c in workloads[w][1]["spec"]["template"]["spec"]["containers"]:
                for cp in c.get("ports") or []:
                    names[cp.get("name")] = cp["containerPort"]
        if matches and target not in names and target not in names.values():
            problem(where, f"targetPort {target} is no container port of {matches}")

# ---- the rendered kustomize output (kubectl kustomize), when there is one ------------------
if RENDERED:
    rendered = [d for d in yaml.safe_load_all(open(RENDERED, encoding="utf-8")) if d]
    cms = [d for d in rendered if d.get("kind") == "ConfigMap"]
    found = False
    for d in cms:
        data = d.get("data") or {}
        name = d["metadata"]["name"]
        # Generated names carry a content hash suffix: sluice-pipeline-<hash>.
        sources = next((k for n, k in generated.items() if name == n or name.startswith(n + "-")), None)
        if sources is None or "pipeline.yaml" not in data:
            continue
        found = True
        for key, rel in sources.items():
            if data.get(key) != read(rel):
                problem("kustomize output", f"ConfigMap {name} {key} differs from {rel}")
    if not found:
        problem("kustomize output", "no ConfigMap carries a pipeline.yaml")
    for d in rendered:
        if d.get("kind") != "Namespace" and (d.get("metadata") or {}).get("namespace") != kust.get("namespace"):
            problem("kustomize output", f"{d.get('kind')}/{d['metadata'].get('name')} is not in namespace {kust.get('namespace')}")

checked = len(docs)
if problems:
    print("\n".join(problems))
    print(f"FAILED: {len(problems)} problem(s)")
    sys.exit(1)
print(f"ok: Dockerfile, {len(services)} compose services, {checked} k8s documents, "
      f"{'rendered kustomize output' if RENDERED else 'no kustomize rendering'}")
