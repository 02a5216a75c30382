"""JSON Schemas generated from the pydantic models, one file each under ``schemas/``.

The files are committed so that editors and other tools can use them without polymask; a test
regenerates them and fails when a committed file drifts from its model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel


def _labelme() -> type[BaseModel]:
    from polymask.formats.labelme import LabelMeFile

    return LabelMeFile


def _coco() -> type[BaseModel]:
    from polymask.formats.coco import CocoFile

    return CocoFile


def _label_studio() -> type[BaseModel]:
    from polymask.formats.labelstudio import LabelStudioExport

    return LabelStudioExport


SCHEMAS: dict[str, Callable[[], type[BaseModel]]] = {
    "labelme.schema.json": _labelme,
    "coco.schema.json": _coco,
    "label-studio.schema.json": _label_studio,
}
"""File name -> the model it is generated from (imported lazily: some pull in heavy modules)."""


def render(name: str) -> str:
    model = SCHEMAS[name]()
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **model.model_json_schema()}
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_all(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SCHEMAS:
        path = folder / name
        path.write_text(render(name), encoding="utf-8")
        written.append(path)
    return written
