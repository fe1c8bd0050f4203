"""Dynamic fixed-point quantization of the GRU-MLP student (see docs/fixed-point.md)."""
