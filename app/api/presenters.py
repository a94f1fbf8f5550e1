"""ExportRecord -> the seed's JSON shapes (plus additions; never replacements)."""

from __future__ import annotations

from typing import Any

from export_core.catalog import Catalog, Template
from export_core.store import ExportRecord

API_BASE = "/api/ybb/export"


def export_url(export_id: str, suffix: str = "") -> str:
    """A URL under /api/ybb/export/<id> (the seed's examples show /api/export/...: both work)."""
    return f"{API_BASE}/{export_id}{suffix}"


def _strategy(record: ExportRecord) -> dict[str, Any]:
    """`export_strategy` only for a multi-file export, as in the seed's answers: the seed's
    CodeIgniter controller takes `isset($result['data']['export_strategy'])` to mean "large
    export", so a single-file answer must not carry the key at all."""
    return {"export_strategy": record.strategy} if record.strategy == "multi_file" else {}


def _common(record: ExportRecord) -> dict[str, Any]:
    return {
        "export_type": record.export_type,
        "template": record.template,
        "format": record.format,
        "created_at": record.created_at.isoformat(),
        "expires_at": record.expires_at.isoformat(),
        "status_url": export_url(record.export_id, "/status"),
    }


def _batches(record: ExportRecord) -> list[dict[str, Any]]:
    return [
        {
            "batch_number": f.batch_number,
            "file_name": f.file_name,
            "file_size": f.file_size,
            "record_count": f.record_count,
            "record_range": f.record_range,
            "download_url": export_url(record.export_id, f"/download/batch/{f.batch_number}"),
        }
        for f in record.files
    ]


def _archive(record: ExportRecord) -> dict[str, Any] | None:
    if record.archive is None:
        return None
    return {
        "zip_file_name": record.archive.zip_file_name,
        "zip_file_size": record.archive.zip_file_size,
        "download_url": export_url(record.export_id, "/download/zip"),
        "compression_ratio": record.archive.compression_ratio,
    }


def _quality(record: ExportRecord) -> dict[str, Any] | None:
    return None if record.quality is None else record.quality.as_dict()


def export_payload(record: ExportRecord) -> dict[str, Any]:
    """The response to a completed synchronous export (seed: one file, or multi_file)."""
    if record.strategy == "multi_file":
        data: dict[str, Any] = {
            "export_id": record.export_id,
            "total_records": record.record_count,
            "total_files": len(record.files),
            "individual_files": _batches(record),
            "archive": _archive(record),
            "record_count": record.record_count,
            "download_url": export_url(record.export_id, "/download"),
        }
    else:
        single = record.files[0]
        data = {
            "export_id": record.export_id,
            "file_name": single.file_name,
            "file_size": single.file_size,
            "record_count": record.record_count,
            "download_url": export_url(record.export_id, "/download"),
        }
    data.update(_common(record), quality=_quality(record))
    return {"status": "success", **_strategy(record), "data": data}


def accepted_payload(record: ExportRecord) -> dict[str, Any]:
    """The 202 answer to an async export: where to poll."""
    data = {
        "export_id": record.export_id,
        "state": record.state,
        "progress": record.progress,
        "record_count": record.record_count,
        **_common(record),
    }
    return {"status": "success", **_strategy(record), "data": data}


def status_fields(record: ExportRecord) -> dict[str, Any]:
    """The seed's status keys plus state, progress, error and (when completed) downloads."""
    fields: dict[str, Any] = {
        "export_id": record.export_id,
        "export_type": record.export_type,
        "template": record.template,
        "record_count": record.record_count,
        "created_at": record.created_at.isoformat(),
        "expires_at": record.expires_at.isoformat(),
        "state": record.state,
        "progress": record.progress,
        "format": record.format,
        **_strategy(record),
        "status_url": export_url(record.export_id, "/status"),
    }
    if record.state == "failed":
        fields["error"] = record.error or "Export failed"
    if record.state == "completed":
        fields["download_url"] = export_url(record.export_id, "/download")
        fields["total_files"] = len(record.files)
        fields["individual_files"] = _batches(record)
        fields["archive"] = _archive(record)
        fields["quality"] = _quality(record)
    return fields


def status_payload(record: ExportRecord) -> dict[str, Any]:
    """GET .../status: the seed's flat shape."""
    return {"status": "success", **status_fields(record)}


def template_payload(template: Template) -> dict[str, Any]:
    """One template as the catalog routes show it."""
    return {
        "description": template.description,
        "fields": list(template.fields),
        "headers": list(template.headers),
        "includes_sensitive_data": template.includes_sensitive_data,
        "chunk_size": template.chunk_size,
        "columns": [
            {"field": c.field, "header": c.header, "kind": c.kind, "mapping": c.mapping}
            for c in template.columns
        ],
    }


def templates_payload(catalog: Catalog, export_type: str | None = None) -> dict[str, Any]:
    """All templates by type, or one type's templates."""
    if export_type is not None:
        data_type = catalog.data_type(export_type)
        templates = {n: template_payload(t) for n, t in data_type.templates.items()}
        return {"status": "success", "export_type": export_type, "data": templates}
    return {
        "status": "success",
        "data": {
            name: {n: template_payload(t) for n, t in dt.templates.items()}
            for name, dt in catalog.types.items()
        },
    }
