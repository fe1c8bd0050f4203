"""The cycle and energy estimate against small instruction mixes counted by hand from the
Cortex-M4 / M3 TRM timings."""

from __future__ import annotations

import pytest

from collar_kd.verify.cycles import energy, estimate_cycles, instruction_cycles

# (address, executions, QEMU's disassembly)
MIX = [
    (0x00, 10, "smlad r0, r1, r2, r0"),       # 1 each on the M4                    10
    (0x04, 4, "ldrd r4, ip, [r2], #8"),       # 1 + 2 registers                     12
    (0x08, 3, "ldr r3, [sp, #4]"),            # 2 (1 when pipelined: low bound)      6 (3)
    (0x0A, 1, "push {r4, r5, r6, lr}"),       # 1 + 4                                5
    (0x0C, 1, "pop {r4, r5, r6, pc}"),        # 1 + 4 + P (P 2; 1..3)                7 (6..8)
    (0x20, 5, "bne.w #0x10"),                 # 5 executions, 4 taken (the next ran once):
    (0x24, 1, "add r0, r1"),                  #   5 + 4 * P = 13 (5..20); add: 1
    (0x26, 2, "it gt"),                       # 1 (0 when folded)                    2 (0)
    (0x28, 2, "movgt r0, r5"),                # 1                                    2
    (0x2A, 3, "mla r1, r2, r3, r1"),          # 1 on the M4, 2 on the M3             3
]


def test_cortex_m4_mix_counted_by_hand():
    c = estimate_cycles(MIX, "cortex-m4")
    assert c.instructions == 32
    assert (c.estimate, c.low, c.high) == (61, 47, 69)
    assert c.unknown == {}


def test_cortex_m3_multiplies_cost_more():
    mix = [(0x0, 3, "mla r1, r2, r3, r1"), (0x4, 2, "smull r0, r1, r2, r3"), (0x8, 4, "mul r0, r1")]
    c = estimate_cycles(mix, "cortex-m3")
    assert (c.estimate, c.low, c.high) == (3 * 2 + 2 * 4 + 4, 3 * 2 + 2 * 3 + 4, 3 * 2 + 2 * 5 + 4)
    assert estimate_cycles(mix, "cortex-m4").estimate == 9  # all single-cycle on the M4


def test_unknown_instructions_are_named_not_hidden():
    c = estimate_cycles([(0, 7, "vmla.f32 s0, s1, s2"), (2, 1, "nop")], "cortex-m3")  # the M3 has no FPU
    assert c.unknown == {"vmla": 7} and c.estimate == 8
    assert estimate_cycles([(0, 7, "vmla.f32 s0, s1, s2"), (2, 1, "nop")], "cortex-m4").estimate == 7 * 3 + 1
    with pytest.raises(ValueError, match="no timing table"):
        instruction_cycles("nop", "cortex-m0")


def test_energy_from_cycles_clock_and_current():
    e = energy(64e6, 64e6, current_ua_per_mhz=52.0, supply_v=3.0, windows_per_day=86400, battery_mah=1000)
    assert e["ms_per_window"] == pytest.approx(1000.0)
    assert e["active_current_ma"] == pytest.approx(3.328)
    assert e["uj_per_window"] == pytest.approx(9984.0)
    assert e["mah_per_day"] == pytest.approx(79.872)
    assert e["battery_percent_per_day"] == pytest.approx(7.9872)
    assert e["cpu_duty_cycle"] == pytest.approx(1.0)
