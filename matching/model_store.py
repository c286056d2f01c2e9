"""Where a night's model is saved: `<home>/models/<night>/`, and the newest one a later night reuses.

Beside Splink's `model.json` a trained model keeps `model_meta.json` (its threshold, calibration,
fields and EM sessions) and the backend-neutral `model_params.json` (matching.portable_model).
Each file is written whole or not at all (`write_atomically`), `model.json` last, so a night killed
while saving leaves no half model for the next night to reuse. The auditor reads the same folders.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

MODEL_META = "model_meta.json"  # beside model.json: the threshold, the calibration, the fields and sessions


def model_dir(home: Path, night: date) -> Path:
    """The folder of a night's model (trained that night, or reused and copied there)."""
    return home / "models" / night.isoformat()


def latest_model(home: Path, night: date) -> Path | None:
    """The newest saved model of a night up to this one."""
    root = home / "models"
    if not root.is_dir():
        return None
    candidates = sorted(p for p in root.glob("*/model.json") if p.parent.name <= night.isoformat())
    return candidates[-1] if candidates else None


def write_atomically(path: Path, text: str) -> None:
    """Write beside the file and rename: a reader sees the old file or the whole new one."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
