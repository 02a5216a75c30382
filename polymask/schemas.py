"""JSON Schemas generated from the pydantic models, one file each under ``schemas/``.

The files are committed so that editors and other tools can use them without polymask; a test
regenerates them and fails when a committed file drifts from its model.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from pydantic import BaseModel

SCHEMAS: dict[str, str] = {
    "labelme.schema.json": "polymask.formats.labelme:LabelMeFile",
    "via.schema.json": "polymask.formats.via:ViaFile",
    "geojson.schema.json": "polymask.formats.geojson:FeatureCollection",
    "config.schema.json": "polymask.config:PolymaskConfig",
    "validate-report.schema.json": "polymask.report.problems:ValidationReport",
    "stats-report.schema.json": "polymask.stats.report:StatsReport",
    "score-report.schema.json": "polymask.score.report:ScoreReport",
    "coco.schema.json": "polymask.formats.coco:CocoFile",
    "coco-results.schema.json": "polymask.formats.coco_results:CocoResultsFile",
    "label-studio.schema.json": "polymask.formats.labelstudio:LabelStudioExport",
}
"""File name -> ``module:Model`` it is generated from (imported only when rendered)."""


def model_for(name: str) -> type[BaseModel]:
    module, attr = SCHEMAS[name].split(":")
    return getattr(importlib.import_module(module), attr)


def render(name: str) -> str:
    model = model_for(name)
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **model.model_json_schema(),
    }
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
