"""The dedicated appender (PostgreSQL): one process appends every local writer's entries, each
batch in one ``ledger_append`` call and one commit.

``group.post_grouped``'s writers, when an appender serves their database (``attach``), do not
call the database themselves: each validates its entry from the cached facts and builds its
``ledger_append`` arguments as before (``append.call_args``), then sends them over a Unix socket
to the appender and waits for its answer. The appender reads every request that has arrived,
concatenates them in arrival order into one call (the chain's one total order; entry numbers
shifted, accounts merged, the batch stamped with its latest writer's time) and sends it as one
autocommit statement. A request alone commits without waiting for the WAL flush, so the chain
is free for the next writer at once; a second thread then waits for one flush past every batch
committed so far (``append.FLUSHED``) and only then answers their writers: ``ok`` and each one's
entry id, on disk. A batch of two or more, writers queueing, commits synchronously and is
answered as soon as its call returns (``durable``). A call is sent without waiting for it
(``wire.Statement.send``): while the server runs it the appender answers the batch before and
reads the requests arriving, which make the next batch, sent the moment the answer is in. A batch
is as large as the writers waiting, one round trip and one chain lock for all of them, and the
server does no queueing at all (the in-database queue of
``ledger_post`` costs each writer a call, a turn and a wake-up: ``docs/performance.md``,
"Twenty-fourth pass").

When the batch's call does not answer ``ok`` — a writer's cached facts stale, a period closed,
a key used twice, a sum past BIGINT — nothing was written, and each request is appended again
alone, getting its own answer: ``ok``, a refusal (``stale``, ``closed``, ``periods``: its writer
posts again from fresh reads, as ``post_grouped`` always did) or ``error`` with the database's
SQLSTATE and message. A writer's answer is its own whichever way its entry went.

Crash safety is the database's: a batch is one transaction. A writer killed after sending leaves
a request that is appended and never answered; the appender killed mid-batch leaves that batch
committed or not at all, its writers answered with an error (the socket closed: ``Lost``) and
nothing acknowledged lost. A lost database connection during a call answers that batch's
writers ``Lost`` too (the commit's fate unknown; a keyed entry's retry finds its entry) and the
appender connects again for the next.

The wire: a frame is a 4-byte big-endian length and a ``marshal`` payload (a local socket between
processes of one installation: the same Python on both ends). ``marshal`` is not for data from
strangers, so each end checks with the kernel that the other runs as the same user
(``same_user``) before it reads a byte, and the socket is made readable by its owner alone. A
request is ``ledger_append``'s arguments as ``call_args`` builds them, dates and times in ISO
8601; an answer is ``(status, entry_id, detail)``. A request that is not is answered ``error``
(``_checked``), and a frame longer than ``MAX_FRAME`` closes its connection.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import marshal
import os
import selectors
import socket
import struct
import threading
import time
import weakref
from collections.abc import Callable, Sequence

import psycopg
import sqlalchemy as sa

from ledger.journal import wire
from ledger.journal.append import array_literal
from ledger.journal.models import APPEND_PARAMS

_FRAME = struct.Struct(">I")
#: At most this many entries in one call; the rest wait for the next batch.
BATCH = 256
#: The flushing thread, with nothing to flush, wakes at most this often (seconds) to look for
#: sessions holding a transaction open (``Appender.warn``).
IDLE_LOOK = 0.5
#: A frame longer than this is not a writer's request: its connection is closed.
MAX_FRAME = 64 << 20

_NAMES = [n for n, _k, _a in APPEND_PARAMS]
_E_DATE, _E_CREATED = _NAMES.index("e_date"), _NAMES.index("e_created")
_P_ENTRY, _D_ENTRY = _NAMES.index("p_entry"), _NAMES.index("d_entry")
_A_ID, _A_NAME = _NAMES.index("a_id"), _NAMES.index("a_name")
_FIRST, _LAST = _NAMES.index("first_period"), _NAMES.index("last_period")
_CONCATENATED = [i for i, (_n, _k, a) in enumerate(APPEND_PARAMS)
                 if a and i not in (_P_ENTRY, _D_ENTRY, _A_ID, _A_NAME)]

# ``ledger_append`` with ``refuse`` and ``checked`` false: a refusal is an answer, and the writers'
# cached facts are checked by the call itself (step 1).
# Bandit B608 silenced: the types are constants (models.APPEND_PARAMS); every value is a parameter.
_ARGS = ", ".join(f"%s::{k}[]" if a else f"%s::{k}" for _n, k, a in APPEND_PARAMS)
_CALL = wire.Statement(f"SELECT o_status, o_first_id FROM ledger_append({_ARGS}, false, false)")  # nosec B608
#: The same call committed synchronously (the connection's commits are not): answered once it returns.
_CALL_DURABLE = wire.Statement(
    f"SELECT a.o_status, a.o_first_id FROM ledger_append({_ARGS}, false, false) a "  # nosec B608
    "CROSS JOIN (SELECT set_config('synchronous_commit', 'on', true)) s")
#: A batch of at least this many requests commits synchronously (``_CALL_DURABLE``): see ``durable``.
DURABLE_FROM = 2


def durable(batch_size: int) -> bool:
    """Whether a batch of ``batch_size`` requests is committed synchronously and answered as soon
    as its call returns, rather than committed at once and answered after the flushing thread's
    flush. A lone request means no writer is waiting: its early release lets the next writer's call
    run during its flush. Two or more mean writers queue: waiting for the flush in the call (one
    fsync, 0.09 ms on the 2026-12-05 machine) costs less than a flush of its own — a transaction,
    a round trip and a thread's hand-off — and the writers arriving meanwhile make the next batch
    larger (docs/performance.md, twenty-sixth pass)."""
    return batch_size >= DURABLE_FROM


def _call(batch_size: int) -> wire.Statement:
    """The statement a batch of ``batch_size`` requests is appended with (``durable``)."""
    return _CALL_DURABLE if durable(batch_size) else _CALL


#: The sessions of this database but the appender's own (the first ``%s``) whose open transaction
#: holds back the vacuum (a snapshot's ``backend_xmin``) and began more than ``%s`` seconds ago,
#: the oldest first: each one's pid, who (its application's name, else its user), its state,
#: seconds open and when it began. Another role's sessions are seen when the appender's role may
#: read every session's statistics (``pg_read_all_stats``).
_HOLDERS = wire.Statement(
    "SELECT pid, coalesce(nullif(application_name, ''), usename), state, "
    "floor(extract(epoch FROM now() - xact_start))::bigint, xact_start "
    "FROM pg_stat_activity WHERE datname = current_database() AND backend_xmin IS NOT NULL "
    "AND pid <> ALL (%s::integer[]) AND xact_start < now() - make_interval(secs => %s::double precision) "
    "ORDER BY xact_start")


def holder_warning(pid: int, who: str, state: str, seconds: int) -> str:
    """What the appender says of a session that has held a transaction open for ``seconds``."""
    return (f"session {pid} ({who}, {state}) has held a transaction open for {seconds} s: every append "
            f"walks past the row versions it keeps until it ends (docs/operations.md, "
            f"'Sessions that hold back the vacuum')")


class AlreadyServed(RuntimeError):
    """Another appender answers at the socket's path."""


class Lost(ConnectionError):
    """The appender or its database went away before answering: the entry may be written or not
    (a keyed entry's retry answers which)."""


# ---------------------------------------------------------------------------------------------
# The writer's side


_PEER = struct.Struct("3i")  # SO_PEERCRED's ucred: pid, uid, gid


def same_user(sock: socket.socket) -> bool:
    """Whether the process at the socket's other end runs as this process's user (the kernel's
    word, ``SO_PEERCRED``): the wire's ``marshal`` is read only from such a peer, which could do
    anything this user can anyway."""
    _pid, uid, _gid = _PEER.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEER.size))
    return uid == os.getuid()


def _send(sock: socket.socket, payload: object) -> None:
    data = marshal.dumps(payload)
    sock.sendall(_FRAME.pack(len(data)) + data)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(left)
        if not chunk:
            raise Lost("the appender closed the connection before answering")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def request_of(args: Sequence) -> list:
    """``ledger_append``'s arguments as ``append.call_args`` builds them, as the wire carries them:
    dates and the time in ISO 8601, everything else as it is."""
    request = list(args)
    request[_E_DATE] = [d.isoformat() for d in request[_E_DATE]]
    request[_E_CREATED] = request[_E_CREATED].isoformat()
    return request


class Client:
    """One writer's connection to the appender at ``path`` (a thread's own)."""

    def __init__(self, path: str):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(path)
        except OSError as exc:
            self.sock.close()
            raise Lost(f"no appender answers at {path}: {exc}") from exc
        if not same_user(self.sock):  # another user's socket at the path: never read what it sends
            self.sock.close()
            raise Lost(f"the socket at {path} is served by another user")

    def call(self, args: Sequence) -> tuple[str, int | None, str | None]:
        """Send one request (``ledger_append``'s arguments, as ``call_args`` builds them) and wait
        for its answer."""
        try:
            _send(self.sock, request_of(args))
            (size,) = _FRAME.unpack(_recv_exactly(self.sock, _FRAME.size))
            # Bandit B302 silenced: the peer is this user's own appender (``same_user``).
            status, entry_id, detail = marshal.loads(_recv_exactly(self.sock, size))  # nosec B302
        except OSError as exc:
            self.close()
            raise exc if isinstance(exc, Lost) else Lost(f"the appender's connection failed: {exc}") from exc
        return status, entry_id, detail

    def close(self) -> None:
        self.sock.close()

    __del__ = close  # a thread's client goes with the thread


_paths: weakref.WeakKeyDictionary[sa.Engine, str] = weakref.WeakKeyDictionary()
_clients = threading.local()


def attach(engine: sa.Engine, path: str | None) -> None:
    """Post ``engine``'s grouped entries through the appender at ``path`` (``None``: directly)."""
    if path is None:
        _paths.pop(engine, None)
    else:
        _paths[engine] = path


def client_for(engine: sa.Engine) -> Client | None:
    """This thread's connection to the appender serving ``engine``, or ``None`` when none is
    attached; ``Lost`` when one is attached but does not answer (nothing was sent)."""
    path = _paths.get(engine)
    if path is None:
        return None
    clients = getattr(_clients, "by_path", None)
    if clients is None:
        clients = _clients.by_path = {}
    client = clients.get(path)
    if client is None or client.sock.fileno() < 0:
        client = clients[path] = Client(path)
    return client


# ---------------------------------------------------------------------------------------------
# The appender's side


def merged(requests: Sequence[Sequence]) -> list:
    """One ``ledger_append`` call's arguments for ``requests`` in order: arrays concatenated,
    each request's entry numbers shifted past the entries before it, the accounts' ids and names
    merged, the periods' span widened and the batch stamped with its latest writer's time."""
    out: list = [None] * len(APPEND_PARAMS)
    for i in _CONCATENATED:
        out[i] = [v for r in requests for v in r[i]]
    p_entry, d_entry, accounts = [], [], {}
    shift = 0
    for r in requests:
        p_entry.extend(n + shift for n in r[_P_ENTRY])
        d_entry.extend(n + shift for n in r[_D_ENTRY])
        accounts.update(zip(r[_A_ID], r[_A_NAME], strict=True))
        shift += len(r[_E_DATE])
    out[_P_ENTRY], out[_D_ENTRY] = p_entry, d_entry
    out[_A_ID], out[_A_NAME] = list(accounts), list(accounts.values())
    out[_E_CREATED] = max((r[_E_CREATED] for r in requests), key=dt.datetime.fromisoformat)
    out[_FIRST] = min(r[_FIRST] for r in requests)
    out[_LAST] = max(r[_LAST] for r in requests)
    return out


#: What a request that is not ``ledger_append``'s arguments raises on its way to the call.
_MALFORMED = (TypeError, ValueError, IndexError, KeyError, AttributeError)


def _checked(request) -> list:
    """``request`` when it has the shape of ``ledger_append``'s arguments (a list of them: arrays
    where the call takes arrays), else ``ValueError``."""
    if type(request) is not list or len(request) != len(APPEND_PARAMS) or any(
            (type(v) is list) != a for v, (_n, _k, a) in zip(request, APPEND_PARAMS, strict=True)):
        raise ValueError("not ledger_append's arguments")
    return request


def _texts(args: Sequence) -> list:
    return [array_literal(v) if type(v) is list else v for v in args]


def _error(exc: psycopg.Error) -> str:
    return f"{exc.sqlstate or ''}: {exc}".strip()


class Appender:
    """Serves the socket at ``path`` for the database ``dsn`` (a libpq connection string or URL)
    until ``stop`` is set. ``connect`` opens a database connection (psycopg's, autocommit).

    Two threads, two connections. The appending thread reads the writers' requests and appends
    each batch. A batch of one commits without waiting for the flush (``synchronous_commit`` off on
    its connection), so the chain is free for the next batch at once, and goes to the flushing
    thread, which waits for the WAL flush past every commit handed to it (one ``append.FLUSHED``:
    a synchronous commit of its own, after theirs) and only then answers their writers; batches
    are appended during the previous ones' flush, and one flush covers every batch committed
    before it. A larger batch commits synchronously and its writers are answered at once
    (``durable``). Either way an answered entry is on disk. The appending thread watches its
    connection's socket with the writers': a call is sent (``_start``) and its answer read
    (``_finish``) when it is in, the next batch's call sent before the last one's writers are
    answered; a connection that ends is replaced, and the new one's socket watched.

    ``warn``, when given, is told (``holder_warning``) of each session of the database that has
    held a transaction open for more than ``held_after`` seconds, once a transaction: such a
    session keeps every version of the rows each append updates in place, and the append path
    slows down the longer it stays (docs/performance.md, twenty-fifth pass). The flushing thread
    looks after a flush, or when idle, at most every ``min(held_after, 30)`` seconds."""

    def __init__(self, dsn: str, path: str, connect: Callable[[str], psycopg.Connection] | None = None,
                 warn: Callable[[str], None] | None = None, held_after: float = 60.0):
        self.dsn, self.path = dsn, path
        self.warn, self.held_after = warn, held_after
        self._next_look = 0.0
        self._told: set[tuple[bytes, bytes]] = set()  # the transactions told of, still open at the last look
        self.connect = connect or (lambda d: psycopg.connect(d, autocommit=True, client_encoding="UTF8"))
        self.conn: psycopg.Connection | None = None
        self.stop = threading.Event()
        self.batches = self.entries = self.flushes = 0  # what it has done, for its operator
        self._connections = 0  # appending connections opened: a new one's socket is watched
        self._flushing: list[tuple[list, list]] = []
        self._wake = threading.Condition()

    def serve(self, ready: Callable[[], None] | None = None) -> None:
        if os.path.exists(self.path):
            try:
                Client(self.path).close()
            except Lost:
                os.unlink(self.path)  # a dead appender's socket
            else:
                raise AlreadyServed(f"an appender already serves {self.path}")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.path)
        os.chmod(self.path, 0o600)  # this user's writers only
        listener.listen(128)
        listener.setblocking(False)
        sel = selectors.DefaultSelector()
        sel.register(listener, selectors.EVENT_READ)
        buffers: dict[socket.socket, bytearray] = {}
        pending: list[tuple[socket.socket, list]] = []
        self.conn = self._appending_connection()
        db_fd, connections = self.conn.pgconn.socket, self._connections
        sel.register(db_fd, selectors.EVENT_READ, "db")

        def watch_connection() -> None:
            """After a new appending connection, watch its socket (at once: the old one's number
            may be a writer's next)."""
            nonlocal db_fd, connections
            if connections != self._connections:
                sel.unregister(db_fd)
                db_fd, connections = self.conn.pgconn.socket, self._connections
                sel.register(db_fd, selectors.EVENT_READ, "db")
        in_flight: list | None = None  # the batch whose call the server is running
        flusher = threading.Thread(target=self._flush_loop, name="ledger-appender-flush", daemon=True)
        flusher.start()
        if ready:
            ready()
        try:
            while not self.stop.is_set():
                done = None
                for key, _mask in sel.select(0 if pending and in_flight is None else 0.2):
                    sock = key.fileobj
                    if key.data == "db":  # the call's answer, or the connection's end
                        try:
                            if self._answer_in() and in_flight is not None:
                                done, in_flight = in_flight, None
                        except psycopg.OperationalError:
                            self._reconnect()
                            watch_connection()
                            if in_flight is not None:
                                _lost(sock for sock, _r in in_flight)
                                in_flight = None
                        continue
                    if sock is listener:
                        for conn in _accepted(listener):  # every writer waiting: their requests batch together
                            conn.setblocking(True)
                            sel.register(conn, selectors.EVENT_READ)
                            buffers[conn] = bytearray()
                        continue
                    try:
                        data = sock.recv(1 << 16)
                    except OSError:
                        data = b""
                    if not data:  # the writer went away; a request it sent is still appended
                        sel.unregister(sock)
                        del buffers[sock]
                        sock.close()
                        continue
                    buffers[sock] += data
                    requests, too_long = _frames(buffers[sock])
                    pending.extend((sock, request) for request in requests)
                    if too_long:
                        _lost([sock])  # not a writer of this version: its EOF closes it
                answers = None if done is None else self._finish([r for _s, r in done], sent=True)
                # The next batch's call goes before this one's answers: the server works while
                # the appender answers and reads.
                while pending and in_flight is None:
                    batch, pending = pending[:BATCH], pending[BATCH:]
                    try:
                        sent = self._start([r for _s, r in batch])
                    except psycopg.OperationalError:
                        self._reconnect()
                        _lost(sock for sock, _r in batch)
                        continue
                    if sent:
                        in_flight = batch
                    else:  # a malformed request: each alone, now
                        self._answer(batch, self._finish([r for _s, r in batch], sent=False))
                if done is not None:
                    self._answer(done, answers)
                watch_connection()
        finally:
            with self._wake:
                self._wake.notify()
            flusher.join()
            sel.close()
            for sock in buffers:
                sock.close()
            listener.close()
            if os.path.exists(self.path):
                os.unlink(self.path)
            if self.conn is not None:
                self.conn.close()

    def _appending_connection(self) -> psycopg.Connection:
        self._connections += 1
        conn = self.connect(self.dsn)
        conn.execute("SET synchronous_commit = off")  # the flushing thread waits for the flush
        return conn

    def _append(self, requests: list[list]) -> list[tuple] | None:
        """Each request's answer, or ``None`` when the database connection was lost (the batch's
        fate unknown): ``_start`` and ``_finish`` in one, as ``serve`` runs them around its work."""
        try:
            sent = self._start(requests)
        except psycopg.OperationalError:
            return self._reconnect()
        return self._finish(requests, sent)

    def _start(self, requests: list[list]) -> bool:
        """Send the call of ``requests`` as one batch without waiting for it (``_finish`` reads
        its answer); ``False`` when one is not ``ledger_append``'s arguments (nothing sent).
        ``OperationalError`` when the connection is lost."""
        self.batches += 1
        try:
            _call(len(requests)).send(self.conn, _texts(merged(requests)))
        except _MALFORMED:
            return False
        return True

    def _answer_in(self) -> bool:
        """Whether the call sent has its answer in (reading what has arrived, without waiting);
        ``OperationalError`` when the connection is lost."""
        self.conn.pgconn.consume_input()
        return not self.conn.pgconn.is_busy()

    def _finish(self, requests: list[list], sent: bool) -> list[tuple] | None:
        """Each request's answer once the batch's call (``sent``) has answered: when it did not
        answer ``ok``, nothing was written and each is appended again alone, with its own answer.
        ``None`` when the database connection was lost (the batch's fate unknown)."""
        call = _call(len(requests))
        status = b"error"
        if sent:
            try:
                status, first_id = wire.answer(self.conn)
            except psycopg.OperationalError:
                return self._reconnect()
            except psycopg.Error:
                pass
        if status == b"ok":
            first = int(first_id)
            self.entries += len(requests)
            return [("ok", first + n, None) for n in range(len(requests))]
        answers = []
        for request in requests:  # nothing was written: each alone, with its own answer
            try:
                status, first_id = call.one(self.conn, _texts(_checked(request)))
            except psycopg.OperationalError:
                return self._reconnect()
            except psycopg.Error as exc:
                answers.append(("error", None, _error(exc)))
                continue
            except _MALFORMED:
                answers.append(("error", None, "malformed request: not ledger_append's arguments"))
                continue
            answers.append((status.decode(), wire.as_int(first_id), None))
            self.entries += status == b"ok"
        return answers

    def _answer(self, batch: list[tuple[socket.socket, list]], answers: list[tuple] | None) -> None:
        """Answer ``batch``'s writers: lost (``None``), at once when the batch was committed
        durably, else after the flushing thread's flush."""
        if answers is None:
            _lost(sock for sock, _r in batch)
        elif durable(len(batch)):  # on disk already
            for (sock, _r), answer in zip(batch, answers, strict=True):
                with contextlib.suppress(OSError):  # a writer gone away: its entry stands
                    _send(sock, answer)
        else:
            with self._wake:
                self._flushing.append(([sock for sock, _r in batch], answers))
                self._wake.notify()

    def _reconnect(self) -> None:
        try:
            self.conn.close()
        finally:
            self.conn = self._appending_connection()

    def _flush_loop(self) -> None:
        conn = None
        while True:
            with self._wake:
                while not self._flushing and not self.stop.is_set():
                    if not self._wake.wait(self._until_look()):
                        break  # time to look for sessions holding a transaction open
                handed, self._flushing = self._flushing, []
            if not handed and self.stop.is_set():
                break  # stopped, and nothing left to answer
            try:
                if conn is None:
                    conn = self.connect(self.dsn)
                if handed:
                    wire.FLUSHED.rows(conn, ())
                    self.flushes += 1
            except psycopg.Error:
                if conn is not None:
                    conn.close()
                conn = None
                for socks, _answers in handed:
                    _lost(socks)
                if not handed:  # the look's connection failed: the next look in its time
                    self._look_later()
                continue
            for socks, answers in handed:
                for sock, answer in zip(socks, answers, strict=True):
                    with contextlib.suppress(OSError):  # a writer gone away: its entry stands
                        _send(sock, answer)
            try:
                self._look_for_holders(conn)
            except psycopg.Error:  # the next flush connects again
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def _until_look(self) -> float | None:
        """How long the flushing thread, idle, waits before it looks for sessions holding a
        transaction open (``None``: it never looks); at least ``IDLE_LOOK`` seconds."""
        return None if self.warn is None else max(IDLE_LOOK, self._next_look - time.monotonic())

    def _look_later(self) -> None:
        """The next look for sessions holding a transaction open: ``held_after`` seconds from now,
        30 at most."""
        self._next_look = time.monotonic() + min(self.held_after, 30.0)

    def _look_for_holders(self, conn: psycopg.Connection) -> None:
        """``warn`` of each session newly found holding a transaction open past ``held_after``."""
        if self.warn is None or time.monotonic() < self._next_look:
            return
        self._look_later()
        found = {}
        own = [conn.info.backend_pid] + ([self.conn.info.backend_pid] if self.conn is not None else [])
        for pid, who, state, seconds, began in _HOLDERS.rows(conn, (own, self.held_after)):
            found[(pid, began)] = holder_warning(int(pid), (who or b"?").decode(), (state or b"?").decode(),
                                                 int(seconds))
        for key, message in found.items():
            if key not in self._told:
                with contextlib.suppress(OSError, ValueError):  # its stream closed: the appender serves on
                    self.warn(message)
        self._told = set(found)


def _frames(buf: bytearray) -> tuple[list, bool]:
    """The requests whole in ``buf``, taken out of it (one that is not ``marshal`` as ``None``,
    answered as malformed by ``_append``); and whether the next frame is too long to be a request
    (``MAX_FRAME``)."""
    requests = []
    while len(buf) >= _FRAME.size:
        (size,) = _FRAME.unpack_from(buf)
        if size > MAX_FRAME:
            return requests, True
        if len(buf) < _FRAME.size + size:
            break
        try:
            # Bandit B302 silenced: every peer is this user's own (``same_user``).
            requests.append(marshal.loads(bytes(buf[_FRAME.size:_FRAME.size + size])))  # nosec B302
        except (EOFError, ValueError, TypeError):
            requests.append(None)
        del buf[:_FRAME.size + size]
    return requests, False


def _accepted(listener: socket.socket) -> list[socket.socket]:
    """Every connection waiting at ``listener`` (non-blocking) from this user's processes: only
    theirs are read (``marshal``); another's is closed."""
    accepted = []
    while True:
        try:
            conn, _addr = listener.accept()
        except (BlockingIOError, InterruptedError):
            return accepted
        if same_user(conn):
            accepted.append(conn)
        else:
            conn.close()


def _lost(socks) -> None:
    """Tell each writer its answer is lost (the appending thread closes the socket on its EOF)."""
    for sock in socks:
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)
