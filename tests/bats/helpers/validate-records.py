#!/usr/bin/python3 -S
"""Validates JSON lines on stdin against schema/faas-records.schema.json.

Prints `line N: <problem>` for each bad line and exits 1 if any; exits 2
when there is no record at all (an empty output is never a pass).
"""
import json
import os
import sys

sys.path.extend(p for p in ("/usr/lib/python3/dist-packages",) if p not in sys.path)
import jsonschema  # noqa: E402  (Debian's python3-jsonschema)

here = os.path.dirname(os.path.abspath(__file__))
schema_path = os.environ.get(
    "FAAS_RECORD_SCHEMA", os.path.join(here, "..", "..", "..", "schema", "faas-records.schema.json"))
with open(schema_path) as f:
    schema = json.load(f)
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)

bad = 0
count = 0
for n, line in enumerate(sys.stdin, 1):
    if not line.strip():
        continue
    count += 1
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as e:
        print(f"line {n}: invalid JSON: {e}")
        bad += 1
        continue
    for err in validator.iter_errors(rec):
        path = "/".join(str(p) for p in err.absolute_path) or "(record)"
        print(f"line {n}: {path}: {err.message}")
        bad += 1
if count == 0:
    print("no records")
    sys.exit(2)
sys.exit(1 if bad else 0)
