"""Evaluation: leave-one-animal-out folds, metrics (MCC first), the random-forest baseline, plots and reports."""
