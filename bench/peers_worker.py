"""Runs one aeon classifier over the leave-one-animal-out folds; started by bench/peers.py inside
the benchmark's own aeon environment (so it imports nothing of collar_kd).

    python peers_worker.py WINDOWS.npz PEER OUT.json N_FOLDS
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from sklearn.metrics import matthews_corrcoef

# Settings chosen to fit the benchmark's time budget on 2 cores, stated in the result. The
# canonical MiniRocket (10,000 kernels, ridge cross-validated on the Gram matrix) took about an
# hour for the ten folds here; "minirocket-canonical" runs it when asked.
PEERS = {
    "minirocket": ("aeon.classification.convolution_based", "MiniRocketClassifier", {"n_kernels": 2000, "random_state": 0}),
    "minirocket-canonical": ("aeon.classification.convolution_based", "MiniRocketClassifier", {"random_state": 0}),
    "hydra": ("aeon.classification.convolution_based", "HydraClassifier", {"random_state": 0}),
}


def main() -> None:
    path, peer, out, n_folds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    module, name, params = PEERS[peer]
    cls = getattr(__import__(module, fromlist=[name]), name)
    data = np.load(path)
    x, y, animal = data["x"], data["y"], data["animal"]
    animals = sorted(set(animal.tolist()))
    if n_folds:
        animals = animals[:n_folds]
    truth, pred, per_fold = [], [], []
    started = time.time()
    for a in animals:
        test = animal == a
        t0 = time.time()
        model = cls(**params)
        model.fit(x[~test], y[~test])
        p = model.predict(x[test]).astype(int)
        truth.append(y[test])
        pred.append(p)
        per_fold.append({"animal": a, "mcc": float(matthews_corrcoef(y[test], p)), "seconds": round(time.time() - t0, 1)})
        print(f"  {peer} fold {a}: MCC {per_fold[-1]['mcc']:.3f} ({per_fold[-1]['seconds']} s)", flush=True)
    doc = {"peer": peer, "estimator": f"{module}.{name}", "params": params,
           "pooled_mcc": float(matthews_corrcoef(np.concatenate(truth), np.concatenate(pred))),
           "per_fold": per_fold, "seconds": round(time.time() - started, 1)}
    with open(out, "w") as fh:
        json.dump(doc, fh, indent=2)


if __name__ == "__main__":
    main()
