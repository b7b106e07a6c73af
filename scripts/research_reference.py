#!/usr/bin/env python3
"""Independent reference for `collabzium research alliance-outcome` (issue 6 §4).

Reads a research CSV (patient,week,goals,tasks,bond,alliance,instrument,score) and prints
the alliance-outcome JSON: one object per instrument, sorted by instrument id. Written from
the definitions in docs/research.md with numpy and scipy, so that core/tests/research_stats.rs
can check the Rust implementation against it.

    python research_reference.py FILE.csv

Needs numpy and scipy (scripts/ensure-stats-venv.sh installs the pinned versions).
"""

import csv
import json
import sys
import warnings

import numpy as np
from scipy import stats

EARLY_WEEKS = 3
MIN_PATIENTS = 4
TOLERANCE = 1e-10
SCALES = ("alliance", "goals", "tasks", "bond")
BENCHMARK = {"r": 0.211, "ci": [0.162, 0.259]}


def read_rows(path):
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        expected = ["patient", "week", "goals", "tasks", "bond", "alliance", "instrument", "score"]
        if reader.fieldnames != expected:
            sys.exit(f"unexpected header: {reader.fieldnames}")
        rows = []
        for rec in reader:
            row = {"patient": rec["patient"], "week": int(rec["week"]), "instrument": rec["instrument"] or None}
            for col in ("goals", "tasks", "bond", "alliance", "score"):
                row[col] = float(rec[col]) if rec[col] != "" else None
            rows.append(row)
        return rows


def constant(values, source):
    """No spread beyond rounding: RMS of centred values <= 1e-10 * (1 + max |source|)."""
    values = np.asarray(values, dtype=float)
    rms = np.sqrt(np.mean((values - values.mean()) ** 2))
    return rms <= TOLERANCE * (1.0 + np.max(np.abs(np.asarray(source, dtype=float))))


def residualized_gain_residuals(first, last):
    """Residuals of last on first by OLS with intercept; with constant first scores the
    fitted value is the mean of last (the unique least-squares projection)."""
    first = np.asarray(first, dtype=float)
    last = np.asarray(last, dtype=float)
    if constant(first, first):
        return last - last.mean()
    fit = stats.linregress(first, last)
    return last - (fit.intercept + fit.slope * first)


def association(scale, early, pairs):
    """early: patient -> list of early values; pairs: patient -> (first, last)."""
    patients = [p for p in sorted(pairs) if early.get(p)]
    n = len(patients)
    if n < MIN_PATIENTS:
        return {"n": n, "reason": f"fewer than {MIN_PATIENTS} patients with early {scale} and two scores"}
    x = np.array([np.mean(early[p]) for p in patients])
    first = np.array([pairs[p][0] for p in patients])
    last = np.array([pairs[p][1] for p in patients])
    if constant(x, x):
        return {"n": n, "reason": f"early {scale} has no variance"}
    resid = residualized_gain_residuals(first, last)
    if constant(resid, last):
        return {"n": n, "reason": "residualized gain has no variance"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.pearsonr(x, -resid)
        # Fisher z interval; scipy gives [r, r] when |r| = 1.
        ci = res.confidence_interval(confidence_level=0.95)
    return {"n": n, "r": float(res.statistic), "ci": [float(ci.low), float(ci.high)]}


def analyse(rows):
    early = {s: {} for s in SCALES}
    scores = {}
    for i, row in enumerate(rows):
        if row["week"] <= EARLY_WEEKS:
            for s in SCALES:
                if row[s] is not None:
                    early[s].setdefault(row["patient"], []).append(row[s])
        if row["instrument"] is not None and row["score"] is not None:
            scores.setdefault(row["instrument"], {}).setdefault(row["patient"], []).append((row["week"], i, row["score"]))
    out = []
    for instrument in sorted(scores):
        pairs = {}
        for patient, obs in scores[instrument].items():
            if len(obs) < 2:
                continue
            # By week, then file position: first is the earliest, last the latest.
            obs = sorted(obs, key=lambda o: (o[0], o[1]))
            pairs[patient] = (obs[0][2], obs[-1][2])
        result = {"instrument": instrument}
        result.update(association("alliance", early["alliance"], pairs))
        result["subscales"] = {s: association(s, early[s], pairs) for s in ("goals", "tasks", "bond")}
        result["benchmark"] = BENCHMARK
        out.append(result)
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: research_reference.py FILE.csv")
    print(json.dumps(analyse(read_rows(sys.argv[1]))))


if __name__ == "__main__":
    main()
