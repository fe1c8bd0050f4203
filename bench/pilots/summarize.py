"""Summarise bench/results/pilots/: per pilot file, pooled MCC and the mean per-fold difference
(cows better) against the saved students of the same seed. python bench/pilots/summarize.py"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

PILOTS = Path(__file__).resolve().parents[1] / "results" / "pilots"


def per_fold(rows: list[dict], a: str, b: str) -> str:
    diff = [r[a] - r[b] for r in rows]
    return f"{a} - {b}: {np.mean(diff):+.3f} ({sum(d > 0 for d in diff)} of {len(diff)} cows better)"


def main() -> None:
    for path in sorted(PILOTS.glob("*-s*.json")):
        doc = json.loads(path.read_text())
        rows = doc["folds"]
        if path.name.startswith("teacher-"):
            pairs = [("new_teacher", "teacher"), ("new_kd_teacher", "kd_teacher"), ("new_student_kd", "student_kd"),
                     ("new_student_kd", "student")]
        else:
            name = next(k for k in rows[0] if k not in ("animal", "student", "student_kd") and "@" not in k)
            pairs = [(name, "student_kd"), (name, "student")]
        print(f"{path.name}: pooled {doc['pooled']}")
        for a, b in pairs:
            print(f"    {per_fold(rows, a, b)}")


if __name__ == "__main__":
    main()
