"""The one training loop (every model, every phase, QAT included) and the augmentations it applies."""
