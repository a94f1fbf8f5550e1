"""Process-wide UI services: the settings, the export store and the upload cache.

`app.ui.init_ui` calls `configure(settings)` once per app. Callbacks read the services through
the getters below rather than Flask's `current_app`, because background callbacks run in a
forked child process that has no Flask application context (it inherits these globals)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from export_core.settings import Settings

if TYPE_CHECKING:
    from components.upload_cache import UploadCache
    from export_core.store import ExportStore

_lock = threading.Lock()
_settings: Settings | None = None
_store: ExportStore | None = None
_cache: UploadCache | None = None


def configure(settings: Settings) -> None:
    """Make `settings` the UI's settings; the store and cache are opened lazily from them."""
    global _settings, _store, _cache
    with _lock:
        _settings, _store, _cache = settings, None, None


def get_settings() -> Settings:
    """The configured settings (from the environment when nothing was configured)."""
    global _settings
    with _lock:
        if _settings is None:
            _settings = Settings.from_env()
        return _settings


def get_store() -> ExportStore:
    """The export store for the configured settings, opened once per process."""
    global _store
    settings = get_settings()
    with _lock:
        if _store is None:
            from export_core.store import open_store

            _store = open_store(settings)
        return _store


def get_upload_cache() -> UploadCache:
    """The parsed-upload cache for the configured settings, opened once per process."""
    global _cache
    settings = get_settings()
    with _lock:
        if _cache is None:
            from components.upload_cache import UploadCache

            _cache = UploadCache(settings)
        return _cache
