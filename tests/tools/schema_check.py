"""Checks a JSON Schema with Python jsonschema (draft 2020-12), then validates documents.

Usage: python3 schema_check.py SCHEMA.json DOCS.json  (DOCS: a JSON array of documents)
Prints one JSON line: {"compiled": true, "valid": [true, false, ...]} or {"error": "..."}.
"""
import json
import sys

import jsonschema

try:
    schema = json.load(open(sys.argv[1]))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    docs = json.load(open(sys.argv[2])) if len(sys.argv) > 2 else []
    print(json.dumps({"compiled": True, "valid": [validator.is_valid(d) for d in docs]}))
except Exception as e:  # noqa: BLE001 - any failure is the answer
    print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
