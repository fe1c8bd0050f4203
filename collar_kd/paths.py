"""Where the project's own shipped data lives (class maps, device profiles, synthetic settings)."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROJECT_DATA = PROJECT_ROOT / "data"
FIRMWARE_DIR = PROJECT_ROOT / "firmware_export"
# Real, unlicensed collar data lives beside the project, never inside it.
SHARED_DATASETS = PROJECT_ROOT.parent / "shared" / "datasets"
WASP_DATASET = SHARED_DATASETS / "wasp_cow_walking"
RECIPES_DIR = PROJECT_DATA / "recipes"  # shipped defaults for kinds of data (collar.toml: real collars)
