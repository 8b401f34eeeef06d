// Times avsc on the records of bench/avro/run: {"schema", "json": [Avro JSON text], "passes"}
// on stdin; prints {"encode_ns", "decode_ns", "avg_bytes"} (best pass, ns/record).
'use strict';
const avro = require('avsc');

let input = '';
process.stdin.on('data', (c) => { input += c; });
process.stdin.on('end', () => {
  const req = JSON.parse(input);
  const type = avro.Type.forSchema(req.schema, {wrapUnions: true});
  const values = req.json.map((t) => type.fromString(t));
  const buffers = values.map((v) => type.toBuffer(v));
  let sink = 0;
  const best = (fn) => {
    let bestNs = Infinity;
    for (let p = 0; p < req.passes; ++p) {
      const start = process.hrtime.bigint();
      for (let i = 0; i < values.length; ++i) sink += fn(i);
      const ns = Number(process.hrtime.bigint() - start) / values.length;
      bestNs = Math.min(bestNs, ns);
    }
    return bestNs;
  };
  const encode_ns = best((i) => type.toBuffer(values[i]).length);
  const decode_ns = best((i) => (type.fromBuffer(buffers[i]) ? 1 : 0));
  const bytes = buffers.reduce((a, b) => a + b.length, 0) / buffers.length;
  process.stdout.write(JSON.stringify({encode_ns, decode_ns, avg_bytes: bytes, hex0: buffers[0].toString('hex'), sink}));
});
