// Reads YAML files with the `yaml` package (YAML 1.2 core schema, as editors read them) and
// prints one JSON array of [fileIndex, document] pairs, empty documents left out.
// Usage: node yaml-to-json.js FILE...
const YAML = require("yaml");
const fs = require("fs");
const out = [];
process.argv.slice(2).forEach((file, i) => {
  for (const doc of YAML.parseAllDocuments(fs.readFileSync(file, "utf8"))) {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0].message}`);
    const value = doc.toJS();
    if (value !== null && value !== undefined) out.push([i, value]);
  }
});
console.log(JSON.stringify(out));
