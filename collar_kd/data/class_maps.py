"""Class maps: raw label -> model class (or null to drop), plus the ordered class list."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from collar_kd.errors import DataError
from collar_kd.paths import PROJECT_DATA

CLASS_MAP_DIR = PROJECT_DATA / "class_maps"


@dataclass(frozen=True)
class ClassMap:
    classes: tuple[str, ...]
    mapping: dict[str, str | None]  # raw label -> class, None = drop
    source: str

    def resolve(self, raw: str, where: str, row: int | None = None) -> str | None:
        if raw in self.mapping:
            return self.mapping[raw]
        raise DataError(
            where,
            f"unknown label '{raw}' (class map {self.source} knows: {', '.join(sorted(self.mapping))})",
            row=row,
        )


def identity_class_map(labels: list[str]) -> ClassMap:
    return ClassMap(tuple(sorted(labels)), {x: x for x in labels}, "identity")


def load_class_map(name_or_path: str | Path) -> ClassMap:
    """Load a shipped map by name (e.g. 'wasp_default') or any JSON file by path."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = CLASS_MAP_DIR / f"{name_or_path}.json"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in CLASS_MAP_DIR.glob("*.json")))
        raise DataError(str(name_or_path), f"class map not found (shipped maps: {shipped})")
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(str(path), f"invalid JSON: {e.msg}", row=e.lineno) from None
    if not isinstance(doc, dict) or "classes" not in doc or "map" not in doc:
        raise DataError(str(path), "a class map needs the fields 'classes' (list) and 'map' (object)")
    classes = doc["classes"]
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise DataError(str(path), "'classes' must be a non-empty list of names", column="classes")
    if len(set(classes)) != len(classes):
        raise DataError(str(path), "'classes' has duplicates", column="classes")
    mapping = doc["map"]
    if not isinstance(mapping, dict) or not all(t is None or isinstance(t, str) for t in mapping.values()):
        raise DataError(str(path), "'map' must be an object from raw labels to class names (or null)", column="map")
    for raw, target in mapping.items():
        if target is not None and target not in classes:
            raise DataError(str(path), f"label '{raw}' maps to '{target}', which is not in 'classes'", column="map")
    return ClassMap(tuple(classes), dict(mapping), str(path))
