"""Cycles and energy per window, estimated from the exact instruction mix that QEMU counts.

QEMU counts instructions, not cycles; no cycle-accurate Cortex-M model is available here. This
module applies the instruction timings of the Cortex-M4 and Cortex-M3 Technical Reference
Manuals (section 3.3, "Instruction set summary": zero-wait-state memory) to the executed mix and
says what it assumed:

- data processing, shifts, extends, bit fields, saturation, SIMD add/subtract, SEL, PKH: 1 cycle;
- multiplies: 1 cycle on the M4 (MUL, MLA, MLS, SMULL, SMLAL, SMLAD and the other DSP MACs);
  on the M3 MUL 1, MLA/MLS 2, SMULL/UMULL 3-5, SMLAL/UMLAL 4-7; SDIV/UDIV 2-12;
- single loads and stores: 2 cycles (1 when pipelined with a neighbour: the lower bound);
  LDRD/STRD and LDM/STM/PUSH/POP: 1 + N registers;
- branches: 1 + P when taken, P the pipeline refill of 1 to 3 cycles (2 in the estimate);
  conditional branches and CBZ/CBNZ cost 1 when not taken. Which branches were taken is read off
  the mix: the executions of a conditional branch minus those of the instruction after it (an
  estimate, exact when nothing else jumps there); the bounds take none / all taken;
- IT: 1 cycle (0 when folded: the lower bound);
- the Cortex-M4F's FPU (TRM section 7.2.3): VADD, VSUB, VMUL, VABS, VNEG, VCMP, VCVT, VMOV, VMRS 1;
  VMLA, VMLS, VNMLA, VFMA, VFMS 3; VDIV, VSQRT 14; VLDR, VSTR 2; VLDM, VSTM, VPUSH, VPOP 1 + N;
- flash wait states, bus contention and interrupts are not modelled.

The result is an estimate with bounds, labelled so wherever it is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CORES = ("cortex-m4", "cortex-m3")
_CONDITIONS = ("eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le")
_DATA = {
    "mov", "movs", "movw", "movt", "mvn", "mvns", "add", "adds", "adc", "adcs", "sub", "subs", "sbc", "sbcs", "rsb", "rsbs",
    "and", "ands", "orr", "orrs", "eor", "eors", "bic", "bics", "orn", "cmp", "cmn", "tst", "teq", "lsl", "lsls", "lsr",
    "lsrs", "asr", "asrs", "ror", "rors", "rrx", "clz", "rbit", "rev", "rev16", "revsh", "adr", "addw", "subw", "nop",
    "sxtb", "sxth", "uxtb", "uxth", "sxtb16", "uxtb16", "sxtab", "sxtah", "uxtab", "uxtah", "sxtab16", "uxtab16",
    "bfi", "bfc", "ubfx", "sbfx", "ssat", "usat", "ssat16", "usat16", "sel", "pkhbt", "pkhtb", "qadd", "qsub", "qdadd",
    "qdsub", "sadd16", "ssub16", "sadd8", "ssub8", "uadd16", "usub16", "uadd8", "usub8", "qadd16", "qsub16", "qadd8",
    "qsub8", "shadd16", "shsub16", "uqadd16", "uqsub16", "sasx", "ssax", "qasx", "qsax", "usad8", "usada8", "rrxs",
}
_FPU_M4 = {**dict.fromkeys(("vadd", "vsub", "vmul", "vnmul", "vabs", "vneg", "vcmp", "vcmpe", "vcvt", "vcvtr", "vmov", "vmrs",
                            "vmsr"), (1, 1)),
           **dict.fromkeys(("vmla", "vmls", "vnmla", "vnmls", "vfma", "vfms", "vfnma", "vfnms"), (3, 3)),
           **dict.fromkeys(("vdiv", "vsqrt"), (14, 14)), **dict.fromkeys(("vldr", "vstr"), (2, 2))}
_MAC_M4 = re.compile(r"^(mul|muls|mla|mls|smull|umull|smlal|umlal|smla..|smlaw.|smul..|smulw.|smlad|smladx|smlsd|smlsdx|"
                     r"smuad|smuadx|smusd|smusdx|smlald|smlaldx|smlsld|smlsldx|smmul|smmulr|smmla|smmlar|smmls|smmlsr|umaal|smlal..)$")
_M3_MUL = {"mul": (1, 1), "muls": (1, 1), "mla": (2, 2), "mls": (2, 2), "smull": (3, 5), "umull": (3, 5),
           "smlal": (4, 7), "umlal": (4, 7)}
_LOAD_STORE_ONE = re.compile(r"^(ldr|str)(b|h|sb|sh)?(ex|t)?$")


@dataclass
class CycleEstimate:
    estimate: float
    low: float
    high: float
    instructions: int
    unknown: dict[str, int]  # mnemonics not in the tables, each costed at 1 cycle (and named)

    def as_dict(self) -> dict:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "instructions": self.instructions,
                "cycles_per_instruction": self.estimate / max(self.instructions, 1), "unknown_mnemonics": self.unknown}


def _mnemonic(disas: str) -> tuple[str, bool]:
    """('ldrd', conditional?) from QEMU's disassembly ('bne.w #0x274' -> ('b', True))."""
    word = disas.split()[0].lower().split(".")[0]
    if word in ("cbz", "cbnz"):
        return word, True
    if word.startswith("b") and word[1:] in _CONDITIONS:
        return "b", True
    if word not in _DATA and len(word) > 2 and word[-2:] in _CONDITIONS and (word[:-2] in _DATA or word[:-2].startswith(("ldr", "str", "mov"))):
        return word[:-2], False  # an instruction inside an IT block: its cost is paid either way
    return word, False


def _registers(disas: str) -> int:
    m = re.search(r"\{([^}]*)\}", disas)
    if not m:
        return 1
    n = 0
    for part in m[1].split(","):
        part = part.strip()
        if "-" in part:  # a range such as s16-s23 or d8-d9 (a d register is two words)
            a, b = (int(re.sub(r"\D", "", x) or 0) for x in part.split("-"))
            n += (b - a + 1) * (2 if part.startswith("d") else 1)
        elif part:
            n += 1
    return n


def instruction_cycles(disas: str, core: str) -> tuple[float, float, float, bool]:
    """(estimate, low, high, taken-dependent) cycles of one execution, outside the branch rule's
    taken/not-taken split (for a conditional branch: its not-taken cost)."""
    if core not in CORES:
        raise ValueError(f"no timing table for {core!r} (have {', '.join(CORES)})")
    name, conditional = _mnemonic(disas)
    if name == "it" or re.fullmatch(r"it[te]{0,3}", name):
        return 1.0, 0.0, 1.0, False
    if name in ("b", "bl", "blx", "bx", "cbz", "cbnz"):
        if conditional:
            return 1.0, 1.0, 1.0, True
        return 3.0, 2.0, 4.0, False
    if name in ("ldm", "ldmia", "ldmfd", "ldmdb", "pop", "stm", "stmia", "stmdb", "stmfd", "push"):
        n = _registers(disas)
        refill = name in ("pop", "ldm", "ldmia", "ldmfd") and re.search(r"\bpc\b", disas)
        base = 1 + n
        return (base + 2, base + 1, base + 3, False) if refill else (base, base, base, False)
    if core == "cortex-m4" and name in ("vldm", "vldmia", "vldmdb", "vstm", "vstmia", "vstmdb", "vpush", "vpop"):
        n = 1 + _registers(disas)
        return n, n, n, False
    if core == "cortex-m4" and name in _FPU_M4:
        lo, hi = _FPU_M4[name]
        return (lo + hi) / 2, lo, hi, False
    if name in ("ldrd", "strd"):
        return 3.0, 3.0, 3.0, False
    if _LOAD_STORE_ONE.match(name):
        if re.search(r"\bpc\b", disas.split(",")[0]):
            return 4.0, 3.0, 5.0, False  # a load into PC: a branch
        return 2.0, 1.0, 2.0, False
    if name in ("sdiv", "udiv"):
        return 7.0, 2.0, 12.0, False
    if core == "cortex-m3" and name in _M3_MUL:
        lo, hi = _M3_MUL[name]
        return (lo + hi) / 2, lo, hi, False
    if core == "cortex-m4" and _MAC_M4.match(name):
        return 1.0, 1.0, 1.0, False
    if name in _DATA:
        return 1.0, 1.0, 1.0, False
    raise KeyError(name)


def estimate_cycles(mix: list[tuple[int, int, str]], core: str) -> CycleEstimate:
    """Cycles for an executed mix of (address, executions, disassembly) on `core`."""
    by_address = sorted(mix)
    counts = {a: n for a, n, _ in by_address}
    following = {a: by_address[i + 1][0] if i + 1 < len(by_address) else None for i, (a, _, _) in enumerate(by_address)}
    est = lo = hi = 0.0
    total = 0
    unknown: dict[str, int] = {}
    for address, n, disas in by_address:
        total += n
        try:
            e, low, high, taken_dependent = instruction_cycles(disas, core)
        except KeyError as err:
            unknown[str(err.args[0])] = unknown.get(str(err.args[0]), 0) + n
            e = low = high = 1.0
            taken_dependent = False
        if taken_dependent:
            nxt = following[address]
            taken = max(0, n - counts.get(nxt, 0)) if nxt is not None else n
            est += n * 1.0 + taken * 2.0  # taken: 1 + P with P = 2
            lo += n * 1.0
            hi += n * 4.0
        else:
            est += n * e
            lo += n * low
            hi += n * high
    return CycleEstimate(est, lo, hi, total, unknown)


def energy(cycles_per_window: float, clock_hz: float, current_ua_per_mhz: float, supply_v: float,
           windows_per_day: float, battery_mah: float | None) -> dict:
    """Time, charge and energy of the CPU running the model: active current = µA/MHz x MHz at the
    supply voltage (sleep current between windows is the firmware's, not counted here)."""
    seconds = cycles_per_window / clock_hz
    current_ma = current_ua_per_mhz * clock_hz / 1e6 / 1000.0
    mah_per_day = current_ma * seconds * windows_per_day / 3600.0
    out = {
        "ms_per_window": 1000.0 * seconds,
        "active_current_ma": current_ma,
        "uj_per_window": supply_v * current_ma * 1e-3 * seconds * 1e6,
        "mah_per_day": mah_per_day,
        "cpu_duty_cycle": seconds * windows_per_day / 86400.0,
    }
    if battery_mah:
        out["battery_percent_per_day"] = 100.0 * mah_per_day / battery_mah
    return out


def profile_energy(cycles_per_window: float, profile) -> dict | None:
    """energy() with a device profile's clock and `energy` figures; None if it has none."""
    e = profile.energy
    if not e:
        return None
    return energy(cycles_per_window, profile.clock_hz, e["active_current_ua_per_mhz"], e["supply_v"], e["windows_per_day"],
                  e["battery_mah"])
