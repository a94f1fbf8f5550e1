"""The app's TemplateStore (team templates, saved mappings), opened on first use."""

from __future__ import annotations

import flask

from export_core.store.templates import TemplateStore, open_template_store

from .context import api_context

EXTENSION = "ybb_team_templates"


def template_store() -> TemplateStore:
    """The app's TemplateStore, beside the export store (same YBB_STORE, same database)."""
    app = flask.current_app
    store: TemplateStore | None = app.extensions.get(EXTENSION)
    if store is None:
        store = app.extensions[EXTENSION] = open_template_store(api_context().settings)
    return store
