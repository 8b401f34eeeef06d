// The npm @kafkajs/confluent-schema-registry client (+ kafkajs) against sluice-registry, driven
// by confluent_node.py. Reads a JSON request on stdin, prints a JSON answer.
//   {"phase": "register", url, brokers, subject, topic, v1, v2, v3}:
//      registers v1 with compatibility BACKWARD (the client PUTs /config/{subject} on first
//      registration and afterwards GETs it and checks it), v2 (a field added with a default),
//      tries v3 (a field added without a default; must be refused), fetches v1 by id, encodes a
//      v2 message and produces it with kafkajs.
//   {"phase": "consume", url, brokers, topic, count}: consumes `count` messages with kafkajs
//      and decodes each with the registry client; returns their values (hex) and decodes.
'use strict';
const {Kafka, logLevel} = require('kafkajs');
const {SchemaRegistry, SchemaType, COMPATIBILITY} = require('@kafkajs/confluent-schema-registry');

function errorInfo(e) {
  return {name: e.name, message: String(e.message), status: e.status === undefined ? null : e.status};
}

async function register(req, registry, kafka) {
  const out = {};
  const opts = {subject: req.subject, compatibility: COMPATIBILITY.BACKWARD};
  out.id1 = (await registry.register({type: SchemaType.AVRO, schema: JSON.stringify(req.v1)}, opts)).id;
  out.id1_again = (await registry.register({type: SchemaType.AVRO, schema: JSON.stringify(req.v1)}, opts)).id;
  out.id2 = (await registry.register({type: SchemaType.AVRO, schema: JSON.stringify(req.v2)}, opts)).id;
  try {
    out.id3 = (await registry.register({type: SchemaType.AVRO, schema: JSON.stringify(req.v3)}, opts)).id;
  } catch (e) {
    out.v3_error = errorInfo(e);
  }
  const fetched = await registry.getSchema(out.id1);
  out.fetched_v1_name = fetched.name;
  out.fetched_v1_fields = fetched.fields.map((f) => f.name);
  out.latest_id = await registry.getLatestSchemaId(req.subject);
  out.id_by_schema = await registry.getRegistryIdBySchema(req.subject,
      {type: SchemaType.AVRO, schema: JSON.stringify(req.v2)});
  const encoded = await registry.encode(out.id2, req.value);
  out.encoded_hex = encoded.toString('hex');
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({topic: req.topic, messages: [{value: encoded}]});
  await producer.disconnect();
  return out;
}

async function consume(req, registry, kafka) {
  const consumer = kafka.consumer({groupId: req.group});
  await consumer.connect();
  await consumer.subscribe({topic: req.topic, fromBeginning: true});
  const values = [];
  await new Promise((resolve, reject) => {
    consumer.run({
      eachMessage: async ({message}) => {
        values.push(message.value);
        if (values.length === req.count) resolve();
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  const decoded = [];
  for (const v of values) {
    try {
      decoded.push({value: await registry.decode(v)});
    } catch (e) {
      decoded.push({error: errorInfo(e)});
    }
  }
  return {hex: values.map((v) => v.toString('hex')), decoded};
}

let input = '';
process.stdin.on('data', (c) => { input += c; });
process.stdin.on('end', async () => {
  const req = JSON.parse(input);
  const registry = new SchemaRegistry({host: req.url, retry: {retries: 2}});
  const kafka = new Kafka({clientId: 'sluice-interop', brokers: req.brokers.split(','),
                           logLevel: logLevel.ERROR});
  try {
    const out = req.phase === 'register' ? await register(req, registry, kafka)
                                         : await consume(req, registry, kafka);
    process.stdout.write(JSON.stringify(out));
    process.exit(0);
  } catch (e) {
    process.stderr.write(`${e.stack || e}\n`);
    process.exit(1);
  }
});
