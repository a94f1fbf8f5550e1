"""Mapping: reader frames onto every template, with the quality report."""

from __future__ import annotations

import polars as pl

from export_core.catalog import get_catalog
from export_core.mapping import map_frame
from export_core.readers import records_to_frame


def test_every_template_maps_columns_in_order() -> None:
    catalog = get_catalog()
    for data_type in catalog.types.values():
        for template in data_type.templates.values():
            mapped = map_frame(records_to_frame([{"id": 1}]), template)
            assert mapped.frame.columns[: len(template.fields)] == list(template.fields)
            assert mapped.frame.schema["id"] == pl.Int64
            assert mapped.frame["id"].to_list() == [1]
