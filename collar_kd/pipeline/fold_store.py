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


def fold_settings(cfg) -> dict:
    """The settings a fold's result depends on, as JSON."""
    return json.loads(json.dumps({k: v for k, v in cfg.to_dict().items() if k not in NOT_THE_FOLDS}, default=str))


def fingerprint(cfg, win, extra=None) -> str:
    """What a fold's result depends on: the settings (the seed among them), every window with its
    label and animal, the unlabelled windows if any, and the collar-kd version."""
    h = hashlib.sha256()
    h.update(json.dumps({"settings": fold_settings(cfg), "version": collar_kd.__version__}, sort_keys=True, default=str).encode())
    hash_arrays(h, win.x, win.y, np.asarray(win.animal, dtype=str), *(() if extra is None else (extra.x,)))
    return h.hexdigest()


class FoldStore:
    """The folds of one run, under `root` (RUN_DIR.unfinished), one folder per seed and fold."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.notes: list[str] = []  # superseded() messages of this run, for its manifest's warnings

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

    def superseded(self, seed: int, print_: str, settings: dict) -> str | None:
        """What to tell the user when folds of `seed` are kept under another fingerprint: they are
        about to be trained again and replaced, which is right after a deliberate change and a loss
        of hours after an accidental one, so the message names the settings that differ."""
        docs = []
        for path in sorted(self.root.glob(f"seed-{seed}/fold-*/fold.json")):
            try:
                doc = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # unreadable: trained again, as load() says
            if doc.get("fingerprint") != print_:
                docs.append(doc)
        if not docs:
            return None
        changes = sorted({c for doc in docs for c in setting_changes(doc.get("settings"), settings)})
        if changes:
            why = "settings " + "; ".join(changes)
        elif all("settings" in doc for doc in docs):
            why = "the same settings but other data or another collar-kd version"
        else:
            why = "settings an earlier collar-kd did not record"
        n, one = len(docs), len(docs) == 1
        return (f"seed {seed}: {n} finished fold{'' if one else 's'} kept in {self.root} {'was' if one else 'were'} "
                f"trained with {why}; {'it is' if one else 'they are'} trained again and replaced (stop now and give "
                "the kept settings to take them up instead)")

    def save(self, seed: int, key: str, print_: str, result: dict, settings: dict | None = None) -> None:
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
                   "models": list(result["preds"]), "states": list(result["states"]),
                   **({} if settings is None else {"settings": settings})}
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


def setting_changes(kept: dict | None, now: dict, prefix: str = "") -> list[str]:
    """'teacher.epochs 15 -> 20' for every setting that differs between two fold_settings."""
    if kept is None:
        return []
    out = []
    for key in sorted(set(kept) | set(now)):
        a, b = kept.get(key), now.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += setting_changes(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key} {json.dumps(a)} -> {json.dumps(b)}")
    return out


def _plain(value):
    """numpy scalars and arrays in a fold's metrics and report, as JSON."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
