"""Compiling the exported C: host (ASan + UBSan, or a shared library for ctypes) and
Cortex-M3/M4 images for QEMU, with the project's strict warning set."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from collar_kd.errors import CollarKDError
from collar_kd.export.devices import DeviceProfile
from collar_kd.paths import FIRMWARE_DIR

WARNINGS = ["-std=c99", "-Wall", "-Wextra", "-Wconversion", "-Wsign-conversion", "-Wshadow", "-Wvla", "-Werror"]
SANITIZE = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
ARM_GCC = "arm-none-eabi-gcc"
STACK_BYTES = 4096
HEAP_BYTES = 8192  # the harness's stdio buffers (newlib); the model itself never allocates


class ToolchainMissing(CollarKDError):
    pass


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        hint = {
            ARM_GCC: "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi",
            "qemu-system-arm": "apt-get install qemu-system-arm",
        }.get(tool, "install it")
        raise ToolchainMissing(f"'{tool}' not found on PATH ({hint}; `.ci/run` does this)")
    return path


QEMU_TIMEOUT_S = 300


def run_qemu(profile: DeviceProfile, elf: Path, args: list[str], cwd: Path, extra: tuple[str, ...] = (),
             timeout: float = QEMU_TIMEOUT_S) -> subprocess.CompletedProcess:
    """Run a bare-metal image (in `cwd`, by its file name) on the profile's QEMU machine, with
    `args` as its command line through semihosting; `extra` adds QEMU options (a TCG plugin)."""
    qemu = require("qemu-system-arm")
    semihost = ",".join(["enable=on", "target=native", f"arg={elf.name}", *[f"arg={a}" for a in args]])
    cmd = [qemu, "-M", profile.qemu_machine, "-cpu", profile.cpu, "-nographic", "-monitor", "none",
           "-serial", "none", *extra, "-semihosting-config", semihost, "-kernel", str(elf)]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _run(cmd: list[str], cwd: Path | None = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise CollarKDError(f"build failed: {' '.join(cmd)}\n{proc.stdout}{proc.stderr}")


def runtime_sources(export_dir: Path) -> list[Path]:
    """Every runtime source of the export (a new kernel is a new ckd_*.c file, nothing more)."""
    return sorted((Path(export_dir).resolve() / "runtime").glob("ckd_*.c"))


def includes(export_dir: Path) -> list[str]:
    d = Path(export_dir).resolve()
    return [f"-I{d}", f"-I{d / 'runtime'}"]


def build_host(export_dir: Path, build_dir: Path, trace: bool = False, sanitize: bool = True) -> Path:
    """The verify harness for the host, with ASan and UBSan (any UB aborts the run)."""
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    exe = build_dir / ("verify_host_trace" if trace else "verify_host")
    flags = SANITIZE if sanitize else ["-O2"]
    cmd = ["gcc", *WARNINGS, *flags, *includes(export_dir), *(["-DCKD_TRACE"] if trace else []),
           *map(str, runtime_sources(export_dir)), str(FIRMWARE_DIR / "verify" / "verify_main.c"), "-o", str(exe)]
    _run(cmd)
    return exe


def build_host_library(export_dir: Path, build_dir: Path) -> Path:
    """A shared library of the runtime, the model and the test shim, for ctypes."""
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    lib = build_dir / "libckd_host.so"
    cmd = ["gcc", *WARNINGS, "-O2", "-g", "-shared", "-fPIC", *includes(export_dir), f"-I{FIRMWARE_DIR / 'host'}",
           *map(str, runtime_sources(export_dir)), str(FIRMWARE_DIR / "host" / "ckd_host_shim.c"), "-o", str(lib)]
    _run(cmd)
    return lib


@dataclass
class ArmImage:
    elf: Path
    map_file: Path
    objects: list[Path]
    profile: DeviceProfile
    dsp: bool


def arm_flags(profile: DeviceProfile, dsp: bool) -> list[str]:
    return [*profile.gcc_flags, "-O2", "-ffunction-sections", "-fdata-sections", "-fstack-usage", "-fcallgraph-info=su",
            *(["-DCKD_USE_DSP"] if dsp and profile.dsp else [])]


# What a bare-metal image runs: the verify harness, or the host test shim's calls replayed on the
# device (collar_kd/verify/target_shim.py).
HARNESSES = {
    "verify": [FIRMWARE_DIR / "verify" / "verify_main.c"],
    "shim": [FIRMWARE_DIR / "verify" / "shim_main.c", FIRMWARE_DIR / "host" / "ckd_host_shim.c"],
    # The example firmware's streaming loop: what a device links (export's flash and RAM check).
    "firmware": [FIRMWARE_DIR / "integration" / "examples" / "main_loop.c", FIRMWARE_DIR / "verify" / "firmware_main.c"],
}


def build_arm(export_dir: Path, profile: DeviceProfile, build_dir: Path, dsp: bool = True, trace: bool = False,
              harness: str = "verify") -> ArmImage:
    """A harness as a bare-metal image for the profile's core, linked against the real part's
    flash and RAM sizes (an oversized model is a link error)."""
    flags = [*includes(export_dir), f"-I{FIRMWARE_DIR / 'host'}", *(["-DCKD_TRACE"] if trace else [])]
    return link_arm_image([*runtime_sources(export_dir), *HARNESSES[harness]], flags, profile, build_dir, dsp)


def link_arm_image(sources: list[Path], flags: list[str], profile: DeviceProfile, build_dir: Path, dsp: bool,
                   name: str = "verify", libs: tuple[str, ...] = (), strict: bool = True) -> ArmImage:
    """Compile `sources` (with the strict warning set unless `strict` is off, for third-party code)
    and the startup code for the profile's core, and link them with the project's linker script
    sized to the part."""
    require(ARM_GCC)
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    flags = [*arm_flags(profile, dsp), *(WARNINGS if strict else []), *flags]
    objects = []
    for src in [*sources, FIRMWARE_DIR / "startup" / "startup_cm.c"]:
        obj = build_dir / (src.stem + ".o")
        _run([ARM_GCC, *flags, "-c", str(src), "-o", str(obj)], cwd=build_dir)
        objects.append(obj)
    ld = build_dir / "image.ld"
    template = (FIRMWARE_DIR / "linker" / "ckd_mcu.ld.in").read_text()
    ld.write_text(template.replace("@FLASH_BYTES@", str(profile.flash_bytes)).replace("@RAM_BYTES@", str(profile.ram_bytes))
                  .replace("@STACK_BYTES@", str(STACK_BYTES)).replace("@HEAP_BYTES@", str(HEAP_BYTES)))
    elf = build_dir / f"{name}.elf"
    map_file = build_dir / f"{name}.map"
    _run([ARM_GCC, *profile.gcc_flags, "--specs=nano.specs", "--specs=rdimon.specs", "-nostartfiles", "-T", str(ld),
          "-Wl,--gc-sections", f"-Wl,-Map={map_file}", *map(str, objects), *libs, "-o", str(elf)], cwd=build_dir)
    return ArmImage(elf, map_file, objects, profile, dsp and profile.dsp)


_ONE_LINE = re.compile(r"^ (\.\S+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+)$")
_NAME_ONLY = re.compile(r"^ (\.\S+)$")
_ADDR_SIZE = re.compile(r"^\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+)$")


def model_footprint(image: ArmImage, prefixes: tuple[str, ...] = ("ckd_",)) -> dict[str, int]:
    """Bytes the model and runtime (ckd_*.o, or the objects named by `prefixes`) occupy in the linked
    image, by section kind, read from the linker map after --gc-sections (unused functions are not
    counted)."""
    sizes = {"text": 0, "rodata": 0, "data": 0, "bss": 0}
    body = image.map_file.read_text().split("Linker script and memory map", 1)[-1]
    pending = None
    for line in body.splitlines():
        if m := _ONE_LINE.match(line):
            name, size, obj = m[1], int(m[2], 16), m[3]
        elif m := _NAME_ONLY.match(line):
            pending = m[1]
            continue
        elif pending and (m := _ADDR_SIZE.match(line)):
            name, size, obj = pending, int(m[1], 16), m[2]
        else:
            pending = None
            continue
        pending = None
        if Path(obj).name.startswith(prefixes):
            for kind in sizes:
                if name == f".{kind}" or name.startswith(f".{kind}."):
                    sizes[kind] += size
    return sizes


OUTSIDE_CALL_ALLOWANCE = 32
_CI_EDGE = re.compile(r'^edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')


def stack_usage(image: ArmImage) -> dict:
    """Worst-case stack of the model's entry points, from GCC's -fstack-usage frames and
    -fcallgraph-info call graph (no recursion: the deepest call path is a bound). A function outside
    the model (the memset GCC calls to zero the state) has no frame size here: each is listed and
    costed OUTSIDE_CALL_ALLOWANCE bytes (newlib's memset pushes at most a few registers)."""
    frames, calls = {}, {}
    for obj in image.objects:
        su, ci = obj.with_suffix(".su"), obj.with_suffix(".ci")
        if not obj.name.startswith("ckd_") or not su.exists():
            continue
        for line in su.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) >= 3:
                func = parts[0].rsplit(":", 1)[-1]
                frames[func] = int(parts[1])
                if parts[2].strip() not in ("static", "dynamic,bounded"):
                    raise CollarKDError(f"{su}: {func} has {parts[2]} stack usage")
        if ci.exists():
            for line in ci.read_text().splitlines():
                if m := _CI_EDGE.match(line):  # static functions are titled "file:name"
                    calls.setdefault(m[1].rsplit(":", 1)[-1], set()).add(m[2].rsplit(":", 1)[-1])

    outside: set[str] = set()

    def deepest(func: str, seen: tuple = ()) -> int:
        if func in seen:
            raise CollarKDError(f"recursion in the model's C: {' -> '.join((*seen, func))}")
        if func not in frames:
            outside.add(func)
            return OUTSIDE_CALL_ALLOWANCE
        return frames[func] + max((deepest(c, (*seen, func)) for c in calls.get(func, ())), default=0)

    paths = {f: deepest(f) for f in frames}
    return {"bound_bytes": max(paths.values(), default=0), "frames": frames, "deepest_path_bytes": paths,
            "calls_outside_the_model": sorted(outside), "sum_of_all_frames": sum(frames.values())}


def build_forest_host(src_dir: Path, build_dir: Path) -> Path:
    """The random-forest harness written by collar_kd/export/forest.py, for the host (ASan + UBSan)."""
    from collar_kd.export.forest import FOREST_SOURCES

    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    exe = build_dir / "forest_host"
    _run(["gcc", *WARNINGS, *SANITIZE, f"-I{src_dir}", *(str(Path(src_dir) / s) for s in FOREST_SOURCES), "-lm", "-o", str(exe)])
    return exe


def build_forest_arm(src_dir: Path, profile: DeviceProfile, build_dir: Path, max_window: int = 128) -> ArmImage:
    """The same for a Cortex-M, its feature context sized to windows of up to max_window samples."""
    from collar_kd.export.forest import FOREST_SOURCES

    return link_arm_image([Path(src_dir) / s for s in FOREST_SOURCES], [f"-I{src_dir}", f"-DCKD_WF_MAX_T={max_window}"],
                          profile, build_dir, dsp=False, name="forest", libs=("-lm",))
