"""``ledger import FILE.jsonl``: a streaming, resumable bulk import of journal entries.

One JSON object a line: ``{"key", "date", "memo", "postings": [{"account", "amount", "commodity"}]}``.
- ``key`` is the entry's idempotency key: a line whose key is already in the ledger is skipped, so
  re-running an import after a crash writes only what is missing.
- Lines are read one at a time and written in batches (one transaction each, through the posting
  service's bulk path), so memory stays flat whatever the file's size.
- A bad line stops the import: the lines before it are committed, nothing of that line is written,
  and the error names its line number and field.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.core.entries import Leg
from ledger.core.errors import Conflict, ValidationError
from ledger.core.money import D, MoneyError
from ledger.core.text import fits, text_problem
from ledger.journal import bulk
from ledger.journal.models import Entry
from ledger.journal.service import EntrySpec, post_entries

#: Entries per transaction on the bulk path: each committed batch is kept if the import dies later
#: (a re-run skips its keys), and a batch's rows are what the import holds in memory.
BATCH = 20_000
KEYS_PER_QUERY = 5_000
#: Bytes read between two calls of ``progress``.
PROGRESS_EVERY = 1 << 20
#: ``json.loads`` without its wrapper: a line that does not start with the object is the slow path's.
_scan = json.JSONDecoder().scan_once


@dataclass
class ImportResult:
    read: int = 0
    imported: int = 0
    skipped: int = 0
    postings: int = 0


def parse_line(text: str, lineno: int, currency: str) -> EntrySpec:
    """One JSONL line → an ``EntrySpec``; ``ValidationError`` naming ``line N: field``."""
    def bad(field: str, message: str) -> ValidationError:
        return ValidationError(f"line {lineno}: {field}: {message}", {f"line {lineno}.{field}": [message]})

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
            legs.append(Leg(account, D(amount), commodity))
        except MoneyError as exc:
            raise bad(f"postings[{i}].amount", str(exc)) from exc
    return EntrySpec(day, memo, legs, "import", key, idempotency_key=key)


def _amount(text: str, n: int) -> int | None:
    """``"12.50"`` as minor units of a commodity with ``n`` places, or None for anything else
    (``D`` and ``check_places`` then answer: a stray space, ``"1.500"``, ``"1e3"``, ``"١٠"``...):
    ASCII digits, an optional leading minus and at most ``n`` decimals, as ``D`` reads them."""
    whole, dot, frac = text.partition(".")
    digits = whole[1:] if whole[:1] == "-" else whole
    if not (digits.isascii() and digits.isdigit()) or len(frac) > n:
        return None
    if dot and not (frac.isascii() and frac.isdigit()):
        return None
    minor = int(digits + frac) * 10 ** (n - len(frac)) if frac else int(digits) * 10 ** n
    return -minor if len(digits) < len(whole) else minor


def fast_line(text: str, accounts: bulk.Accounts, currency: str, days: dict[str, dt.date]) -> bulk.Draft | None:
    """``parse_line`` and the posting service's checks at once, for the common line: the entry
    ready for ``bulk.write``, or None when anything is unusual — the slow path (``parse_line``,
    ``post_entries``) then takes the line, and answers its error if it has one."""
    try:
        obj, end = _scan(text, 0)
    except (StopIteration, ValueError):
        return None
    if type(obj) is not dict or (end < len(text) and not text[end:].isspace()):
        return None
    key, date, memo, postings = obj.get("key"), obj.get("date"), obj.get("memo", ""), obj.get("postings")
    if text_problem(key, max_length=200) is not None or text_problem(memo, max_length=500, min_length=0) is not None:
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
        minor = None if n is None else _amount(amount, n)
        if minor is None:
            return None
        legs.append((account, commodity, minor))
    return bulk.draft(key, day, memo, legs, accounts)


def import_lines(session: Session, lines: Iterable[str], currency: str,
                 progress: Callable[[int], None] | None = None, commit: bool = True) -> ImportResult:
    """Import ``lines``; commits each batch when ``commit`` (the CLI), else leaves it to the caller.

    Lines ``fast_line`` takes are written ``BATCH`` at a time by ``bulk.write``; any other line is
    posted alone through ``service.post_entries`` (after the batch before it), which answers a bad
    line's error. A batch the bulk path declines (a date in a closed period...) goes through
    ``post_entries`` too, to find and name its first bad line."""
    result = ImportResult()
    accounts = bulk.Accounts(session, currency)
    days: dict[str, dt.date] = {}
    batch: list[tuple[int, str, bulk.Draft]] = []
    read = 0

    def flush():
        if not batch:
            return
        existing = _existing(session, [d.key for _, _, d in batch])
        todo, seen = [], set()
        for _lineno, _text, d in batch:
            if d.key in existing or d.key in seen:
                result.skipped += 1
                continue
            seen.add(d.key)
            todo.append(d)
        try:
            bulk.write(session, todo)
        except (ValidationError, Conflict):
            session.rollback()
            result.skipped -= len(batch) - len(todo)
            specs = [(lineno, parse_line(text, lineno, currency)) for lineno, text, _ in batch]
            batch.clear()
            _post_slowly(session, specs, result, commit)
            return
        result.imported += len(todo)
        result.postings += sum(len(d.legs) for d in todo)
        if commit:
            session.commit()
        batch.clear()

    for lineno, text in enumerate(lines, start=1):
        read += len(text)
        if progress and read >= PROGRESS_EVERY:
            progress(read)
            read = 0
        if not text.strip():
            continue
        result.read += 1
        d = fast_line(text, accounts, currency, days)
        if d is not None:
            batch.append((lineno, text, d))
            if len(batch) >= BATCH:
                flush()
            continue
        flush()  # the good lines before it are kept
        _post_slowly(session, [(lineno, parse_line(text, lineno, currency))], result, commit)
    flush()
    if progress and read:
        progress(read)
    return result


def _existing(session: Session, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), KEYS_PER_QUERY):
        chunk = keys[start:start + KEYS_PER_QUERY]
        found.update(session.scalars(select(Entry.idempotency_key).where(Entry.idempotency_key.in_(chunk))))
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
