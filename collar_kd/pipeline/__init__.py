"""The commands' work, above every stage they call: a whole train run, an evaluation of a run on
other data, and an export (quantize, golden vectors, C, measure on the device side)."""
