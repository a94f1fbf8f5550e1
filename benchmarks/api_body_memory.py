"""What the API's handling of the request body costs in worker memory, without HTTP.

Imitates POST /api/ybb/export/participants for 50,000 `complete` rows in a worker thread (as
gunicorn's gthread workers run it): decode the body, build the frame, then `write_export`.
Variants: `hold` decodes the whole body with orjson + `records_to_frame` and keeps it alive
during the export (the first API); `drop` frees the records once the frame exists (the second);
`sliced` decodes it a slice at a time as app/api does now (`app.api.body.decode_export_body`).
Prints the process's start and peak RSS (sampled every 5 ms) and the export times, three
requests per process. Run it with the server's allocator settings (app/gunicorn_conf.py) in
the environment to see what a worker sees.

    .venv/bin/python -m benchmarks.api_body_memory hold|drop|sliced
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
import psutil

from app.api.body import decode_export_body
from benchmarks.datagen import records
from export_core.model import ExportOptions
from export_core.readers import records_to_frame
from export_core.service import write_export

MB = 2**20


def handle(body_bytes: bytes, variant: str) -> float:
    """One request: decode, build the frame, (free the body), export; the export's seconds."""
    if variant == "sliced":
        decoded = decode_export_body(body_bytes, "/bench", 50_000, hashed=False)
        assert decoded.frame is not None, "the benchmark body must take the sliced path"
        frame = decoded.frame
    else:
        body = orjson.loads(body_bytes)
        data = body["data"]
        frame = records_to_frame(data)
        if variant == "drop":
            del data
            body.pop("data")
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        write_export(frame, ExportOptions("participants", "complete"), Path(tmp))
        return time.perf_counter() - began


def main(variant: str) -> None:
    """Run three requests one after another in fresh threads; print the figures."""
    body_bytes = orjson.dumps({"data": records("participants", 50_000, seed=1)})
    gc.collect()
    proc = psutil.Process()
    peak, done = [0], threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.005)

    start = proc.memory_info().rss
    threading.Thread(target=watch, daemon=True).start()
    seconds: list[float] = []
    for _ in range(3):
        worker = threading.Thread(target=lambda: seconds.append(handle(body_bytes, variant)))
        worker.start()
        worker.join()
    done.set()
    print(
        f"{variant} (MALLOC_ARENA_MAX={os.environ.get('MALLOC_ARENA_MAX', 'unset')}): "
        f"start {start / MB:.0f} MB incl. the {len(body_bytes) / MB:.0f} MB body, "
        f"peak {peak[0] / MB:.0f} MB, export s {[round(s, 2) for s in seconds]}"
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "hold")
