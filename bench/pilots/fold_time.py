"""Where a bench-accuracy fold spends its time, and what a larger GRU batch would save.

    python bench/pilots/fold_time.py        # bench/results/pilots/fold-time.json (about 2 minutes)

1. A profile (cProfile) of `train_all` on one fold of bench-accuracy's settings, shortened to 2
   teacher and 4 student epochs without the transductive student, one thread: the seconds of the
   functions that take the most, and of the Python training loop around them.
2. One epoch of the GRU student (cross-entropy, Adam, one thread) over 7,500 random windows of 50
   samples at batch sizes 64, 128 and 256: seconds per epoch, the best of three.
Timings of a shared machine: run it alone.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from accuracy import SETTINGS  # noqa: E402
from common import fold_split, machine, require_wasp, write_result  # noqa: E402

from collar_kd.config import load_config  # noqa: E402
from collar_kd.models import GRUStudent  # noqa: E402
from collar_kd.pipeline.train_run import resolve_method, train_all  # noqa: E402
from collar_kd.progress import Quiet  # noqa: E402
from collar_kd.training.loop import seed_everything  # noqa: E402


def profile_fold() -> dict:
    cfg = load_config(None, {**SETTINGS, "data.path": str(require_wasp()), "teacher.epochs": 2, "student.epochs": 4,
                             "transductive": False})
    resolve_method(cfg)
    seed_everything(cfg.seed, cfg.threads)
    split = fold_split(cfg, "1217")
    prof = cProfile.Profile()
    started = time.time()
    prof.enable()
    train_all(cfg, split.train, split.key, Quiet())
    prof.disable()
    total = time.time() - started
    stats = pstats.Stats(prof).stats  # (file, line, name) -> (calls, primitive, own s, cumulative s, callers)
    top = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:12]
    own = {f"{name} ({Path(file).name}:{line})" if line else name: round(v[2], 2) for (file, line, name), v in top}
    loop = sum(v[2] for (file, line, name), v in stats.items() if "collar_kd" in file)
    return {"settings": "bench-accuracy's, 2 teacher and 4 student epochs, no transductive student, fold 1217",
            "seconds": round(total, 1), "own_seconds_of_the_top_functions": own,
            "own_seconds_in_collar_kd_code": round(loop, 2)}


def gru_epoch_seconds(batch: int, windows: int = 7500) -> float:
    torch.manual_seed(0)
    x, y = torch.randn(windows, 50, 3), torch.randint(0, 5, (windows,))
    model = GRUStudent(5)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    best = float("inf")
    for _ in range(3):
        started = time.time()
        for i in range(0, windows, batch):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[i : i + batch]), y[i : i + batch]).backward()
            opt.step()
        best = min(best, time.time() - started)
    return round(best, 3)


def main() -> None:
    seed_everything(0, 1)
    doc = {"profile": profile_fold()}
    doc["gru_epoch_seconds_by_batch"] = {str(b): gru_epoch_seconds(b) for b in (64, 128, 256)}
    doc["machine"] = machine()
    print(doc)
    print(f"written: {write_result('pilots/fold-time.json', doc)}")


if __name__ == "__main__":
    main()
