"""Interop (b): the Python confluent-kafka client (SchemaRegistryClient, AvroSerializer,
AvroDeserializer) against a real sluice-registry and the local Kafka broker.

- register a schema; set BACKWARD on the subject;
- evolve: adding a field with a default passes (new version, new id); adding a field without
  a default fails with HTTP 409 (error code 409 or 40901); under FORWARD, removing a field that
  has no default fails the same way (under BACKWARD removing a field is compatible: the new
  reader ignores it);
- fetch by id;
- a message AvroSerializer produced is decoded by our code (avro_tool wire-decode), and a
  message our code wrote (avro_tool wire-encode) is decoded by AvroDeserializer.
"""
import json
import os
import sys
import uuid

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

sys.path.insert(0, os.path.dirname(__file__))
from interop_common import avro_tool, same_value  # noqa: E402
from registry_fixture import Registry  # noqa: E402

V1 = {"type": "record", "name": "Payment", "namespace": "interop.py", "fields": [
    {"name": "id", "type": "long"},
    {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
    {"name": "payer", "type": "string"},
    {"name": "memo", "type": ["null", "string"], "default": None}]}
V2 = {**V1, "fields": V1["fields"] + [{"name": "currency", "type": "string", "default": "EUR"}]}
V3_NO_DEFAULT = {**V1, "fields": V2["fields"] + [{"name": "channel", "type": "string"}]}
V4_REMOVED = {**V1, "fields": [f for f in V2["fields"] if f["name"] != "payer"]}

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def expect_incompatible(fn, what):
    try:
        fn()
    except SchemaRegistryError as e:
        check(e.http_status_code == 409 and e.error_code in (409, 40901),
              f"{what}: HTTP {e.http_status_code} error_code {e.error_code} ({e.error_message})")
        return
    check(False, f"{what}: was accepted")


def consume_raw(brokers, topic, count):
    c = Consumer({"bootstrap.servers": brokers, "group.id": f"interop-py-{uuid.uuid4().hex}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    out = []
    try:
        for _ in range(600):
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                raise RuntimeError(str(m.error()))
            out.append(m.value())
            if len(out) == count:
                break
    finally:
        c.close()
    return out


def main():
    with Registry() as reg:
        client = SchemaRegistryClient({"url": reg.url})
        subject = f"interop-py-{reg.suffix}-value"
        topic = f"interop-py-{reg.suffix}"
        reg.topics.append(topic)

        id1 = client.register_schema(subject, Schema(json.dumps(V1), "AVRO"))
        check(isinstance(id1, int) and id1 > 0, f"register v1 -> id {id1}")
        again = client.register_schema(subject, Schema(json.dumps(V1), "AVRO"))
        check(again == id1, f"registering v1 again gives the same id ({again})")
        level = client.set_compatibility(subject_name=subject, level="BACKWARD")
        check(level == "BACKWARD" or getattr(level, "value", None) == "BACKWARD" or
              (isinstance(level, dict) and level.get("compatibility") == "BACKWARD"),
              f"set BACKWARD on the subject -> {level!r}")
        check(client.get_compatibility(subject) in ("BACKWARD",) or
              str(client.get_compatibility(subject)).endswith("BACKWARD"),
              f"get_compatibility -> {client.get_compatibility(subject)!r}")
        check(client.test_compatibility(subject, Schema(json.dumps(V2), "AVRO")) is True,
              "test_compatibility(v2 adds a field with a default) is True")
        id2 = client.register_schema(subject, Schema(json.dumps(V2), "AVRO"))
        check(id2 != id1, f"register v2 (field added with a default) -> id {id2}")
        check(client.test_compatibility(subject, Schema(json.dumps(V3_NO_DEFAULT), "AVRO")) is False,
              "test_compatibility(v3 adds a field without a default) is False")
        expect_incompatible(lambda: client.register_schema(subject, Schema(json.dumps(V3_NO_DEFAULT), "AVRO")),
                            "BACKWARD: register v3 (field added without a default) refused")
        client.set_compatibility(subject_name=subject, level="FORWARD")
        expect_incompatible(lambda: client.register_schema(subject, Schema(json.dumps(V4_REMOVED), "AVRO")),
                            "FORWARD: register v4 (field 'payer' without a default removed) refused")
        client.set_compatibility(subject_name=subject, level="BACKWARD")

        fetched = client.get_schema(id1)
        check(json.loads(fetched.schema_str) == V1 or
              avro_canonical(fetched.schema_str) == avro_canonical(json.dumps(V1)),
              f"get_schema({id1}) returns v1")
        latest = client.get_latest_version(subject)
        check(latest.schema_id == id2 and latest.version == 2,
              f"latest version -> id {latest.schema_id} version {latest.version}")
        versions = client.get_versions(subject)
        check(versions == [1, 2], f"versions -> {versions}")

        # Their bytes, our decoder.
        from decimal import Decimal
        ser = AvroSerializer(client, json.dumps(V2), conf={"auto.register.schemas": False,
                                                           "use.latest.version": False})
        ctx = SerializationContext(topic, MessageField.VALUE)
        theirs = {"id": 7, "amount": Decimal("1234.50"), "payer": "Zoë", "memo": None, "currency": "CHF"}
        admin = AdminClient({"bootstrap.servers": reg.brokers})
        admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
        producer = Producer({"bootstrap.servers": reg.brokers, "enable.idempotence": True})
        producer.produce(topic, value=ser(theirs, ctx))
        ours_hex = avro_tool("wire-encode", reg.url, subject, write_schema(V2),
                             stdin_lines=[json.dumps({"id": 8, "amount": "\u0001\u00e2", "payer": "Ann",
                                                      "memo": {"string": "rent"}, "currency": "USD"})])[0]
        producer.produce(topic, value=bytes.fromhex(ours_hex))
        check(producer.flush(30) == 0, "both messages produced to Kafka")

        values = consume_raw(reg.brokers, topic, 2)
        check(len(values) == 2, f"consumed {len(values)} messages back")
        decoded = json.loads(avro_tool("wire-decode", reg.url, stdin_lines=[values[0].hex()])[0])
        # 1234.50 at scale 2 is the unscaled 123450 = 0x01e23a, as Avro JSON bytes code points.
        expected = {"id": 7, "amount": "\u0001\u00e2\u003a", "payer": "Zoë", "memo": None, "currency": "CHF"}
        diff = same_value(decoded["datum"], expected)
        check(decoded["id"] == id2 and diff is None,
              f"our wire-decode of AvroSerializer's message: id {decoded['id']}, {diff or 'datum equal'}")
        deser = AvroDeserializer(client)
        got = deser(values[1], ctx)
        want = {"id": 8, "amount": Decimal("4.82"), "payer": "Ann", "memo": "rent", "currency": "USD"}
        check(got == want, f"AvroDeserializer of our message: {got!r}")
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("all checks passed")


def write_schema(schema):
    path = f"/tmp/sluice-interop-{uuid.uuid4().hex}.avsc"
    with open(path, "w") as f:
        json.dump(schema, f)
    return path


def avro_canonical(text):
    path = write_schema(json.loads(text))
    try:
        return avro_tool("canonical", path)[0]
    finally:
        os.unlink(path)


if __name__ == "__main__":
    main()
