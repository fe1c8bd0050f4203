"""Shared by the benchmarks: where the shared collar data is and how to say it is missing."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

from collar_kd.paths import WASP_DATASET

RESULTS = Path(__file__).resolve().parent / "results"
WORK = Path(__file__).resolve().parent / "work"  # large intermediate runs, git-ignored


def require_wasp() -> Path:
    if not (WASP_DATASET / "index.csv").is_file():
        print(
            f"bench: the shared collar dataset is not at {WASP_DATASET}\n"
            "       (it is not part of this repository: put ../shared/datasets/wasp_cow_walking beside the project).\n"
            "       Nothing was measured and no result file was written.",
            file=sys.stderr,
        )
        sys.exit(2)
    return WASP_DATASET


def machine() -> dict:
    import os

    return {"cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine()}


def write_result(name: str, doc: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.rename(path)
    return path
