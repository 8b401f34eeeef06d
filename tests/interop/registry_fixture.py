"""Starts a real sluice-registry for one test: a free loopback port, a unique schemas topic on
the local broker (SLUICE_KAFKA_BROKERS). Stops it (SIGTERM, then SIGKILL) on exit and deletes
its schemas topic and the topics the test added to `topics` (the broker is shared)."""
import os
import signal
import socket
import subprocess
import time
import uuid

import requests

from interop_common import require_env


class Registry:
    def __init__(self):
        self.brokers = require_env("SLUICE_KAFKA_BROKERS")
        binary = require_env("SLUICE_REGISTRY_BIN")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.suffix = uuid.uuid4().hex[:10]
        self.topic = f"_schemas_interop_{self.suffix}"
        self.url = f"http://127.0.0.1:{self.port}"
        self.topics = [self.topic]
        self.log_path = f"/tmp/sluice-interop-registry-{self.suffix}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--brokers", self.brokers,
             "--schemas-topic", self.topic, "--log-format", "text"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sluice-registry exited with {self.proc.returncode}: "
                                   f"{open(self.log_path).read()[-2000:]}")
            try:
                if requests.get(self.url + "/readyz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"sluice-registry not ready after 90 s; log {self.log_path}")
            time.sleep(0.2)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        try:
            from confluent_kafka.admin import AdminClient
            admin = AdminClient({"bootstrap.servers": self.brokers})
            for f in admin.delete_topics(self.topics, operation_timeout=30).values():
                try:
                    f.result(30)
                except Exception:  # noqa: BLE001 - a topic that was never created
                    pass
        except Exception as e:  # noqa: BLE001 - cleanup must not hide the test's result
            print(f"warning: could not delete the test topics: {e}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        if exc[0] is not None:
            print(f"registry log ({self.log_path}):\n{open(self.log_path).read()[-3000:]}")
        else:
            os.unlink(self.log_path)
