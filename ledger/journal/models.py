"""The double-entry journal: the books' settings, periods, accounts, entries, postings, the hash chain head.

Invariants (each enforced by the database itself, see the first migration, and re-checked by
``ledger verify``):
- ``Entry``: immutable once written; balanced per commodity (its postings sum to zero for each
  commodity); carries ``hash = sha256(prev_hash ‖ canonical entry)``; ``id`` is its position in the
  chain. ``reverses_id`` is unique, so an entry is reversed at most once.
- ``Posting``: immutable; a signed amount (debit positive, credit negative) of one commodity on one
  account. Postings are written before their entry ("sealed" by it): the entry's insert checks the
  balance, and no posting may join an entry that already exists.
- ``PostingDetail``: a posting's breakdown by engagement (a close's capital postings), sealed by
  its entry like the postings, immutable, and covered by the entry's hash.
- ``ChainHead``: one row, the last ``(seq, hash)``; writers lock it (``FOR UPDATE`` on PostgreSQL, the
  database write lock on SQLite), so the chain cannot fork. On PostgreSQL a writer moves it over
  the entries it numbers before it writes their postings, and entries are numbered without a gap
  (migration 0031).
- ``Books``: one row, what the journal must know of the partnership to keep its books — the
  currency, the period kind and the first day — written once at founding. The journal reads them
  from here, never from the areas built on it.
- ``Period``: ids ``2026-01`` (month) or ``2026-Q1`` (quarter); they sort as strings in time order.
  A period is ``open`` until closed, periods close strictly in order, and nothing may be posted
  into a closed one (``periods.guard_dates``).

On PostgreSQL the keys of the postings and the entry's reversed entry are not foreign-key
constraints but triggers that check a statement's keys at once (migrations 0029 and 0031,
``KEYS_AS_TRIGGERS``); the models keep them, for the ORM's joins and for SQLite, where they
stay constraints. A posting's entry is found there by the chain head's deferred key to the entry
it was moved over before the postings were written (0031, ``POSTGRESQL_ONLY``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship
from sqlalchemy.orm.util import identity_key

from ledger.db import Amount, Base, BigId

#: The foreign keys PostgreSQL checks by triggers instead of constraints: a posting's account and
#: engagement and an entry's reversed entry once per statement (migration 0029), a posting's entry
#: by the chain head: no posting beyond it, and its key to the entry at the commit (0031).
KEYS_AS_TRIGGERS = frozenset({"fk_posting_account_id_account", "fk_posting_engagement_id_engagement",
                              "fk_entry_reverses_id_entry", "fk_posting_entry_id_entry"})

#: PostgreSQL's own columns and keys, not the models': the chain head's entry (``nullif(seq, 0)``)
#: and its deferred key to ``entry``, which finds at the commit the entry the head was moved over
#: before its postings were written (migration 0031).
POSTGRESQL_ONLY = frozenset({("chain_head", "entry_id"), ("chain_head", "fk_chain_head_entry_id_entry")})


def schema_compared(dialect: str):
    """An Alembic ``include_object`` for comparing the models with a database of ``dialect``: on
    PostgreSQL it leaves out the keys ``KEYS_AS_TRIGGERS`` (there they are triggers) and the
    columns and keys ``POSTGRESQL_ONLY``."""
    def include(obj, name, type_, reflected, compare_to) -> bool:
        if dialect != "postgresql":
            return True
        table = getattr(getattr(obj, "table", None), "name", None)
        return not ((type_ == "foreign_key_constraint" and name in KEYS_AS_TRIGGERS)
                    or (table, name) in POSTGRESQL_ONLY)
    return include


class Books(Base):
    """What the journal keeps of the partnership: its currency, its period kind and its first day.
    One row (``id = 1``), written by the founding and never changed."""

    __tablename__ = "books"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    currency: Mapped[str] = mapped_column(sa.String(3))
    #: ``month`` or ``quarter``.
    period_kind: Mapped[str] = mapped_column(sa.String(10))
    starts_on: Mapped[dt.date]


class Period(Base):
    """A period of the books; ``status`` is ``open`` until its close, which records the policy
    version it applied."""

    __tablename__ = "period"

    id: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    starts_on: Mapped[dt.date]
    ends_on: Mapped[dt.date]
    #: ``open`` or ``closed``.
    status: Mapped[str] = mapped_column(sa.String(8), default="open")
    closed_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    policy_version: Mapped[int | None]
    #: How the close split the pool: the policy's basis, or ``equal`` when nobody held vested units.
    pool_basis: Mapped[str | None] = mapped_column(sa.String(16))


class Account(Base):
    """An account of the chart, by Beancount-style name, with the commodities it may hold."""

    __tablename__ = "account"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    #: Comma-separated commodity codes (``"USD"``, ``"UNITS"``, ``"USD,UNITS"``).
    commodities: Mapped[str] = mapped_column(sa.String(100))
    opened_on: Mapped[dt.date]
    #: The last day a posting may be dated on this account (a retiree's capital after their
    #: effective period), or None: a later-dated posting is refused (``Conflict``).
    closed_after: Mapped[dt.date | None]

    @property
    def commodity_list(self) -> list[str]:
        return [c for c in self.commodities.split(",") if c]


class Entry(Base):
    """A balanced journal entry. ``id`` is the chain position (1, 2, …), assigned under the lock."""

    __tablename__ = "entry"

    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    date: Mapped[dt.date] = mapped_column(index=True)
    memo: Mapped[str] = mapped_column(sa.String(500))
    #: What caused it: ``manual``, ``invoice``, ``cost``, ``payment``, ``overhead``, ``draw``,
    #: ``close``, ``vesting``, ``charter``, ``proposal``, ``import``, ``reversal``…
    source_type: Mapped[str] = mapped_column(sa.String(32))
    #: The cause's own id (an engagement ref, a period id, a proposal id), or empty.
    source_ref: Mapped[str] = mapped_column(sa.String(200), default="")
    #: The sharing policy version a close applied, when it is a close.
    policy_version: Mapped[int | None]
    reverses_id: Mapped[int | None] = mapped_column(sa.ForeignKey("entry.id"), unique=True)
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(200), unique=True)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    #: Not indexed: unique by construction (it hashes the entry's id), checked by ``verify``, and no
    #: query reads an entry by it; a unique index cost every write a random B-tree insert (0025).
    hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))

    postings: Mapped[list[Posting]] = relationship(
        back_populates="entry", order_by="Posting.id", lazy="selectin"
    )


class Posting(Base):
    """One leg of an entry: a signed amount of one commodity on one account."""

    __tablename__ = "posting"
    # Only the postings that name an engagement (migration 0023): most name none (an import's
    # never do), and every query of the index asks for engagements, which implies NOT NULL.
    __table_args__ = (sa.Index("ix_posting_engagement_id", "engagement_id",
                               postgresql_where=sa.text("engagement_id IS NOT NULL"),
                               sqlite_where=sa.text("engagement_id IS NOT NULL")),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        sa.BigInteger,
        sa.ForeignKey("entry.id", deferrable=True, initially="DEFERRED"),
        index=True,
    )
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id"), index=True)
    commodity: Mapped[str] = mapped_column(sa.String(16))
    amount: Mapped[Amount]
    #: A statement line kind when the posting is on a capital account (``origination``,
    #: ``practice``, ``pool``, ``draw``, ``buyout``, ``goodwill``), else None.
    kind: Mapped[str | None] = mapped_column(sa.String(16))
    #: The engagement the amount belongs to, when it belongs to one.
    engagement_id: Mapped[int | None] = mapped_column(sa.ForeignKey("engagement.id"))

    entry: Mapped[Entry] = relationship(back_populates="postings")
    account: Mapped[Account] = relationship(lazy="joined")


class PostingDetail(Base):
    """A line of a posting's breakdown: how one posting splits over engagements.

    A close credits each partner's capital once per practice and kind (``origination``,
    ``practice``), and breaks that posting down here, one line per engagement — the
    general-ledger / sub-ledger pattern: the journal stays a few dozen postings per close, the
    detail keeps every cent traceable to its engagement, and statements read their lines from it.

    The lines of an entry are part of it: written before it, in the same transaction, and sealed
    by it (the entry's insert refuses lines that do not sum, per account, commodity and kind, to
    its postings; no line can join an entry already written); immutable; and hashed into the
    entry's chain hash (``rules.detail_digest``), so ``verify`` finds a line altered, added or
    removed behind the database's back. No foreign keys on purpose: the seal checks every line
    against its entry's postings in one set-based query, where a per-row foreign-key check would
    cost more than the rest of a 20,000-engagement close."""

    __tablename__ = "posting_detail"
    # WITHOUT ROWID on SQLite: the table is its primary key's B-tree, one fewer to write per line.
    __table_args__ = (sa.Index("ix_posting_detail_account_date", "account_id", "date"),
                      {"sqlite_with_rowid": False})

    entry_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    line_no: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    account_id: Mapped[int]
    #: The entry's date, kept on the line (and checked against it by the seal) so a statement
    #: reads one partner's lines for a range of dates straight off an index, however many years
    #: of closes the ledger holds.
    date: Mapped[dt.date]
    commodity: Mapped[str] = mapped_column(sa.String(16))
    kind: Mapped[str] = mapped_column(sa.String(16))
    engagement_id: Mapped[int | None]
    amount: Mapped[Amount]


class ChainHead(Base):
    """The single row holding the last entry's sequence number and hash."""

    __tablename__ = "chain_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    hash: Mapped[str] = mapped_column(sa.String(64))


def head_moved(session: Session) -> None:
    """The chain head was moved by a statement the ORM did not see (the driver, ``ledger_append``):
    expire the row if the session holds it, so it is read again when next used."""
    head = session.identity_map.get(identity_key(ChainHead, 1))
    if head is not None:
        session.expire(head)


GENESIS_HASH = "0" * 64
ZERO = Decimal(0)


class AccountBalance(Base):
    """The current balance of an account in a commodity, kept in the same transaction as every
    posting (``post_entries``), so a trial balance reads O(accounts) rows, not O(postings)."""

    __tablename__ = "account_balance"

    account_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id"), primary_key=True)
    commodity: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    balance: Mapped[Amount]


class BalanceSnapshot(Base):
    """An account's balance at the end of a closed period. Nothing can be posted into a closed
    period, so a snapshot never goes stale: a balance as of any date is the last snapshot before it
    plus the postings since."""

    __tablename__ = "balance_snapshot"

    period_id: Mapped[str] = mapped_column(sa.ForeignKey("period.id"), primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id"), primary_key=True)
    commodity: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    balance: Mapped[Amount]


class EngagementMonthTotal(Base):
    """What each engagement's postings add up to on an account in a calendar month (``2026-01``),
    kept by the posting service in the same transaction as the postings, like the account
    balances. A close reads its period's engagement margins from here — a few rows per engagement —
    instead of re-joining every invoice and cost posting of the period. Only postings that carry an
    engagement count; ``ledger verify`` recomputes the totals from them."""

    __tablename__ = "engagement_month_total"

    month: Mapped[str] = mapped_column(sa.String(7), primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id"), primary_key=True)
    engagement_id: Mapped[int] = mapped_column(sa.ForeignKey("engagement.id"), primary_key=True)
    commodity: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    balance: Mapped[Amount]


class AccountMonthTotal(Base):
    """What an account's postings add up to in a calendar month (``2026-01``), per commodity, per
    cause (the entry's ``source_type``), per posting ``kind`` (``""`` for none; a subcontract cost's
    leg carries ``subcontract``) and per whether the posting names an engagement (``tagged``). Kept
    by the posting service in the same transaction as the postings, like the account balances, so
    an income statement over any range of periods reads a few rows per account and month instead of
    every posting (``ledger.read.income``); ``ledger verify`` recomputes them from the postings."""

    __tablename__ = "account_month_total"

    month: Mapped[str] = mapped_column(sa.String(7), primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("account.id"), primary_key=True)
    commodity: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    source_type: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    tagged: Mapped[bool] = mapped_column(primary_key=True)
    balance: Mapped[Amount]


#: ``ledger_append``'s parameters but ``refuse`` (migration 0016), in order: (name, SQL type, array?).
APPEND_PARAMS = [
    ("e_date", "date", True), ("e_memo", "text", True), ("e_source_type", "text", True),
    ("e_source_ref", "text", True), ("e_policy", "integer", True), ("e_reverses", "bigint", True),
    ("e_key", "text", True), ("e_head", "text", True), ("e_tail", "text", True),
    ("e_created", "timestamptz", False), ("p_entry", "integer", True), ("p_account", "integer", True),
    ("p_commodity", "text", True), ("p_amount", "bigint", True), ("p_kind", "text", True),
    ("p_engagement", "integer", True), ("d_entry", "integer", True), ("d_line", "integer", True),
    ("d_account", "integer", True), ("d_commodity", "text", True), ("d_kind", "text", True),
    ("d_engagement", "integer", True), ("d_amount", "bigint", True), ("a_id", "integer", True),
    ("a_name", "text", True), ("first_period", "text", False), ("last_period", "text", False)]
_APPEND_TYPES = {"date": sa.Date, "text": sa.Text, "integer": sa.Integer, "bigint": sa.BigInteger,
                 "timestamptz": lambda: sa.DateTime(timezone=True)}


def _append_column(name: str, kind: str, array: bool) -> sa.Column:
    of = _APPEND_TYPES[kind]()
    return sa.Column(name, sa.ARRAY(of).with_variant(sa.Text(), "sqlite") if array else of)


#: The group appender's queue (PostgreSQL, ``group.post_grouped``; migration 0028): one slot a
#: database session (``owner``, its backend's pid), rewritten in place. A writer whose entry must
#: wait writes the arguments of its ``ledger_append`` call into its slot with a new ``ticket`` (the
#: batch's order) and ``pending``; whichever writer next takes the turn appends every pending slot
#: (``ledger_drain_batch``) and writes each answer into it — ``ok`` and the entry's id and hash, a
#: refusal of the writer's cached facts (``stale``, ``closed``, ``periods``: the writer posts again
#: from fresh reads), or ``error`` and the database's message (a key already used) — clearing the
#: arguments. No row is inserted or deleted per request, so the table never waits for a vacuum.
#: A request not appended within 10 s of ``queued_at`` never is (0028's ``EXPIRES``): its writer,
#: if it still waits, is answered ``stale`` and posts again from fresh reads.
#: UNLOGGED on PostgreSQL: a request is only a request — the entry is acknowledged once the batch
#: that appends it commits, so losing the queue in a crash loses nothing acknowledged. Unused on
#: SQLite (one writer at a time).
append_slot = sa.Table("append_slot", Base.metadata,
                       sa.Column("owner", sa.Integer, primary_key=True, autoincrement=False),
                       sa.Column("ticket", sa.BigInteger, nullable=False),
                       sa.Column("pending", sa.Boolean, nullable=False),
                       sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
                       *(_append_column(*p) for p in APPEND_PARAMS),
                       sa.Column("status", sa.String(16)),
                       sa.Column("entry_id", sa.BigInteger),
                       sa.Column("detail", sa.Text))
