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
from ledger.core.errors import ValidationError
from ledger.core.money import D, MoneyError
from ledger.core.text import fits, text_problem
from ledger.journal.models import Entry
from ledger.journal.service import EntrySpec, post_entries

BATCH = 2000


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


def import_lines(session: Session, lines: Iterable[str], currency: str,
                 progress: Callable[[int], None] | None = None, commit: bool = True) -> ImportResult:
    """Import ``lines``; commits each batch when ``commit`` (the CLI), else leaves it to the caller."""
    result = ImportResult()
    batch: list[tuple[int, EntrySpec]] = []

    def flush():
        if not batch:
            return
        keys = [spec.idempotency_key for _, spec in batch]
        existing = set(session.scalars(select(Entry.idempotency_key).where(Entry.idempotency_key.in_(keys))))
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
        batch.clear()

    for lineno, text in enumerate(lines, start=1):
        if progress:
            progress(len(text))
        if not text.strip():
            continue
        result.read += 1
        try:
            spec = parse_line(text, lineno, currency)
        except ValidationError:
            flush()  # the good lines before it are kept
            raise
        batch.append((lineno, spec))
        if len(batch) >= BATCH:
            flush()
    flush()
    return result
