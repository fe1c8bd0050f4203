"""make bench-peers: the strongest time-series classifiers a user would reach for, on exactly the
windows and leave-one-animal-out folds of bench-accuracy (WASP collar data, 5 s windows).

aeon is a benchmark-only extra: it pins numba, which needs older numpy and pandas than the
project uses, so it lives in its own virtual environment (bench/work/peers-venv, made on first
use with `pip install aeon==1.6.0`; torch comes from the project's environment). This script
writes the windows once, runs bench/peers_worker.py in that environment, and writes
bench/results/peers.json with every peer's pooled MCC, its settings and its time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import WORK, machine, require_wasp, write_result  # noqa: E402

from collar_kd.config import load_config  # noqa: E402
from collar_kd.data import load_recordings, windows_for  # noqa: E402

VENV = WORK / "peers-venv"
AEON = "aeon==1.6.0"
WORKER = Path(__file__).resolve().parent / "peers_worker.py"


def peers_python() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"bench: creating {VENV} with {AEON} (benchmark-only; once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", AEON], check=True)
    return python


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peers", default="minirocket,hydra", help="comma-separated: minirocket, minirocket-canonical, hydra")
    ap.add_argument("--folds", type=int, default=0, help="only the first N folds (0 = all)")
    args = ap.parse_args()
    root = require_wasp()
    cfg = load_config(None, {"data.format": "wasp", "data.path": str(root), "data.window": "5s", "data.stride": "2.5s"})
    rec, cmap = load_recordings(cfg.data, seed=cfg.seed)
    win = windows_for(rec, cmap.classes, cfg.data.window, cfg.data.stride, cfg.data.frame)
    out = WORK / "peers"
    out.mkdir(parents=True, exist_ok=True)
    # aeon's transforms want float64 (Catch22 fails on float32), channels first: (n, 3, T).
    np.savez(out / "windows.npz", x=win.x.astype(np.float64).transpose(0, 2, 1), y=win.y, animal=win.animal.astype(str))
    python = peers_python()
    results = {}
    for peer in args.peers.split(","):
        started = time.time()
        proc = subprocess.run([str(python), str(WORKER), str(out / "windows.npz"), peer, str(out / f"{peer}.json"),
                               str(args.folds)], text=True)
        if proc.returncode != 0:
            results[peer] = {"error": f"worker exited {proc.returncode}"}
            continue
        results[peer] = json.loads((out / f"{peer}.json").read_text()) | {"wall_s": round(time.time() - started, 1)}
        print(f"{peer}: pooled MCC {results[peer]['pooled_mcc']:.4f} in {results[peer]['wall_s']} s", flush=True)
    path = write_result("peers.json", {
        "dataset": str(root), "classes": list(win.classes), "windows": len(win),
        "folds": "leave-one-animal-out, the same windows and folds as bench-accuracy",
        # The collar recipe's frame (each animal turned by its own mean heading), as bench-accuracy's windows.
        "frame": cfg.data.frame,
        "peers": results, "machine": machine(),
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
