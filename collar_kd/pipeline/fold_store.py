"""Finished folds of a cross-validation, kept on disk the moment each one finishes.

A leave-one-animal-out run on real collars takes hours; one that is stopped (killed, out of
time, a machine restarted, bad input found in a later fold) would otherwise lose every fold it had
finished, because the run directory only appears when the whole run succeeds. The folds are kept
in `RUN_DIR.unfinished/` instead, and the same command again takes them up rather than training
them again. A fold is taken up only when it was trained with exactly the same settings, data and
collar-kd version (a fingerprint of the three): every fold seeds itself, so a resumed run is the
run that was never stopped. The folder is removed once the run directory is in place.

What a fold holds is stored without pickle: JSON for its metrics and report, an .npz of integer
arrays (loaded with allow_pickle=False) for its labels and predictions, safetensors for weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

import collar_kd
from collar_kd.data.windows import hash_arrays

SUFFIX = ".unfinished"
# Settings that decide what the run does after its folds, not what a fold computes.
NOT_THE_FOLDS = ("final_models", "extra_seeds")


def fingerprint(cfg, win, extra=None) -> str:
    """What a fold's result depends on: the settings (the seed among them), every window with its
    label and animal, the unlabelled windows if any, and the collar-kd version."""
    h = hashlib.sha256()
    settings = {k: v for k, v in cfg.to_dict().items() if k not in NOT_THE_FOLDS}
    h.update(json.dumps({"settings": settings, "version": collar_kd.__version__}, sort_keys=True, default=str).encode())
    hash_arrays(h, win.x, win.y, np.asarray(win.animal, dtype=str), *(() if extra is None else (extra.x,)))
    return h.hexdigest()


class FoldStore:
    """The folds of one run, under `root` (RUN_DIR.unfinished), one folder per seed and fold."""

    def __init__(self, root: Path):
        self.root = Path(root)

    @classmethod
    def beside(cls, out: Path) -> "FoldStore":
        out = Path(out)
        return cls(out.with_name(out.name + SUFFIX))

    def _dir(self, seed: int, key: str) -> Path:
        return self.root / f"seed-{seed}" / key

    def count(self) -> int:
        return sum(1 for _ in self.root.glob("seed-*/fold-*/fold.json")) if self.root.is_dir() else 0

    def load(self, seed: int, key: str, print_: str) -> dict | None:
        """The kept result of fold `key` if it was trained under fingerprint `print_`, else None
        (a fold of other settings, or one unreadable, is trained again and overwritten)."""
        d = self._dir(seed, key)
        try:
            doc = json.loads((d / "fold.json").read_text())
            if doc.get("fingerprint") != print_:
                return None
            with np.load(d / "predictions.npz", allow_pickle=False) as npz:
                y = npz["y"]
                preds = {m: npz[f"pred_{m}"] for m in doc["models"]}
            from safetensors.torch import load_file

            states = {name: load_file(str(d / f"{name}.safetensors")) for name in doc["states"]}
        except Exception:  # unreadable or incomplete (a disk fault, a file edited by hand): trained again
            return None
        return {"fold": doc["fold"], "preds": preds, "y": y, "report": doc["report"], "states": states}

    def save(self, seed: int, key: str, print_: str, result: dict) -> None:
        """Keep one fold's result; written into a temporary folder and renamed, so a fold is either
        whole on disk or absent."""
        from collar_kd.runs import save_state, usual_permissions

        final = self._dir(seed, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.tmp-", dir=final.parent))
        usual_permissions(tmp)
        try:
            np.savez(tmp / "predictions.npz", y=np.asarray(result["y"]),
                     **{f"pred_{m}": np.asarray(p) for m, p in result["preds"].items()})
            for name, state in result["states"].items():
                save_state(state, tmp / f"{name}.safetensors")
            doc = {"fingerprint": print_, "fold": result["fold"], "report": result["report"],
                   "models": list(result["preds"]), "states": list(result["states"])}
            (tmp / "fold.json").write_text(json.dumps(doc, default=_plain) + "\n")
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def discard(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def kept_folds(out: Path, resume: bool):
    """The FoldStore beside run directory `out` for the body of a run: emptied first unless
    `resume`; removed when the body succeeds (the run directory then holds the folds); kept when
    it fails, saying where."""
    store = FoldStore.beside(out)
    if not resume:
        store.discard()
    try:
        yield store
    except BaseException as e:
        if n := store.count():
            # A note on the error, not a progress line: `train -q` and every exit path print it too.
            e.add_note(f"stopped: finished folds kept in {store.root} ({n}); the same command again takes them up "
                       "instead of training them again (--fresh: trains them again)")
        raise
    store.discard()


def _plain(value):
    """numpy scalars and arrays in a fold's metrics and report, as JSON."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
