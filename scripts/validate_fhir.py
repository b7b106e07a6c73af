#!/usr/bin/env python3
"""Validate a FHIR export with an independent implementation: fhir.resources (R4B models).

Usage: validate_fhir.py BUNDLE.json
Prints a one-line JSON summary; exits non-zero if the bundle does not validate.
R4B shares Bundle, Questionnaire, QuestionnaireResponse and Observation with R4.
"""
import json
import sys

from fhir.resources.R4B.bundle import Bundle


def main(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    try:
        bundle = Bundle.parse_obj(raw)
    except Exception as e:  # pydantic ValidationError: print what failed, not the data
        print(json.dumps({"valid": False, "error": str(e)[:4000]}))
        return 1
    # fhir.resources checks structure and datatypes, not required code
    # bindings; check the few required bindings the export uses.
    required = {
        "Questionnaire": ("status", {"draft", "active", "retired", "unknown"}),
        "QuestionnaireResponse": ("status", {"in-progress", "completed", "amended", "entered-in-error", "stopped"}),
        "Observation": ("status", {"registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"}),
    }
    problems = []
    if bundle.type not in {"document", "message", "transaction", "transaction-response", "batch", "batch-response", "history", "searchset", "collection"}:
        problems.append("Bundle.type")
    counts = {}
    for i, entry in enumerate(bundle.entry or []):
        name = entry.resource.resource_type
        counts[name] = counts.get(name, 0) + 1
        if name in required:
            field, allowed = required[name]
            if getattr(entry.resource, field) not in allowed:
                problems.append(f"entry[{i}].resource.{field}")
    if problems:
        print(json.dumps({"valid": False, "error": "codes outside required bindings", "paths": problems}))
        return 1
    print(json.dumps({"valid": True, "type": bundle.type, "counts": counts}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
