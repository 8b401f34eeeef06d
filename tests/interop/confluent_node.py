"""Interop (c): the npm @kafkajs/confluent-schema-registry client with kafkajs against a real
sluice-registry and the local broker (the Node side is confluent_node.js):
register with BACKWARD; a field added with a default passes; one added without a default is
refused with HTTP 409; fetch by id; a message the client encoded (produced by kafkajs) is
decoded by our code (avro_tool wire-decode); a message our code encoded (avro_tool wire-encode)
is decoded by the client."""
import json
import os
import sys
import uuid

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, os.path.dirname(__file__))
from interop_common import avro_tool, node, same_value  # noqa: E402
from registry_fixture import Registry  # noqa: E402

V1 = {"type": "record", "name": "Reading", "namespace": "interop.js", "fields": [
    {"name": "sensor", "type": "string"},
    {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "celsius", "type": "double"},
    {"name": "tags", "type": {"type": "array", "items": "string"}}]}
V2 = {**V1, "fields": V1["fields"] + [{"name": "unit", "type": {"type": "enum", "name": "Unit",
                                                                   "symbols": ["C", "F"]}, "default": "C"}]}
V3 = {**V1, "fields": V2["fields"] + [{"name": "site", "type": "string"}]}

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def main():
    with Registry() as reg:
        subject = f"interop-js-{reg.suffix}-value"
        topic = f"interop-js-{reg.suffix}"
        reg.topics.append(topic)
        admin = AdminClient({"bootstrap.servers": reg.brokers})  # kept alive until the topic exists
        admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
        value = {"sensor": "s-1", "at": 1700000000123, "celsius": 21.5, "tags": ["roof", "north"], "unit": "F"}
        base = {"url": reg.url, "brokers": reg.brokers, "subject": subject, "topic": topic}
        r = node("confluent_node.js", {**base, "phase": "register", "v1": V1, "v2": V2, "v3": V3, "value": value})
        check(r["id1"] > 0 and r["id1_again"] == r["id1"], f"register v1 -> {r['id1']} (again {r['id1_again']})")
        check(r["id2"] != r["id1"], f"register v2 (field added with a default) -> {r['id2']}")
        err = r.get("v3_error")
        check(err is not None and err["status"] == 409,
              f"v3 (field added without a default) refused: {err or ('accepted as id %s' % r.get('id3'))}")
        check(r["fetched_v1_name"] in ("Reading", "interop.js.Reading") and
              r["fetched_v1_fields"] == ["sensor", "at", "celsius", "tags"],
              f"getSchema({r['id1']}) -> {r['fetched_v1_name']} {r['fetched_v1_fields']}")
        check(r["latest_id"] == r["id2"] and r["id_by_schema"] == r["id2"],
              f"latest id {r['latest_id']}, id by schema {r['id_by_schema']}")

        # Their bytes, our decoder.
        decoded = json.loads(avro_tool("wire-decode", reg.url, stdin_lines=[r["encoded_hex"]])[0])
        expected = {**value, "unit": "F"}
        diff = same_value(decoded["datum"], expected)
        check(decoded["id"] == r["id2"] and diff is None,
              f"our wire-decode of the client's message: id {decoded['id']}, {diff or 'datum equal'}")

        # Our bytes, their decoder (our message produced after theirs).
        path = f"/tmp/sluice-interop-{uuid.uuid4().hex}.avsc"
        with open(path, "w") as f:
            json.dump(V2, f)
        ours = {"sensor": "s-2", "at": 1, "celsius": -3.25, "tags": [], "unit": "C"}
        try:
            ours_hex = avro_tool("wire-encode", reg.url, subject, path, stdin_lines=[json.dumps(ours)])[0]
        finally:
            os.unlink(path)
        p = Producer({"bootstrap.servers": reg.brokers})
        p.produce(topic, value=bytes.fromhex(ours_hex))
        check(p.flush(30) == 0, "our message produced")
        c = node("confluent_node.js", {**base, "phase": "consume", "count": 2,
                                       "group": f"interop-js-{uuid.uuid4().hex}"})
        check(c["hex"] == [r["encoded_hex"], ours_hex], "kafkajs consumed both messages byte for byte")
        check(c["decoded"][1].get("value") == ours,
              f"the client decodes our message: {c['decoded'][1]}")
        check(c["decoded"][0].get("value") == value,
              f"the client decodes its own message: {c['decoded'][0]}")
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
