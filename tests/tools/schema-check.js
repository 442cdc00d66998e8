// Compiles a JSON Schema with Ajv 8 in draft 2020-12 strict mode, then validates documents.
// Usage: node schema-check.js SCHEMA.json DOCS.json  (DOCS: a JSON array of documents)
// Prints one JSON line: {"compiled": true, "valid": [true, false, ...]} or {"error": "..."}.
const Ajv2020 = require("ajv/dist/2020").default;
const fs = require("fs");
const [schemaFile, docsFile] = process.argv.slice(2);
try {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  const validate = ajv.compile(JSON.parse(fs.readFileSync(schemaFile, "utf8")));
  const docs = docsFile ? JSON.parse(fs.readFileSync(docsFile, "utf8")) : [];
  console.log(JSON.stringify({ compiled: true, valid: docs.map((d) => validate(d)) }));
} catch (e) {
  console.log(JSON.stringify({ error: e.message }));
}
