"""Training loop shared by teacher and students, and the whole train run (cross-validation + final models)."""
