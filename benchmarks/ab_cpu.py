"""A/B of two versions of the code by CPU time, for a machine too busy for wall times.

    .venv/bin/python -m benchmarks.ab_cpu --ref <git ref> cli [--rows 1000000] [--rounds 2]
    .venv/bin/python -m benchmarks.ab_cpu --ref <git ref> engine [--case 50000:excel:complete]
                                          [--rounds 3] [--repeat 5]

`cli`: the 1,000,000-row single-xlsx CLI export of `bench_cli` (the same generated CSV for
both). `engine`: `service.write_export` in-process, `--repeat` times per child process (the
child prints the medians). The working tree (A) and `--ref` checked out into a temporary git
worktree (B) run alternately, each in a child process of its own; per run this prints wall
time, the child's user + system CPU and peak RSS (from wait4, so each figure is that child's
alone; this process stays small, since Linux starts a child's peak at its parent's) and the
load average before it. With other jobs on the cores, wall time mostly says how
long the run waited for one; CPU time is what the code costs."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import ref_checkout

ROOT = Path(__file__).resolve().parent.parent
ENGINE_CHILD = """
import statistics, sys, tempfile, shutil, time
from pathlib import Path
from benchmarks.datagen import records
from export_core.model import ExportOptions
from export_core.readers import records_to_frame
from export_core.service import write_export
n, fmt, template, repeat = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
frame = records_to_frame(records("participants", n, seed=7))
walls, cpus = [], []
for _ in range(repeat):
    out = Path(tempfile.mkdtemp(prefix="ybb-ab-cpu-"))
    wall, cpu = time.perf_counter(), time.process_time()
    write_export(frame, ExportOptions("participants", template, format=fmt), out,
                 max_records=max(n, 1))
    walls.append(time.perf_counter() - wall)
    cpus.append(time.process_time() - cpu)
    shutil.rmtree(out)
print(f"export median wall {statistics.median(walls):.3f} s, cpu {statistics.median(cpus):.3f} s")
"""


def _run(command: list[str], cwd: Path) -> tuple[float, float, float, str]:
    """(wall s, user+sys CPU s, peak RSS MB, last line of stdout) of one child process."""
    with tempfile.TemporaryFile() as out:
        began = time.perf_counter()
        child = subprocess.Popen(
            command,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(cwd)},
        )
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - began
        child.returncode = os.waitstatus_to_exitcode(status)
        stderr = child.stderr.read().decode() if child.stderr else ""
        if child.returncode:
            raise RuntimeError(f"{command[:4]} failed in {cwd}: {stderr[-800:]}")
        out.seek(0)
        lines = out.read().decode().strip().splitlines()
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, (lines or [""])[-1]


def _commands(args: argparse.Namespace, scratch: Path) -> list[str]:
    if args.mode == "engine":
        n, fmt, template = args.case.split(":")
        return [sys.executable, "-c", ENGINE_CHILD, n, fmt, template, str(args.repeat)]
    source = scratch / "participants.csv"
    if not source.exists():  # in a child: a child's peak RSS starts at its parent's (exec)
        make = "import sys; from pathlib import Path; from benchmarks.bench_cli import generate; "
        make += "generate(Path(sys.argv[1]), int(sys.argv[2]), 'csv')"
        command = [sys.executable, "-c", make, str(source), str(args.rows)]
        subprocess.run(command, cwd=ROOT, check=True)
    return [
        sys.executable, "-m", "export_core", "export", "participants", str(source),
        "--template", "complete", "--chunking", "off", "--max-records", str(args.rows),
        "--out", str(scratch / "out"), "--json",
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", required=True, help="git ref to compare the working tree with")
    parser.add_argument("mode", choices=("cli", "engine"))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--case", default="50000:excel:complete", help="rows:format:template")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cpu: dict[str, list[float]] = {"A": [], "B": []}
    with tempfile.TemporaryDirectory(prefix="ybb-ab-cpu-") as tmp:
        scratch, tree = Path(tmp), Path(tmp) / "ref"
        with ref_checkout(args.ref, tree):
            command = _commands(args, scratch)
            for round_ in range(1, args.rounds + 1):
                for version, cwd in (("A", ROOT), ("B", tree)):
                    load = os.getloadavg()[0]
                    wall, used, peak, last = _run(command, cwd)
                    cpu[version].append(used)
                    print(
                        f"round {round_} {version}: wall {wall:.2f} s, cpu {used:.2f} s, "
                        f"peak {peak:.0f} MB, load before {load:.1f} | {last[:100]}",
                        flush=True,
                    )
    a, b = statistics.median(cpu["A"]), statistics.median(cpu["B"])
    print(f"median CPU: A working tree {a:.2f} s, B {args.ref} {b:.2f} s; A is {a / b:.0%} of B")


if __name__ == "__main__":
    main()
