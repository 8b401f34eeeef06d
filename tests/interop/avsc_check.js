// Reads one JSON request on stdin: {"schema": <avsc JSON>, "json": [Avro JSON datum text...],
// "hex": {"<source>": [binary hex...]}}. Answers with avsc's view of them:
//   canonical: avsc's Parsing Canonical Form (type.schema() with no options);
//   md5: avsc's own fingerprint (MD5 of that form; avsc has no CRC-64-AVRO);
//   encoded: avsc's binary encoding of each JSON datum (parsed with type.fromString);
//   decoded: for each source, each binary decoded by avsc, as Avro JSON text (toString), and
//            re-encoded by avsc (hex), or {"error": message}.
// Unions are wrapped ({"branch": value}) as Avro's JSON encoding requires; logical types are
// not registered, so avsc reads and writes their underlying types.
'use strict';
const avro = require('avsc');

let input = '';
process.stdin.on('data', (c) => { input += c; });
process.stdin.on('end', () => {
  const req = JSON.parse(input);
  const type = avro.Type.forSchema(req.schema, {wrapUnions: true});
  const out = {
    canonical: JSON.stringify(type.schema()),
    md5: type.fingerprint().toString('hex'),
    encoded: req.json.map((text) => type.toBuffer(type.fromString(text)).toString('hex')),
    decoded: {},
  };
  for (const [source, list] of Object.entries(req.hex)) {
    out.decoded[source] = list.map((hex) => {
      try {
        const value = type.fromBuffer(Buffer.from(hex, 'hex'));
        return {json: type.toString(value), hex: type.toBuffer(value).toString('hex')};
      } catch (e) {
        return {error: String(e.message || e)};
      }
    });
  }
  process.stdout.write(JSON.stringify(out));
});
