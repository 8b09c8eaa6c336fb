"""Reading the whole journal in step: entries by id, each with its rows from other streams.

``verify`` and the exports read every entry with its postings (and ``verify`` its detail lines)
from separate cursors, each ordered by entry id, and walk them in step: memory stays flat however
many postings the ledger holds. ``group_by_entry`` is that walk, written once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any


def group_by_entry(entries: Iterable[Sequence[Any]], *streams: Iterable[Sequence[Any]],
                   orphan: Callable[[int, Sequence[Any]], None] = lambda _stream, _row: None,
                   ) -> Iterator[tuple[Any, ...]]:
    """Yield ``(entry, rows of stream 0, rows of stream 1, …)`` for each entry row, in order.

    Every row's first column is an entry id, and every input is sorted by it. A stream row whose
    entry does not exist (its id is skipped by ``entries``) is passed to ``orphan(stream index,
    row)`` — which the database's deferred foreign key forbids, and ``verify`` reports."""
    iterators = [iter(s) for s in streams]
    pending = [next(it, None) for it in iterators]
    for entry in entries:
        entry_id = entry[0]
        groups = []
        for i, it in enumerate(iterators):
            row = pending[i]
            while row is not None and row[0] < entry_id:
                orphan(i, row)
                row = next(it, None)
            group = []
            while row is not None and row[0] == entry_id:
                group.append(row)
                row = next(it, None)
            pending[i] = row
            groups.append(group)
        yield (entry, *groups)
    for i, it in enumerate(iterators):
        row = pending[i]
        while row is not None:
            orphan(i, row)
            row = next(it, None)
