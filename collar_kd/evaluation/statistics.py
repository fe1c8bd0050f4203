"""Telling signal from noise on a handful of animals: pooled MCC over several seeds, its spread,
paired differences between two models with a bootstrap confidence interval over animals, and how
much one animal's result moves with the training seed (a pooled mean hides a model that is good
on most seeds and fails an animal on others).

Everything works on per-animal confusion matrices (seeds x animals x K x K): a resample of
animals pools their matrices, so the pooled MCC of thousands of resamples costs a few array
sums. Animals, not windows, are resampled, because windows of one animal are not independent
and the question a farm asks is about the next animal.
"""

from __future__ import annotations

import numpy as np


def mcc_from_confusion(c: np.ndarray) -> np.ndarray:
    """Multiclass MCC (Gorodkin's R_K, what scikit-learn computes) of confusion matrices
    (..., K, K), rows true, columns predicted; 0 where it is undefined."""
    c = np.asarray(c, dtype=np.float64)
    t = c.sum(axis=-1)  # true counts per class
    p = c.sum(axis=-2)  # predicted counts per class
    n = t.sum(axis=-1)
    correct = np.trace(c, axis1=-2, axis2=-1)
    cov_tp = correct * n - (t * p).sum(axis=-1)
    cov_pp = n * n - (p * p).sum(axis=-1)
    cov_tt = n * n - (t * t).sum(axis=-1)
    denom = np.sqrt(cov_pp * cov_tt)
    return np.divide(cov_tp, denom, out=np.zeros_like(cov_tp), where=denom > 0)


def pooled_mcc_per_seed(conf: np.ndarray) -> np.ndarray:
    """conf: (seeds, animals, K, K) -> pooled MCC of every seed."""
    return mcc_from_confusion(np.asarray(conf).sum(axis=1))


def summarize_seeds(conf: np.ndarray) -> dict:
    """Mean and spread over seeds of the pooled MCC."""
    per_seed = pooled_mcc_per_seed(conf)
    return {"mean": float(per_seed.mean()), "sd": float(per_seed.std(ddof=1)) if len(per_seed) > 1 else 0.0,
            "min": float(per_seed.min()), "max": float(per_seed.max()), "per_seed": [float(v) for v in per_seed]}


def paired_difference(conf_a: np.ndarray, conf_b: np.ndarray, n_boot: int = 10000, seed: int = 0,
                      level: float = 0.95) -> dict:
    """Mean over seeds of pooled MCC(a) - pooled MCC(b), with a percentile bootstrap interval over
    animals (the same resampled animals for both models and every seed: a paired comparison).
    Also the per-animal differences (seed means of per-animal MCC), for the report."""
    a, b = np.asarray(conf_a, dtype=np.float64), np.asarray(conf_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(f"confusion arrays must be (seeds, animals, K, K) of one shape, got {a.shape} and {b.shape}")
    n_animals = a.shape[1]
    point = float((pooled_mcc_per_seed(a) - pooled_mcc_per_seed(b)).mean())
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_animals, size=(n_boot, n_animals))
    counts = np.stack([np.bincount(d, minlength=n_animals) for d in draws]).astype(np.float64)  # (boot, animals)
    pooled_a = np.einsum("ba,sakl->bskl", counts, a)
    pooled_b = np.einsum("ba,sakl->bskl", counts, b)
    diffs = (mcc_from_confusion(pooled_a) - mcc_from_confusion(pooled_b)).mean(axis=1)
    lo, hi = np.quantile(diffs, [(1 - level) / 2, 1 - (1 - level) / 2])
    per_animal = (mcc_from_confusion(a) - mcc_from_confusion(b)).mean(axis=0)
    return {"difference": point, "ci_low": float(lo), "ci_high": float(hi), "level": level, "bootstrap_draws": n_boot,
            "share_of_draws_above_zero": float((diffs > 0).mean()),
            "animals_better": int((per_animal > 0).sum()), "animals_worse": int((per_animal < 0).sum()),
            "per_animal_difference": [float(v) for v in per_animal]}


def fold_mcc_over_seeds(conf: np.ndarray) -> np.ndarray:
    """conf: (seeds >= 2, animals, K, K) -> every seed's MCC on every animal, (seeds, animals)."""
    per_fold = mcc_from_confusion(np.asarray(conf, dtype=np.float64))
    if per_fold.ndim != 2 or per_fold.shape[0] < 2:
        raise ValueError(f"the spread over seeds needs (seeds >= 2, animals, K, K) confusions, got {np.shape(conf)}")
    return per_fold


def seed_spread_per_animal(conf: np.ndarray) -> np.ndarray:
    """conf: (seeds, animals, K, K) -> per animal the standard deviation over seeds of its MCC."""
    return fold_mcc_over_seeds(conf).std(axis=0, ddof=1)


def paired_steadiness(conf_a: np.ndarray, conf_b: np.ndarray, n_boot: int = 10000, seed: int = 0,
                      level: float = 0.95) -> dict:
    """How much steadier from seed to seed model a is than model b on one animal: the mean over
    animals of (b's spread - a's spread), each the standard deviation over seeds of the animal's
    MCC. Positive: a moves less. The percentile bootstrap resamples the seeds as well as the
    animals (the same draws for both models), since each spread is itself measured on a few seeds;
    a draw of one seed repeated has no spread and is drawn again."""
    fold_a, fold_b = fold_mcc_over_seeds(conf_a), fold_mcc_over_seeds(conf_b)
    if fold_a.shape != fold_b.shape:
        raise ValueError(f"the two models were judged on other animals: {np.shape(conf_a)} and {np.shape(conf_b)}")
    n_seeds, n_animals = fold_a.shape
    rng = np.random.default_rng(seed)
    draws: list[np.ndarray] = []
    while sum(len(d) for d in draws) < n_boot:
        si = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
        ai = rng.integers(0, n_animals, size=(n_boot, n_animals))
        keep = (si != si[:, :1]).any(axis=1)
        si, ai = si[keep, :, None], ai[keep, None, :]
        draws.append((fold_b[si, ai].std(axis=1, ddof=1) - fold_a[si, ai].std(axis=1, ddof=1)).mean(axis=1))
    gains = np.concatenate(draws)[:n_boot]
    lo, hi = np.quantile(gains, [(1 - level) / 2, 1 - (1 - level) / 2])
    spread_a, spread_b = fold_a.std(axis=0, ddof=1), fold_b.std(axis=0, ddof=1)
    gain = spread_b - spread_a
    return {"spread_a": float(spread_a.mean()), "spread_b": float(spread_b.mean()), "difference": float(gain.mean()),
            "ci_low": float(lo), "ci_high": float(hi), "level": level, "bootstrap_draws": n_boot,
            "resampled": "seeds and animals",
            "animals_steadier": int((gain > 0).sum()), "animals_less_steady": int((gain < 0).sum()),
            "per_animal_difference": [float(v) for v in gain]}


def _verdict(d: dict, above: str, below: str, neither: str) -> str:
    """A claim only when the whole interval is on one side of zero."""
    return above if d["ci_low"] > 0 else below if d["ci_high"] < 0 else neither


def describe_steadiness(name_a: str, name_b: str, d: dict) -> str:
    """The same for steadiness, in one sentence."""
    verdict = _verdict(d, f"{name_a} is steadier", f"{name_b} is steadier",
                       "which is steadier cannot be told from chance with these seeds and animals")
    n = len(d["per_animal_difference"])
    return (f"From one training seed to another, an animal's MCC moved by {d['spread_a']:.3f} on average (standard "
            f"deviation) with {name_a} and by {d['spread_b']:.3f} with {name_b} (difference {d['difference']:+.3f}, "
            f"95% interval over seeds and animals {d['ci_low']:+.3f} to {d['ci_high']:+.3f}): {verdict}; {name_a} moved "
            f"less on {d['animals_steadier']} and more on {d['animals_less_steady']} of {n} animals.")


def describe_difference(name_a: str, name_b: str, d: dict) -> str:
    """One sentence a farm researcher can read."""
    verdict = _verdict(d, f"{name_a} is better on new animals", f"{name_a} is worse on new animals",
                       "the difference cannot be told from chance with these animals")
    return (f"{name_a} minus {name_b}: {d['difference']:+.3f} MCC (95% interval over animals "
            f"{d['ci_low']:+.3f} to {d['ci_high']:+.3f}): {verdict}; {name_a} was better on {d['animals_better']} "
            f"and worse on {d['animals_worse']} of {len(d['per_animal_difference'])} animals.")
