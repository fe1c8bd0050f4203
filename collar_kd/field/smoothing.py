"""Temporal smoothing of window-by-window predictions within one segment.

- `none`: the model's class per window.
- `majority`: the most frequent class among the k windows centred on each (ties keep the
  model's own class): removes isolated one-window flips.
- `hmm`: Viterbi decoding of a hidden Markov model whose states are the classes. Transition
  probabilities are counted from consecutive windows of the run's labelled training data
  (add-one smoothed); emissions are the model's probabilities divided by the class prior
  (the "scaled likelihood" of hybrid HMM classifiers). The decoder is the textbook one, in
  numpy: no maintained package decodes given per-frame posteriors without pulling in a large
  dependency (librosa's `sequence.viterbi` does, with numba), and it is ten lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from collar_kd.errors import ConfigError

SMOOTHING = ("none", "majority", "hmm")


@dataclass(frozen=True)
class Smoothing:
    kind: str = "none"
    windows: int = 5  # majority: the filter's length in windows (odd)

    def check(self) -> "Smoothing":
        if self.kind not in SMOOTHING:
            raise ConfigError(f"--smoothing: must be one of {', '.join(SMOOTHING)}, not '{self.kind}'")
        if not (isinstance(self.windows, int) and 1 <= self.windows <= 999 and self.windows % 2 == 1):
            raise ConfigError(f"--smoothing-windows: an odd number from 1 to 999, not {self.windows}")
        return self


@dataclass(frozen=True)
class TransitionModel:
    """log P(class_t | class_t-1), log P(class_0), log prior (for scaled likelihoods)."""

    log_transition: np.ndarray  # (K, K)
    log_start: np.ndarray  # (K,)
    log_prior: np.ndarray  # (K,)
    counted_transitions: int

    @classmethod
    def estimate(cls, label_sequences: list[np.ndarray], n_classes: int) -> "TransitionModel":
        """From runs of consecutive window labels (class index, -1 unknown) of labelled data."""
        counts = np.ones((n_classes, n_classes))  # add-one: every transition possible
        prior = np.ones(n_classes)
        counted = 0
        for seq in label_sequences:
            seq = np.asarray(seq)
            prior += np.bincount(seq[seq >= 0], minlength=n_classes)
            a, b = seq[:-1], seq[1:]
            ok = (a >= 0) & (b >= 0)
            np.add.at(counts, (a[ok], b[ok]), 1)
            counted += int(ok.sum())
        trans = counts / counts.sum(axis=1, keepdims=True)
        prior = prior / prior.sum()
        return cls(np.log(trans), np.log(prior), np.log(prior), counted)


def majority_filter(classes: np.ndarray, n_classes: int, k: int) -> np.ndarray:
    if k <= 1 or len(classes) == 0:
        return classes.copy()
    half = k // 2
    counts = np.cumsum(np.pad(np.eye(n_classes)[classes], ((half + 1, half), (0, 0))), axis=0)
    votes = counts[k:] - counts[:-k]  # votes[i]: the windows i-half .. i+half that exist
    best = votes.max(axis=1)
    keep = votes[np.arange(len(classes)), classes] == best  # ties keep the model's class
    return np.where(keep, classes, votes.argmax(axis=1))


def viterbi(log_emission: np.ndarray, model: TransitionModel) -> np.ndarray:
    """The most probable class sequence given per-window log emission scores (T, K)."""
    t_len, k = log_emission.shape
    if t_len == 0:
        return np.zeros(0, dtype=np.int64)
    score = model.log_start + log_emission[0]
    back = np.zeros((t_len, k), dtype=np.int64)
    for t in range(1, t_len):
        cand = score[:, None] + model.log_transition  # from i (rows) to j (columns)
        back[t] = cand.argmax(axis=0)
        score = cand.max(axis=0) + log_emission[t]
    path = np.zeros(t_len, dtype=np.int64)
    path[-1] = int(score.argmax())
    for t in range(t_len - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def smooth(probabilities: np.ndarray, smoothing: Smoothing, transitions: TransitionModel | None) -> np.ndarray:
    """Smoothed classes of one segment's consecutive windows from their class probabilities."""
    raw = probabilities.argmax(axis=1)
    if smoothing.kind == "none":
        return raw
    if smoothing.kind == "majority":
        return majority_filter(raw, probabilities.shape[1], smoothing.windows)
    if transitions is None:
        raise ConfigError("--smoothing hmm needs transition probabilities from the run's labelled training data")
    emission = np.log(np.maximum(probabilities, 1e-12)) - transitions.log_prior
    return viterbi(emission, transitions)
