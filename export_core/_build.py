"""Builds the C extensions of export_core in place (run by `make` and deploy/Dockerfile).

    python export_core/_build.py [--force]

Each module in MODULES (export_core/<name>.c: `_jsoncols`, the request bodies' JSON decoder;
`_sheetrows`, the xlsx sheets' row XML and the CSV files) is compiled with the C compiler on
PATH (`cc`, or $CC) against this interpreter's headers, into export_core/<name><EXT_SUFFIX>;
a module is skipped when that file is newer than its source and the shared header
export_core/arrow_c.h (unless --force). Both are
optional at run time (export_core.jsoncolumns falls back to msgspec, export_core.writers'
sheetnative and csvnative to the polars renderers), but the tests assert they import, so a
checkout where `make test` ran cannot silently lack them."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODULES = ("_jsoncols", "_sheetrows")
HEADERS = ("arrow_c.h",)  # included by every module: a change rebuilds them all
FLAGS = ["-O2", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror"]


def source(name: str) -> Path:
    return HERE / f"{name}.c"


def target(name: str = "_jsoncols") -> Path:
    return HERE / f"{name}{sysconfig.get_config_var('EXT_SUFFIX')}"


def build_one(name: str, force: bool = False) -> Path:
    out, src = target(name), source(name)
    newest = max(path.stat().st_mtime for path in (src, *(HERE / h for h in HEADERS)))
    if not force and out.exists() and out.stat().st_mtime >= newest:
        return out
    include = sysconfig.get_paths()["include"]
    compiler = shlex.split(os.environ.get("CC", "cc"))
    partial = out.with_name(out.name + ".tmp")
    command = [*compiler, *FLAGS, f"-I{include}", str(src), "-o", str(partial), "-lm"]
    print(" ".join(command))
    subprocess.run(command, check=True)
    partial.replace(out)  # an importer never sees a half-written file
    return out


def build(force: bool = False) -> list[Path]:
    return [build_one(name, force) for name in MODULES]


if __name__ == "__main__":
    build(force="--force" in sys.argv[1:])
