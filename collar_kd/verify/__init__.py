"""Verification: build the exported C for the host and for Cortex-M, run it, compare bit for bit."""
