"""The bit-exact reference simulator of the fixed-point student (docs/fixed-point.md)."""

from collar_kd.sim.simulator import FixedPointSimulator, Stream  # noqa: F401
