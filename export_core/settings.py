"""Configuration from the environment, in one object. Every knob the service has is here."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVICE_NAME = "YBB Data Processing Service"
SERVICE_VERSION = "1.0.0"


def _int(env: dict[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def _bool(env: dict[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name} must be 1 or 0, got {raw!r}")


def _choice(env: dict[str, str], name: str, choices: tuple[str, ...]) -> str:
    """One of `choices` (the first is the default when unset)."""
    raw = env.get(name, "").strip().lower() or choices[0]
    if raw not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


XLSX_DEFLATE_LEVEL = 4  # writers.deflate: 1.5-2x faster than zlib's 6, files 1-3% bigger


def xlsx_deflate_level(env: Mapping[str, str] | None = None) -> int:
    """YBB_XLSX_DEFLATE_LEVEL: the xlsx members' deflate level, 1-9 (unset: 4)."""
    raw = (os.environ if env is None else env).get("YBB_XLSX_DEFLATE_LEVEL", "").strip()
    if not raw:
        return XLSX_DEFLATE_LEVEL
    if not raw.isdigit() or not 1 <= int(raw) <= 9:
        raise ValueError(f"YBB_XLSX_DEFLATE_LEVEL must be a whole number from 1 to 9, got {raw!r}")
    return int(raw)


def _secret_key(data_dir: Path, configured: str) -> str:
    """The configured secret, else one generated once and kept in the data dir, so that every
    worker (and every restart) agrees on it."""
    if configured:
        return configured
    path = data_dir / ".secret_key"
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    candidate = secrets.token_hex(32)
    tmp = path.with_name(f".secret_key.{os.getpid()}.tmp")
    tmp.write_text(candidate, encoding="ascii")
    try:
        os.link(tmp, path)  # atomic create-if-absent: the first worker wins
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text(encoding="ascii").strip()


@dataclass(frozen=True)
class Settings:
    """All settings; build with `Settings.from_env()` (tests pass their own values)."""

    data_dir: Path = Path("data")
    retention_hours: float = 24.0
    max_body_bytes: int = 100 * 1024 * 1024
    max_upload_bytes: int = 50 * 1024 * 1024
    max_records: int = 50_000
    max_concurrent_exports: int = 10
    cleanup_interval_seconds: int = 300
    api_key: str = ""
    allowed_origins: tuple[str, ...] = ()
    secret_key: str = field(default="", repr=False)
    signed_url_ttl_seconds: int = 900
    signing_key: str = field(default="", repr=False)  # for signed download links; "" = secret_key
    cache_redis_url: str = ""
    ui_users: str = field(default="", repr=False)
    ui_session_hours: float = 8.0  # idle lifetime of a UI login (sliding)
    secure_cookies: bool = False  # Secure flag on the UI session cookie (HTTPS deployments)
    log_level: str = "INFO"
    # Scale-out (README "Running on several machines"): metadata in PostgreSQL, files in S3.
    store: str = ""  # YBB_STORE: "" / "sqlite" (embedded) or "postgres"
    database_url: str = field(default="", repr=False)  # DATABASE_URL (PaaS convention)
    files: str = "local"  # YBB_FILES: "local" (under YBB_DATA_DIR) or "s3"
    s3_bucket: str = ""
    s3_prefix: str = "exports/"
    s3_endpoint_url: str = ""  # S3_ENDPOINT_URL: MinIO, Ceph, R2...; "" = AWS
    s3_region: str = ""
    s3_access_key_id: str = field(default="", repr=False)  # "" = boto3's default chain
    s3_secret_access_key: str = field(default="", repr=False)
    s3_presigned_downloads: bool = False  # redirect downloads to presigned S3 URLs
    log_format: str = "text"  # "text" or "json" (one JSON object per line, on stdout)
    metrics_token: str = field(default="", repr=False)  # for /metrics; "" = the API key's rule
    health_min_free_mb: int = 1024  # /health?detail=1 is 503 below this much free disk
    xlsx_deflate_level: int = XLSX_DEFLATE_LEVEL  # read by writers.deflate at import

    @property
    def exports_dir(self) -> Path:
        return self.data_dir / "exports"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "exports.sqlite3"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read every setting from `env` (default: os.environ); bad values raise ValueError."""
        e = dict(os.environ if env is None else env)
        data_dir = Path(e.get("YBB_DATA_DIR", "").strip() or "data").resolve()
        origins = tuple(o.strip() for o in e.get("YBB_ALLOWED_ORIGINS", "").split(",") if o.strip())
        return cls(
            data_dir=data_dir,
            retention_hours=_float(e, "YBB_RETENTION_HOURS", 24.0),
            max_body_bytes=_int(e, "YBB_MAX_BODY_MB", 100, 1) * 1024 * 1024,
            max_upload_bytes=_int(e, "YBB_MAX_UPLOAD_MB", 50, 1) * 1024 * 1024,
            max_records=_int(e, "YBB_MAX_RECORDS", 50_000, 1),
            max_concurrent_exports=_int(e, "YBB_MAX_CONCURRENT_EXPORTS", 10, 1),
            cleanup_interval_seconds=_int(e, "YBB_CLEANUP_INTERVAL_SECONDS", 300, 1),
            api_key=e.get("YBB_API_KEY", "").strip(),
            allowed_origins=origins,
            secret_key=_secret_key(data_dir, e.get("YBB_SECRET_KEY", "").strip()),
            signed_url_ttl_seconds=_int(e, "YBB_SIGNED_URL_TTL_SECONDS", 900, 1),
            signing_key=e.get("YBB_SIGNING_KEY", "").strip(),
            cache_redis_url=e.get("CACHE_REDIS_URL", "").strip(),
            ui_users=e.get("YBB_UI_USERS", "").strip(),
            ui_session_hours=_float(e, "YBB_UI_SESSION_HOURS", 8.0),
            secure_cookies=_bool(e, "YBB_SECURE_COOKIES"),
            log_level=e.get("YBB_LOG_LEVEL", "INFO").strip().upper() or "INFO",
            **_scale_out(e),
            log_format=_choice(e, "YBB_LOG_FORMAT", ("text", "json")),
            metrics_token=e.get("YBB_METRICS_TOKEN", "").strip(),
            health_min_free_mb=_int(e, "YBB_HEALTH_MIN_FREE_MB", 1024),
            xlsx_deflate_level=xlsx_deflate_level(e),
        )


def _scale_out(e: dict[str, str]) -> dict[str, Any]:
    """The PostgreSQL / S3 settings (all optional; the embedded defaults need none)."""
    files = e.get("YBB_FILES", "").strip().lower() or "local"
    if files not in ("local", "s3"):
        raise ValueError(f"YBB_FILES must be local or s3, got {files!r}")
    bucket = e.get("YBB_S3_BUCKET", "").strip()
    if files == "s3" and not bucket:
        raise ValueError("YBB_FILES=s3 needs YBB_S3_BUCKET")
    prefix = e.get("YBB_S3_PREFIX", "exports/").strip().strip("/")
    return {
        "store": e.get("YBB_STORE", "").strip().lower(),
        "database_url": e.get("DATABASE_URL", "").strip(),
        "files": files,
        "s3_bucket": bucket,
        "s3_prefix": f"{prefix}/" if prefix else "",
        "s3_endpoint_url": e.get("S3_ENDPOINT_URL", "").strip(),
        "s3_region": e.get("AWS_DEFAULT_REGION", "").strip() or e.get("AWS_REGION", "").strip(),
        "s3_access_key_id": e.get("AWS_ACCESS_KEY_ID", "").strip(),
        "s3_secret_access_key": e.get("AWS_SECRET_ACCESS_KEY", "").strip(),
        "s3_presigned_downloads": _bool(e, "YBB_S3_PRESIGNED_DOWNLOADS"),
    }
