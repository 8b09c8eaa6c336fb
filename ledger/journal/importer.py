"""``ledger import FILE.jsonl``: a streaming, resumable bulk import of journal entries.

One JSON object a line: ``{"key", "date", "memo", "postings": [{"account", "amount", "commodity"}]}``.
- ``key`` is the entry's idempotency key: a line whose key is already in the ledger is skipped, so
  re-running an import after a crash writes only what is missing.
- Lines are read one at a time and written in batches of ``BATCH`` entries (one transaction each,
  through the posting service's bulk path, ``bulk``), so memory stays flat whatever the file's
  size; a line the bulk path does not take (``fast_line`` says None) is posted alone through
  ``service.post_entries``, in its place in the chain.
- A bad line stops the import: the lines before it are committed, nothing of that line is written,
  and the error names its line number and field.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import math
import os
import pickle
import queue
import re
import signal
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TextIO

import orjson
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledger.core.entries import Leg
from ledger.core.errors import Conflict, ValidationError
from ledger.core.money import MAX_AMOUNT, MAX_PLACES, D, MoneyError
from ledger.core.text import fits, text_problem
from ledger.journal import bulk
from ledger.journal.service import EntrySpec, post_entries

#: Entries per transaction on the bulk path, per engine: each committed batch is kept if the
#: import dies later (a re-run skips its keys), and a batch's rows are what the import holds in
#: memory. SQLite's are larger: each commit writes every page the batch touched to the WAL, and
#: the entries' hash index (random keys) spreads a batch over most of its pages, so fewer,
#: larger commits write far less (1M postings: 5,000 entries a batch spent about 3 s in commits,
#: 10,000 about 1.8 s, 20,000 1.3 s but over 200 MB of RSS).
BATCH = {"postgresql": 5_000, "sqlite": 10_000}
#: SQLite's idempotency-key lookup: keys per query (PostgreSQL asks for a batch's in one array).
KEYS_PER_QUERY = 2_000
#: Where the next batch is read and checked while the last one is written, on both engines: a
#: reader process forked from this one (``_read_ahead``), which reads on the other core and hands
#: each batch over by ``pickle``, about 2 µs a line to take back against 10 µs to read it. A reader
#: thread would hold Python's lock against the writer: on SQLite the writer's own work runs holding
#: it, and on PostgreSQL, once the references were checked set-wise (migrations 0029, 0030), the
#: writer and the reader together held it for most of the import (1M postings: 11.4 s with a
#: thread, 9.9 s with a process). Where no process can be forked, the reader is this: a thread on
#: PostgreSQL (the writer still waits on the server, which the reader's Python fills), none on
#: SQLite (the writer reads between its batches: a thread only slowed the writer's binding of rows).
READ_ALONE = {"postgresql": "thread", "sqlite": "inline"}
#: Lines a reader process pickles at a time (``_Forked``).
CHUNK = 1_000
#: Rows SQLite's ``ANALYZE`` samples an index after an import (``PRAGMA analysis_limit``).
SQLITE_ANALYSIS_LIMIT = 1000
#: The fast path's JSON reader: orjson, about a third faster than ``json`` on an import's lines.
#: Where the two differ (orjson refuses ``NaN``, a lone surrogate, a number past a double; it reads
#: an integer past 64 bits as a float) orjson fails or the value is one no field the import reads
#: may hold: the line goes to the slow path, which reads it with ``json`` (``parse_line``), so
#: which lines are taken and what they say is ``json``'s (``tests/test_bulk_import.py``).
_loads = orjson.loads


@dataclass
class ImportResult:
    read: int = 0
    imported: int = 0
    skipped: int = 0
    postings: int = 0


def open_journal(path) -> TextIO:
    """``path`` opened for ``import_lines``: UTF-8, a byte-order mark before the first line read
    past, and a byte that is not UTF-8 kept as a lone surrogate (``surrogateescape``) rather than
    raised while reading, so the line that holds it is refused by its number (``parse_line``)
    after the lines before it are written, as any other bad line."""
    return open(path, encoding="utf-8-sig", errors="surrogateescape")


def _undecodable(text: str) -> int | None:
    """Where in ``text`` the first byte that was not UTF-8 sits (``open_journal`` kept it as
    U+DC80–U+DCFF), or None."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")  # (in C: the only surrogates a line read so can hold are those bytes)
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def parse_line(text: str, lineno: int, currency: str) -> EntrySpec:
    """One JSONL line → an ``EntrySpec``; ``ValidationError`` naming ``line N: field``."""
    def bad(field: str, message: str) -> ValidationError:
        return ValidationError(f"line {lineno}: {field}: {message}", {f"line {lineno}.{field}": [message]})

    at = _undecodable(text)
    if at is not None:
        raise bad("text", f"not UTF-8 (byte 0x{ord(text[at]) - 0xDC00:02X} at character {at + 1})")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad("json", f"not valid JSON ({exc.msg})") from exc
    if not isinstance(obj, dict):
        raise bad("json", "not a JSON object")
    key = obj.get("key")
    problem = text_problem(key, max_length=200)
    if problem is not None:
        raise bad("key", f"a non-empty string of at most 200 characters is required ({problem})")
    date = obj.get("date")
    if not fits(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", date):
        raise bad("date", "an ISO date like 2026-01-31 is required")
    try:
        day = dt.date.fromisoformat(date)
    except ValueError as exc:
        raise bad("date", "an ISO date like 2026-01-31 is required") from exc
    memo = obj.get("memo", "")
    problem = text_problem(memo, max_length=500, min_length=0)
    if problem is not None:
        raise bad("memo", f"a string of at most 500 characters ({problem})")
    postings = obj.get("postings")
    if not isinstance(postings, list) or len(postings) < 2:
        raise bad("postings", "a list of at least two postings is required")
    legs = []
    for i, p in enumerate(postings):
        if not isinstance(p, dict):
            raise bad(f"postings[{i}]", "not an object")
        account, amount, commodity = p.get("account"), p.get("amount"), p.get("commodity", currency)
        if not isinstance(account, str):
            raise bad(f"postings[{i}].account", "required")
        if not isinstance(amount, str):
            raise bad(f"postings[{i}].amount", "a decimal string such as \"12.50\" is required")
        if not isinstance(commodity, str):
            raise bad(f"postings[{i}].commodity", "a commodity code such as USD")
        try:
            value = D(amount)
        except MoneyError as exc:
            raise bad(f"postings[{i}].amount", str(exc)) from exc
        if abs(value) >= MAX_AMOUNT:
            raise bad(f"postings[{i}].amount", f"must be less than {MAX_AMOUNT:f} in magnitude")
        legs.append(Leg(account, value, commodity))
    return EntrySpec(day, memo, legs, "import", key, idempotency_key=key)


def _amount(text: str, n: int) -> tuple[int, str | None] | None:
    """``"12.50"`` as minor units of a commodity with ``n`` places, or None for anything else
    (``D`` and ``check_places`` then answer: a stray space, ``"1.500"``, ``"1e3"``, ``"١٠"``...):
    ASCII digits, an optional leading minus and at most ``n`` decimals, as ``D`` reads them.
    With the minor units, ``text`` itself when it is already what the canonical form writes
    (``minor_formatter``: no leading zero, exactly ``n`` decimals, no ``-0``), so the common line's
    amount is not formatted again; else None, and ``bulk.draft`` formats it.

    The common amount, already canonical, is recognised by one regular expression
    (``_canonical``) and read with one ``int``; any other goes the long way (``_amount_read``,
    which ``tests/test_bulk_import.py`` holds equal to this)."""
    if _CANONICAL[n](text) is not None:
        minor = int(text.replace(".", "", 1))  # (with no places, the pattern has no dot)
        if minor or text[0] != "-":  # "-0.00" is not canonical: the long way says so
            return minor, text
    return _amount_read(text, n)


def _amount_read(text: str, n: int) -> tuple[int, str | None] | None:
    """``_amount``, character by character."""
    whole, dot, frac = text.partition(".")
    digits = whole[1:] if whole[:1] == "-" else whole
    if not (digits.isascii() and digits.isdigit()) or len(frac) > n:
        return None
    if dot and not (frac.isascii() and frac.isdigit()):
        return None
    minor = int(digits + frac) * 10 ** (n - len(frac)) if frac else int(digits) * 10 ** n
    canonical = len(frac) == n and bool(dot) == (n > 0) and (digits[0] != "0" or len(digits) == 1)
    if len(digits) < len(whole):
        return -minor, text if canonical and minor else None
    return minor, text if canonical else None


def _canonical(n: int) -> Callable:
    """The full match of an amount as ``minor_formatter`` writes it with ``n`` places (ASCII
    digits, no leading zero, exactly ``n`` decimals), but for the sign of zero."""
    digits = r"-?(?:0|[1-9][0-9]*)"
    return re.compile(digits + (rf"\.[0-9]{{{n}}}" if n else "")).fullmatch


#: ``_canonical(n)`` for every number of places a commodity may have.
_CANONICAL: dict[int, Callable] = {n: _canonical(n) for n in range(MAX_PLACES + 1)}
#: ``MAX_AMOUNT`` in minor units of a commodity with ``n`` places.
_LIMIT = {n: int(MAX_AMOUNT.scaleb(n)) for n in range(MAX_PLACES + 1)}


def _text_ok(value: object, max_length: int, min_length: int) -> bool:
    """``text_problem(value, max_length=…, min_length=…) is None`` (single-line text), in two C
    calls for the common value: a printable ``str`` holds no control character, line break or
    lone surrogate (all unprintable), and its only whitespace is the space, so it is blank when
    ``isspace``. Anything else is ``text_problem``'s to judge. ``tests/test_bulk_import.py``
    holds the two equal."""
    if type(value) is str and value.isprintable():
        return min_length <= len(value) <= max_length and (min_length < 1 or not value.isspace())
    return text_problem(value, max_length=max_length, min_length=min_length) is None


def fast_line(text: str, accounts: bulk.Accounts, currency: str, days: dict[str, dt.date]) -> bulk.Draft | None:
    """``parse_line`` and the posting service's checks at once, for the common line: the entry
    ready for ``bulk.write``, or None when anything is unusual — the slow path (``parse_line``,
    ``post_entries``) then takes the line, and answers its error if it has one."""
    try:
        obj = _loads(text)
    except orjson.JSONDecodeError:
        return None
    if type(obj) is not dict:
        return None
    key, date, memo, postings = obj.get("key"), obj.get("date"), obj.get("memo", ""), obj.get("postings")
    if not (_text_ok(key, 200, 1) and _text_ok(memo, 500, 0)):
        return None
    day = days.get(date) if type(date) is str else None
    if day is None:
        if not fits(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", date):
            return None
        try:
            day = days[date] = dt.date.fromisoformat(date)
        except ValueError:
            return None
    if type(postings) is not list:
        return None
    legs = []
    for p in postings:
        if type(p) is not dict:
            return None
        account, amount, commodity = p.get("account"), p.get("amount"), p.get("commodity", currency)
        if type(account) is not str or type(amount) is not str or type(commodity) is not str:
            return None
        n = accounts.places.get(commodity)
        parsed = None if n is None else _amount(amount, n)
        if parsed is None:
            return None
        minor, canonical = parsed
        if not -_LIMIT[n] < minor < _LIMIT[n]:
            return None
        legs.append((account, commodity, minor, canonical))
    return bulk.draft(key, day, memo, legs, accounts)


def import_lines(session: Session, lines: Iterable[str], currency: str,
                 progress: Callable[[int], None] | None = None, commit: bool = True) -> ImportResult:
    """Import ``lines``; commits each batch when ``commit`` (the CLI), else leaves it to the caller.

    Lines ``fast_line`` takes are written ``BATCH`` at a time by ``bulk.write``; any other line is
    posted alone through ``service.post_entries`` (after the batch before it), which answers a bad
    line's error. A batch the bulk path declines (a date in a closed period...) goes through
    ``post_entries`` too, to find and name its first bad line.

    The next batch is read while this thread writes the last (``_read_ahead``): by a reader process
    forked from this one, which sends its batches through a pipe (on PostgreSQL with their ``COPY``
    text made), or where none can be forked by a reader thread (PostgreSQL) or between the batches
    (SQLite). Only this thread touches the session. At most three batches are in memory: one
    written, one waiting, one being read.

    Python's cyclic garbage collector is paused meanwhile, and only the youngest generation
    collected after each batch: the import makes millions of small acyclic objects that reference
    counting frees, and the collector, left running, re-scanned the application's whole heap as
    each batch's drafts piled up (about 1 s of a million postings' parsing). Whatever cycles a
    batch leaves are collected after it, and everything else when the import ends."""
    result = ImportResult()
    keys = _KeyLookup()
    accounts = bulk.Accounts(session, currency)
    engine = session.get_bind().dialect.name
    size = BATCH.get(engine, 5_000)
    reader = _READERS[_read_ahead(engine)](lines, accounts, currency, size)
    restore = bulk.tune(session)
    collecting = gc.isenabled()
    gc.disable()
    try:
        reader.start()
        for kind, read, payload in reader:
            result.read += read
            if kind == "batch":
                _write_batch(session, payload, result, accounts, commit, keys)
                # Emptied, not only let go: the reader still holds the list until it reads on,
                # and the collection below would walk every draft in it (about 10 ms a batch).
                payload.clear()
                gc.collect(0)
            elif kind == "line":
                lineno, text = payload
                _post_slowly(session, [(lineno, parse_line(text, lineno, currency))], result, commit)
            if progress:
                progress(reader.take_bytes())
    finally:
        if collecting:
            gc.enable()
        reader.stop()
        restore()
    return result


def refresh_statistics(session: Session) -> None:
    """Fresh planner statistics after a bulk load (PostgreSQL's advice for bulk loading; SQLite
    keeps them in ``sqlite_stat1``), so the next close plans its queries on the ledger as it now
    is. SQLite reads every index whole unless told to sample (its advice for large databases, as
    ``PRAGMA optimize`` does): ``SQLITE_ANALYSIS_LIMIT`` rows an index, 0.4 s less after 1M
    postings, and the import's peak RSS 187 → 156 MB."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(sa.text(f"PRAGMA analysis_limit = {SQLITE_ANALYSIS_LIMIT}"))
    session.execute(sa.text("ANALYZE"))


def _items(lines: Iterable[str], accounts: bulk.Accounts, currency: str, size: int, counter):
    """Lines read and checked, as items ``(kind, lines read, payload)``: ``("batch", n, [(lineno,
    Draft)...])`` for the bulk path, ``("line", n, (lineno, text))`` for a line it does not take
    (the slow path answers it, after the batch before it), and a last ``("end", 0, None)``.
    ``counter.bytes`` counts what was read."""
    days: dict[str, dt.date] = {}
    batch: list[tuple[int, bulk.Draft]] = []
    read = 0
    for lineno, text in enumerate(lines, start=1):
        counter.bytes += len(text)
        if not text.strip():
            continue
        read += 1
        d = None if _undecodable(text) is not None else fast_line(text, accounts, currency, days)
        if d is not None:
            batch.append((lineno, d))
            if len(batch) >= size:
                yield "batch", read, batch
                batch, read = [], 0
            continue
        if batch:
            yield "batch", read - 1, batch
        yield "line", 1, (lineno, text)
        batch, read = [], 0
    if batch:
        yield "batch", read, batch
    yield "end", 0, None


class _Counting:
    """What a reader has read since the writer last asked (``bytes``, for the progress bar)."""

    bytes = 0

    def take_bytes(self) -> int:
        n, self.bytes = self.bytes, 0
        return n


class _Inline(_Counting):
    """``_items`` read by the writer itself, between its batches."""

    def __init__(self, lines: Iterable[str], accounts: bulk.Accounts, currency: str, size: int):
        self.lines, self.accounts, self.currency, self.size = lines, accounts, currency, size

    def start(self) -> None:
        pass

    def __iter__(self):
        return _items(self.lines, self.accounts, self.currency, self.size, self)

    def stop(self) -> None:
        pass


class _Reader(_Counting, threading.Thread):
    """``_items`` in a thread of its own, one item ahead of the writer."""

    def __init__(self, lines: Iterable[str], accounts: bulk.Accounts, currency: str, size: int):
        super().__init__(name="ledger-import-reader", daemon=True)
        self.lines, self.accounts, self.currency, self.size = lines, accounts, currency, size
        self.items: queue.Queue = queue.Queue(maxsize=1)
        self.stopped = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._read()
        except BaseException as exc:  # noqa: BLE001 - handed to the writer, which raises it
            self.error = exc
            self._put(("end", 0, None))

    def _read(self) -> None:
        for item in _items(self.lines, self.accounts, self.currency, self.size, self):
            if not self._put(item):
                return

    def _put(self, item) -> bool:
        while not self.stopped.is_set():
            try:
                self.items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self):
        while True:
            kind, read, payload = self.items.get()
            if kind == "end":
                if self.error is not None:
                    raise self.error
                yield kind, read, payload
                return
            yield kind, read, payload

    def stop(self) -> None:
        self.stopped.set()
        if self.ident is not None:  # (a thread that never started has nothing to end)
            self.join()


def _read_ahead(engine: str) -> str:
    """The reader for ``engine``: a process (``"process"``) where this platform can fork one safely,
    else ``READ_ALONE``'s. The reader process is Linux's: elsewhere ``fork`` is missing, or forking
    a process that has loaded what this one has is not safe (macOS's system libraries, which
    Python's own ``multiprocessing`` no longer forks with)."""
    if hasattr(os, "fork") and sys.platform.startswith("linux"):
        return "process"
    return READ_ALONE.get(engine, "inline")


class _Batch(list):
    """A batch's ``(line number, Draft)`` pairs, with their drafts' sums (``bulk.tally``) as the
    forked reader adds them up on its core, for ``bulk.write``."""

    months: dict[tuple, int] | None = None


class _Forked(_Counting):
    """``_items`` in a process of its own, one item ahead of the writer.

    The process is a fork of this one, made once the accounts are read: it has them, the open
    file and the modules without reading or importing anything again, and only the pages it
    writes are its own (``import_bench.py`` prints the pair's summed RSS and PSS). It reads the
    lines, checks them and sends each item, pickled, through a pipe; it blocks while the pipe
    holds one, so it stays one batch ahead, and it exits (``os._exit``: none of this process's
    clean-up, its connections and files are this one's) when it has sent the last, or when the
    writer has gone — its next send then fails (a writer killed at any point leaves no reader
    behind for long). It touches no database: everything it sends is an ``_items`` item, written
    only by this process's writer.

    An error raised while reading (the file, say) is sent and raised here; a reader that ends
    without its last item (killed) is an ``OSError`` here, after the batches before it are
    written and committed."""

    def __init__(self, lines: Iterable[str], accounts: bulk.Accounts, currency: str, size: int):
        self.lines, self.accounts, self.currency, self.size = lines, accounts, currency, size
        self.pid: int | None = None
        self.pipe = None
        self.done = False  # the last item received: the reader is exiting of itself

    def start(self) -> None:
        from multiprocessing.connection import Pipe  # (imported here: only SQLite's import needs it)

        receive, send = Pipe(duplex=False)
        pid = os.fork()
        if pid == 0:  # the reader
            status = 1
            try:
                receive.close()
                # Not the command's output: its own (a warning, say) goes nowhere, and whoever
                # reads the command's output to its end does not wait for this process.
                quiet = os.open(os.devnull, os.O_WRONLY)
                os.dup2(quiet, 1)
                os.dup2(quiet, 2)
                status = self._send_items(send)
            finally:
                os._exit(status)
        send.close()
        self.pid, self.pipe = pid, receive

    def _send_items(self, send) -> int:
        """Send ``_items``' items (the reader's side). A batch is read and pickled ``CHUNK`` lines
        at a time (or a divisor of ``size`` that is not: a batch has ``size`` lines, as the other
        readers make it), and sent once it has ``size`` lines (or the next item is not a batch): as a
        header saying how many pickled chunks follow, with the batch's sums for the maintained
        tables (``bulk.tally``, added up here so that the writer need not), then the chunks — so the reader holds a
        batch as its bytes, a third of the memory of its drafts."""
        dumps, protocol = pickle.dumps, pickle.HIGHEST_PROTOCOL
        chunks: list[bytes] = []
        read = lines = 0
        months: dict[tuple, int] = defaultdict(int)

        def flush() -> None:
            nonlocal chunks, read, lines, months
            send.send_bytes(dumps((self.take_bytes(), "batch", read, len(chunks), dict(months)), protocol))
            for chunk in chunks:
                send.send_bytes(chunk)
            chunks, read, lines, months = [], 0, 0, defaultdict(int)

        try:
            for kind, n, payload in _items(self.lines, self.accounts, self.currency, math.gcd(CHUNK, self.size), self):
                if kind == "batch":
                    bulk.tally((d for _lineno, d in payload), months)  # here, on the other core
                    chunks.append(dumps(payload, protocol))
                    read, lines = read + n, lines + len(payload)
                    payload.clear()  # (the drafts go now: ``_items`` holds the list until it reads on)
                    if lines >= self.size:
                        flush()
                    continue
                if chunks:
                    flush()
                send.send_bytes(dumps((self.take_bytes(), kind, n, payload, None), protocol))
            return 0
        except (BrokenPipeError, ConnectionResetError):
            return 1  # the writer has gone
        except BaseException as exc:  # noqa: BLE001 - the writer raises it
            try:
                message = dumps((0, "error", 0, exc, None), protocol)
            except Exception:  # noqa: BLE001 - an error that does not pickle goes as its text
                message = dumps((0, "error", 0, RuntimeError(f"the import's reader failed: {exc!r}"), None), protocol)
            try:
                send.send_bytes(message)
            except OSError:
                pass
            return 1

    def _receive(self):
        # Bandit B301 silenced: the bytes come from this process's own fork, through an
        # anonymous pipe between the two, never from outside.
        try:
            return pickle.loads(self.pipe.recv_bytes())  # nosec B301
        except (EOFError, OSError):
            raise OSError(f"the import's reader process ended before the file did ({self._ended()}); "
                          "the batches before it are written: run the import again to go on") from None

    def __iter__(self):
        while True:
            read_bytes, kind, read, payload, months = self._receive()
            self.bytes += read_bytes
            if kind == "error":
                raise payload
            if kind == "batch":
                payload = _Batch(line for _ in range(payload) for line in self._receive())
                payload.months = months
            self.done = kind == "end"
            yield kind, read, payload
            if self.done:
                return

    def _ended(self) -> str:
        """How the reader ended, once it has."""
        if self.pid is None:
            return "not started"
        _pid, status = os.waitpid(self.pid, 0)
        self.pid = None
        if os.WIFSIGNALED(status):
            return f"killed by signal {os.WTERMSIG(status)}"
        return f"exit status {os.waitstatus_to_exitcode(status)}"

    def stop(self) -> None:
        """Reap the reader: waited for when it has sent its last item, else ended at once (the
        writer stopped early; it holds nothing another process needs)."""
        if self.pipe is not None:
            self.pipe.close()
            self.pipe = None
        if self.pid is not None:
            pid, self.pid = self.pid, None
            try:
                if not self.done:
                    os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ChildProcessError, ProcessLookupError):
                pass


_READERS = {"inline": _Inline, "thread": _Reader, "process": _Forked}


@dataclass
class _KeyLookup:
    """Whether the next batch's keys are looked up in the ledger before it is written.

    A fresh import's keys are new: looking up every batch's 5,000 keys before writing them is a
    round trip and as many index probes, about 5 % of a PostgreSQL import, that find nothing. So
    a batch whose lookup found none sends the next one straight to the write, and the entries'
    unique key (``uq_entry_idempotency_key``) refuses a key the ledger has: that batch is rolled
    back and written again with its keys looked up, and the lookups go on until a batch finds
    none — an import run again after a crash looks up the batches it wrote before, and stops
    looking where the new ones begin. Only an import that commits its own batches (the CLI) skips
    a lookup: a batch in the caller's transaction cannot be rolled back alone."""

    look: bool = True


def _key_taken(exc: BaseException) -> bool:
    """Whether ``exc`` (the driver's, or SQLAlchemy's around it) is an entry's idempotency key the
    ledger already has: PostgreSQL's unique violation on that key, SQLite's on that column."""
    error = getattr(exc, "orig", None) or exc
    if getattr(error, "sqlstate", None) == "23505":
        return getattr(getattr(error, "diag", None), "constraint_name", None) == "uq_entry_idempotency_key"
    return "UNIQUE constraint failed: entry.idempotency_key" in str(error)


def _write_batch(session: Session, batch: list[tuple[int, bulk.Draft]], result: ImportResult,
                 accounts: bulk.Accounts, commit: bool, keys: _KeyLookup) -> None:
    """Write a batch of checked lines through ``bulk.write``, skipping known keys (looked up first
    or found by the write: ``_KeyLookup``); a batch it declines goes line by line through
    ``_post_slowly``, which names the first bad line.

    When it commits (the CLI), the batch is its own transaction (``bulk.batch_transaction``: on
    SQLite, with the connection's per-row foreign-key checks set aside for it and the batch's
    references checked set-wise instead); what the session read before the first batch (the
    accounts, the books) is committed first, which only ends its read."""
    if commit and session.in_transaction():
        session.commit()
    look = keys.look or not commit
    while True:
        try:
            if commit:
                with bulk.batch_transaction(session):
                    todo, known = _write_new(session, batch, accounts, look)
            else:
                todo, known = _write_new(session, batch, accounts, look)
            break
        except (ValidationError, Conflict):
            session.rollback()
            _post_slowly(session, [(lineno, accounts.spec(d)) for lineno, d in batch], result, commit)
            return
        except Exception as exc:
            if look or not _key_taken(exc):
                raise
            session.rollback()  # (rolled back already: the batch's transaction ended with the error)
            look = True
    keys.look = known
    result.skipped += len(batch) - len(todo)
    result.imported += len(todo)
    result.postings += sum(len(d.legs) for d in todo)


def _write_new(session: Session, batch: list[tuple[int, bulk.Draft]], accounts: bulk.Accounts,
               look: bool) -> tuple[list[bulk.Draft], bool]:
    """``bulk.write`` the batch's drafts whose keys the ledger (when ``look``: looked up first)
    and the batch before them lack; returns them, and whether the lookup found a key."""
    existing = _existing(session, [d.key for _, d in batch]) if look else set()
    todo, seen = [], set()
    for _lineno, d in batch:
        if d.key not in existing and d.key not in seen:
            seen.add(d.key)
            todo.append(d)
    # The reader's sums are the batch's: of every draft, when none was skipped.
    months = getattr(batch, "months", None) if len(todo) == len(batch) else None
    bulk.write(session, todo, accounts, months)
    return todo, bool(existing)


def _existing(session: Session, keys: list[str]) -> set[str]:
    """Which of ``keys`` the ledger has, straight to the driver (SQLAlchemy would compile an ``IN``
    of thousands of parameters each time): on PostgreSQL one query, the keys one array
    parameter; on SQLite one query per ``KEYS_PER_QUERY`` keys.

    PostgreSQL looks each key up in the unique index, whatever the statistics say: asked as
    ``idempotency_key = ANY(keys)``, the planner scanned the whole entry table once per batch
    (its estimate of thousands of index probes beat the scan of a table it thought small), a
    cost that grows with the ledger — an import quadratic in its size. ``OFFSET 0`` keeps the
    lateral subquery a subquery, so it runs once per key, as an index probe. The keys go as one
    text, a line each (a key holds no line break: ``text_problem``), which the server splits:
    psycopg writes a list of 5,000 strings as an array in about 5 ms of Python, the join in 0.05."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        return {key for (key,) in conn.exec_driver_sql(
            "SELECT e.idempotency_key FROM unnest(string_to_array(%s, E'\\n')) AS k(key) CROSS JOIN LATERAL "
            "(SELECT idempotency_key FROM entry WHERE idempotency_key = k.key OFFSET 0) AS e", ("\n".join(keys),))}
    found: set[str] = set()
    for start in range(0, len(keys), KEYS_PER_QUERY):
        chunk = keys[start:start + KEYS_PER_QUERY]
        # Bandit B608 silenced: the statement is a constant and a run of "?" marks; keys are bound.
        rows = conn.exec_driver_sql(
            f"SELECT idempotency_key FROM entry WHERE idempotency_key IN ({','.join('?' * len(chunk))})",  # nosec B608
            tuple(chunk))
        found.update(key for (key,) in rows)
    return found


def _post_slowly(session: Session, batch: list[tuple[int, EntrySpec]], result: ImportResult, commit: bool) -> None:
    """Post ``batch`` through ``service.post_entries``, skipping known keys; on a refusal, write the
    good entries before the first bad one and raise its error, naming its line."""
    keys = [spec.idempotency_key for _, spec in batch]
    existing = _existing(session, keys)
    todo, seen = [], set()
    for lineno, spec in batch:
        if spec.idempotency_key in existing or spec.idempotency_key in seen:
            result.skipped += 1
            continue
        seen.add(spec.idempotency_key)
        todo.append((lineno, spec))
    try:
        post_entries(session, [spec for _, spec in todo])
    except ValidationError:
        session.rollback()
        # Find the first bad line: write the good ones before it, then report it.
        for n, (lineno, spec) in enumerate(todo):
            try:
                post_entries(session, [spec])
            except ValidationError as exc:
                session.rollback()
                if n:
                    post_entries(session, [s for _, s in todo[:n]])
                    result.imported += n
                    result.postings += sum(len(s.legs) for _, s in todo[:n])
                    if commit:
                        session.commit()
                raise ValidationError(f"line {lineno}: {exc.detail}",
                                      {f"line {lineno}.{k}": v for k, v in exc.errors.items()}) from exc
            session.rollback()
        raise
    result.imported += len(todo)
    result.postings += sum(len(s.legs) for _, s in todo)
    if commit:
        session.commit()
