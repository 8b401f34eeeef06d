# One image for every Sluice daemon: sluice-producer, sluice-cleaner, sluice-enricher,
# sluice-pg-sink and sluice-registry. docker-compose.yml and deploy/k8s/ pick the binary with
# the container command. See deploy/README.md. Built and run for real by the container tier
# (deploy/docker/ci-containers, called by .ci/run).

# ---- build stage: the same Debian -dev packages as deploy/local/lib/install.sh -------------
FROM debian:12 AS build
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      cmake ninja-build g++ pkg-config ca-certificates \
      librdkafka-dev libpqxx-dev libpq-dev nlohmann-json3-dev libspdlog-dev catch2 \
      libyaml-cpp-dev libcli11-dev libcpp-httplib-dev libcurl4-openssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DSLUICE_TESTS=OFF -DSLUICE_BENCH=OFF -DSLUICE_FUZZ=OFF -DSLUICE_SANITIZE=OFF \
 && cmake --build /build --target \
      sluice-producer sluice-cleaner sluice-enricher sluice-pg-sink sluice-registry

# ---- runtime stage: shared libraries only, non-root ------------------------------------------
FROM debian:12-slim AS runtime
# curl: the healthchecks / probes call http://127.0.0.1:<port>/readyz from inside the
# container (the daemons' health server binds 127.0.0.1 unless SLUICE_HTTP_BIND says otherwise).
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      librdkafka++1 librdkafka1 libpqxx-6.4 libpq5 libspdlog1.10 libfmt9 libyaml-cpp0.7 \
      libcpp-httplib0.11 libcurl4 libssl3 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /opt/sluice --shell /usr/sbin/nologin sluice
COPY --from=build /build/bin/sluice-producer /build/bin/sluice-cleaner \
     /build/bin/sluice-enricher /build/bin/sluice-pg-sink /build/bin/sluice-registry \
     /usr/local/bin/
# A pipeline is a folder (pipelines/README.md); paths in its pipeline.yaml are relative to it:
# schemas/, sql/ and ../../.stack/inbox/loans (the producer's watched inbox, a volume) resolve
# under /opt/sluice. The inbox exists in the image, owned by the daemon user, so an empty named
# volume mounted there starts with that owner.
COPY pipelines/ /opt/sluice/pipelines/
RUN mkdir -p /opt/sluice/.stack/inbox/loans && chown -R sluice:sluice /opt/sluice/.stack
WORKDIR /opt/sluice
USER 10001:10001
ENV SLUICE_CONFIG=/opt/sluice/pipelines/loans/pipeline.yaml
# No default daemon: the command names one, e.g. ["sluice-cleaner"].
CMD ["sluice-cleaner", "--help"]
