"""export_core.ahead: an iterator advanced on its own thread, one item ahead of its consumer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from export_core import streamed
from export_core.ahead import Ahead
from export_core.errors import InputError, StorageError
from export_core.model import ExportOptions

NAME = "test-ahead"


def _alive(name: str = NAME) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name]


class Source:
    """Items 0..n-1 (raising `fail` instead of item `fail_at`), noting how far it has got,
    on which thread, and whether it was closed."""

    def __init__(self, n: int, fail_at: int | None = None, fail: BaseException | None = None):
        self.made = 0
        self.closed = False
        self.threads: set[str] = set()
        self._items = self._gen(n, fail_at, fail)

    def _gen(self, n: int, fail_at: int | None, fail: BaseException | None) -> Iterator[int]:
        try:
            for i in range(n):
                self.threads.add(threading.current_thread().name)
                if i == fail_at:
                    assert fail is not None
                    raise fail
                self.made = i + 1
                yield i
        finally:
            self.closed = True

    def __iter__(self) -> Iterator[int]:
        return self

    def __next__(self) -> int:
        return next(self._items)

    def close(self) -> None:
        self._items.close()


def test_items_in_order_on_another_thread() -> None:
    source = Source(50)
    with Ahead(source, NAME) as ahead:
        assert list(ahead) == list(range(50))
        assert list(ahead) == []  # stays at its end
    assert source.threads == {NAME}
    assert source.closed and not _alive()


def test_an_empty_source() -> None:
    with Ahead(iter([]), NAME) as ahead:
        assert next(ahead, None) is None
    assert not _alive()


def test_at_most_one_item_ahead_of_the_consumer() -> None:
    source = Source(10)
    with Ahead(source, NAME) as ahead:
        for taken in range(10):
            item = next(ahead)
            assert item == taken
            # the next item may be made, never the one after it
            assert source.made in (taken + 1, taken + 2)
            threading.Event().wait(0.01)  # give the thread time to run on (it must stop)
            assert source.made <= taken + 2
    assert not _alive()


def test_an_error_comes_after_the_items_before_it() -> None:
    source = Source(10, fail_at=4, fail=InputError("bad row 5", line=6))
    got: list[int] = []
    with Ahead(source, NAME) as ahead, pytest.raises(InputError, match="bad row 5"):
        for item in ahead:
            got.append(item)
    assert got == [0, 1, 2, 3]
    assert source.closed and not _alive()


def test_closing_early_stops_and_closes_the_source() -> None:
    source = Source(1_000)
    ahead = Ahead(source, NAME)
    assert [next(ahead), next(ahead)] == [0, 1]
    ahead.close()
    assert source.closed and source.made <= 3 and not _alive()
    assert next(ahead, None) is None  # nothing after close
    ahead.close()  # twice is fine


def test_the_consumer_failing_leaves_no_thread() -> None:
    source = Source(1_000)
    with pytest.raises(RuntimeError, match="consumer"), Ahead(source, NAME) as ahead:
        for item in ahead:
            if item == 3:
                raise RuntimeError("consumer")
    assert source.closed and source.made <= 5 and not _alive()


# The CLI's one-pass export reads and maps ahead: its failures leave no thread and no file.


def _rows_csv(path: Path, rows: int, bad_at: int | None = None) -> Path:
    lines = [b"id,first_name,last_name,email"]
    for i in range(rows):
        name = b"\xffnn" if i == bad_at else b"Ann"  # not UTF-8
        lines.append(b"%d,%s,Lee,p%d@example.org" % (i + 1, name, i))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.parametrize("fmt", ["excel", "csv"])
def test_streamed_input_error_mid_file_leaves_no_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    monkeypatch.setattr(streamed, "BATCH_ROWS", 7)
    source = _rows_csv(tmp_path / "in.csv", 60, bad_at=40)
    options = ExportOptions("participants", "complete", format=fmt, chunking="off")
    with pytest.raises(InputError, match="not valid UTF-8"):
        streamed.export_csv_file(source, options, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not _alive("ybb-read-ahead")


def test_streamed_write_failure_leaves_no_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streamed, "BATCH_ROWS", 7)
    source = _rows_csv(tmp_path / "in.csv", 60)
    written: list[int] = []
    real = streamed.csv_writer.append

    def failing(block: object, out: object, options: object, header: bool) -> None:
        written.append(1)
        if len(written) == 3:
            raise OSError(28, "No space left on device")
        real(block, out, options, header=header)  # type: ignore[arg-type]

    monkeypatch.setattr(streamed.csv_writer, "append", failing)
    options = ExportOptions("participants", "complete", format="csv", chunking="off")
    with pytest.raises(StorageError, match="No space left"):
        streamed.export_csv_file(source, options, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not _alive("ybb-read-ahead")
