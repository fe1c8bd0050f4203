"""WASP-lab's db-cow-walking collar dataset: the per-bout folder reader with the shipped
`wasp_cow_walking` layout (data/layouts/wasp_cow_walking.json). `--format wasp` is that layout;
`--format bouts --layout wasp_cow_mounts` reads the sibling db-cow-mounts layout."""

from __future__ import annotations

from pathlib import Path

from collar_kd.data.bout_folders import load_layout, read_bout_folders
from collar_kd.data.class_maps import ClassMap, load_class_map
from collar_kd.data.recordings import Recordings

WASP_LAYOUT = "wasp_cow_walking"


def read_wasp_recordings(root: Path, class_map: ClassMap | None = None) -> Recordings:
    layout = load_layout(WASP_LAYOUT)
    return read_bout_folders(root, layout, class_map or load_class_map(layout.class_map))
