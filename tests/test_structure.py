"""The package's structure: imports only go one way (no cycles, function-level imports
included), and the integer spec is written once (Python, the generated C header and the
document agree)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from collar_kd.quant import spec

PACKAGE = Path(__file__).resolve().parents[1] / "collar_kd"
DOC = Path(__file__).resolve().parents[1] / "docs" / "fixed-point.md"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Every collar_kd module -> the collar_kd modules it imports, anywhere in its body."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                # `from pkg import submodule` depends on the submodule; `from mod import name` on mod
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for t in targets:
                # the longest known module the name starts with (a name imported from a module counts as that module)
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if t and t != name and t != "collar_kd":
                    graph[name].add(t)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (c := visit(m)):
                return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (c := visit(n)):
            return c
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycle_in_the_package():
    graph = import_graph()
    assert "collar_kd.pipeline.train_run" in graph["collar_kd.cli"] or graph["collar_kd.cli"]
    assert "collar_kd.training.loop" in graph["collar_kd.distill.teachers"]  # function-level imports are seen too
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_export_and_verify_import_one_way_only():
    graph = import_graph()
    export_to_verify = {(a, b) for a, deps in graph.items() for b in deps
                        if a.startswith("collar_kd.export") and b.startswith("collar_kd.verify")}
    assert not export_to_verify, export_to_verify


def defines(header: str) -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r"#define (CKD_\w+) (-?\d+)u?\b", header)}


def test_generated_header_states_the_python_spec():
    got = defines(spec.spec_header())
    assert got == {name: value for name, value, _ in spec.C_CONSTANTS}
    assert got["CKD_ACT_INPUT_OFFSET"] == 32768 and got["CKD_ACT_TABLE_SIZE"] == 257


def test_runtime_sources_take_the_spec_from_the_generated_header():
    runtime = PACKAGE.parent / "firmware_export" / "runtime"
    for src in runtime.glob("ckd_*.[ch]"):
        text = re.sub(r"/\*.*?\*/", "", src.read_text(), flags=re.S)
        for name, _, _ in spec.C_CONSTANTS:
            assert not re.search(rf"#define\s+{name}\b", text), f"{src.name} redefines {name}"
    for name in ("ckd_act.h", "ckd_act.c", "ckd_gru.c", "ckd_fc_s8.c"):
        code = re.sub(r"/\*.*?\*/", "", (runtime / name).read_text(), flags=re.S)
        assert "32768" not in code and "255" not in code and "32767" not in code, f"{name} hard-codes a spec constant"


def test_the_document_states_the_same_numbers():
    """docs/fixed-point.md has a table of the spec's constants; every row must match."""
    doc = DOC.read_text()
    rows = dict(re.findall(r"^\| `(CKD_\w+)` \| `?(-?\d+)`? \|", doc, flags=re.M))
    expected = {name: value for name, value, _ in spec.C_CONSTANTS}
    assert set(rows) == set(expected), f"document lists {sorted(rows)}"
    assert {k: int(v) for k, v in rows.items()} == expected
    for bits in spec.WEIGHT_BITS:
        assert f"{bits}" in doc
    assert "ternary" in doc  # low-bit weights are described
