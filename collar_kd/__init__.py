"""collar-kd: distilled, fixed-point behaviour classifiers for livestock collar and ear-tag MCUs."""

__version__ = "0.1.0"
