"""Builds the C extension export_core/_jsoncols.c in place (run by `make` and deploy/Dockerfile).

    python export_core/_build.py [--force]

Compiles with the C compiler on PATH (`cc`, or $CC) against this interpreter's headers, into
export_core/_jsoncols<EXT_SUFFIX>; skipped when that file is newer than the source (unless
--force). The module is optional at run time (export_core.jsoncolumns falls back to msgspec),
but the tests assert it imports, so a checkout where `make test` ran cannot silently lack it."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "_jsoncols.c"
FLAGS = ["-O2", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror"]


def target() -> Path:
    return HERE / f"_jsoncols{sysconfig.get_config_var('EXT_SUFFIX')}"


def build(force: bool = False) -> Path:
    out = target()
    if not force and out.exists() and out.stat().st_mtime >= SOURCE.stat().st_mtime:
        return out
    include = sysconfig.get_paths()["include"]
    compiler = shlex.split(os.environ.get("CC", "cc"))
    partial = out.with_name(out.name + ".tmp")
    command = [*compiler, *FLAGS, f"-I{include}", str(SOURCE), "-o", str(partial), "-lm"]
    print(" ".join(command))
    subprocess.run(command, check=True)
    partial.replace(out)  # an importer never sees a half-written file
    return out


if __name__ == "__main__":
    build(force="--force" in sys.argv[1:])
