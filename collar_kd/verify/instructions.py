"""Exact instruction counts of the model's code under QEMU, per function and per window.

A small TCG plugin (firmware_export/bench/insn_count_plugin.c) counts every executed
instruction inside the model's functions and snapshots the total each time the harness
passes window_boundary(). It is compiled against qemu-plugin.h from Debian's own qemu source
package for the installed QEMU version: GPL, so it is fetched at build time (about 23 MB, once,
into the cache directory) and never committed.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tarfile
from pathlib import Path

import numpy as np

from collar_kd.paths import FIRMWARE_DIR, PROJECT_ROOT
from collar_kd.verify.build import ArmImage, run_qemu

PLUGIN_DIR = PROJECT_ROOT / "build" / "qemu-plugin"


def plugin_library() -> Path:
    """Build the counting plugin against qemu-plugin.h from Debian's qemu source package (GPL:
    fetched here at build time, never committed), for the installed QEMU version."""
    source = FIRMWARE_DIR / "bench" / "insn_count_plugin.c"
    lib = PLUGIN_DIR / f"libinsn_count-{hashlib.sha256(source.read_bytes()).hexdigest()[:12]}.so"  # rebuilt when it changes
    if lib.exists():
        return lib
    header = PLUGIN_DIR / "include" / "qemu-plugin.h"
    if not header.exists():
        _fetch_plugin_header()
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{PLUGIN_DIR / 'include'}",
                    str(source), "-o", str(lib)], check=True)
    return lib


def _fetch_plugin_header() -> None:
    PLUGIN_DIR.mkdir(parents=True, exist_ok=True)
    src = subprocess.run(["dpkg-query", "-W", "-f=${source:Package}=${source:Version}", "qemu-system-arm"],
                         capture_output=True, text=True, check=True).stdout.strip()
    lists = PLUGIN_DIR / "apt-lists"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    sources = PLUGIN_DIR / "deb-src.list"
    key = "/usr/share/keyrings/debian-archive-keyring.gpg"
    sources.write_text("".join(f"deb-src [signed-by={key}] http://deb.debian.org/{repo} {suite} main\n" for repo, suite in
                               (("debian", "bookworm"), ("debian", "bookworm-updates"), ("debian-security", "bookworm-security"))))
    apt = ["apt-get", f"-o=Dir::Etc::sourcelist={sources}", "-o=Dir::Etc::sourceparts=-", f"-o=Dir::State::Lists={lists}"]
    subprocess.run([*apt, "update", "-qq"], check=True, capture_output=True)
    subprocess.run([*apt, "source", "--download-only", "-qq", src], check=True, cwd=PLUGIN_DIR, capture_output=True)
    tarball = next(PLUGIN_DIR.glob("qemu_*.orig.tar.*"))
    with tarfile.open(tarball) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("include/qemu/qemu-plugin.h"))
        member.name = "qemu-plugin.h"
        tar.extract(member, PLUGIN_DIR / "include")


def function_ranges(elf: Path, select) -> tuple[list[tuple[int, int, str]], int]:
    """(start, end, name) of every function `select(name, address, symbols)` accepts, and the
    address of window_boundary (the per-window marker; 0, never reached, in an image without one)."""
    nm = subprocess.run(["arm-none-eabi-nm", "-S", "--defined-only", str(elf)], capture_output=True, text=True, check=True).stdout
    syms = {p[-1]: p for p in (line.split() for line in nm.splitlines())}
    mark = int(syms["window_boundary"][0], 16) & ~1 if "window_boundary" in syms else 0  # Thumb symbols have bit 0 set
    ranges = []
    for p in (line.split() for line in nm.splitlines()):
        if len(p) == 4 and p[2] in "tTwW":
            a = int(p[0], 16) & ~1
            if select(p[3], a, syms):
                ranges.append((a, a + int(p[1], 16), p[3]))
    return ranges, mark


def run_counted(elf: Path, profile, ranges, mark: int, args: list[str], work: Path, sentinel: str) -> dict:
    """Run an image under QEMU with the counting plugin over `ranges`; per-window totals are the
    differences between successive passes over the marker."""
    (work / "ranges.txt").write_text("".join(f"{a:x} {b:x} {n}\n" for a, b, n in ranges))
    counts = work / "counts.txt"
    counts.unlink(missing_ok=True)
    plugin = ("-plugin", f"{plugin_library()},ranges={work / 'ranges.txt'},mark={mark},out={counts}")
    proc = run_qemu(profile, elf, args, work, extra=plugin, timeout=600)
    if sentinel not in proc.stdout:
        raise RuntimeError(f"counted image did not finish: {proc.stdout}{proc.stderr}")
    per_function, marks, mix = {}, [], []
    for line in counts.read_text().splitlines():
        kind, *rest = line.split(maxsplit=2)
        if kind == "range":
            per_function[rest[0]] = int(rest[1])
        elif kind == "mark":
            marks.append(int(rest[0]))
        elif kind == "insn":
            count, disas = rest[1].split("\t", 1)
            mix.append((int(rest[0], 16), int(count), disas.strip()))
    per_window = np.diff(marks)
    # the mix covers the whole run: from before the first marker to after the last
    return {"per_window": per_window, "per_function_total": per_function, "windows": len(per_window), "mix": mix}


def count_instructions(image: ArmImage, inputs: Path, work: Path) -> dict:
    """Run the verify image on `inputs` under QEMU, counting the model's functions (ckd_*.o,
    grouped by the linker script between __model_text_start and __model_text_end)."""
    def in_model(name, address, syms):
        return int(syms["__model_text_start"][0], 16) <= address < int(syms["__model_text_end"][0], 16)

    ranges, mark = function_ranges(image.elf, in_model)
    elf = work / "bench.elf"
    shutil.copy2(image.elf, elf)
    shutil.copy2(inputs, work / "inputs.bin")
    c = run_counted(elf, image.profile, ranges, mark, ["inputs.bin", "outputs.bin"], work, "CKD-VERIFY-DONE")
    return {**c, "outputs": work / "outputs.bin"}


def summarize(counts: dict) -> dict:
    pw = counts["per_window"]
    return {"min": int(pw.min()), "mean": float(pw.mean()), "max": int(pw.max()), "windows": int(counts["windows"])}


