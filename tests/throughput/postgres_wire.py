"""A loopback proxy in front of PostgreSQL that counts the SQL statements and round trips its clients send.

The counts are read from the wire (PostgreSQL's frontend/backend protocol, "Message Flow" and "Message Formats" in
the PostgreSQL documentation), so nothing in the service is wrapped or changed: point a DSN at the proxy
(`WireCounter.dsn`) and every statement of every connection through it is seen.

- A simple query (`Q`) is one round trip; each of its `;`-separated statements counts (asyncpg's connection reset is
  one `Q` of four statements).
- The extended protocol: `Parse` names a statement's text, `Bind` + `Execute` runs it (one statement each `Execute`),
  and `Sync` ends a round trip (a prepare on a cold statement cache is a round trip that runs no statement).

Counts are per statement text, whitespace collapsed, so a report can say where the statements come from. The proxy
answers an SSL or GSS encryption request with "no" itself, so the rest of the conversation is plain and readable
(loopback only). Used by tests/throughput/test_statement_counts.py and bench/service_benchmark.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import struct
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit, urlunsplit

__all__ = ["WireCounter", "WireCounts", "counting_proxy", "statement_sources"]

_SSL_REQUEST: Final = 80877103
_GSS_REQUEST: Final = 80877104
_CANCEL_REQUEST: Final = 80877102
_SPACES: Final = re.compile(r"\s+")
# Where a statement comes from, by what it names (the first match wins).
_SOURCES: Final = (
    ("attempt functions", re.compile(r"moqui_stripe_\w+_attempt", re.IGNORECASE)),
    ("payment lease", re.compile(r"\bSTRIPE_PAYMENT_LEASE\b", re.IGNORECASE)),
    # The standalone client's one read (standalone_reads.py) names the journal too, in a subquery.
    ("Mantle tables (standalone client)", re.compile(r"^WITH attempts AS \(SELECT count\(\*\)", re.IGNORECASE)),
    ("journal", re.compile(r"\bSTRIPE_GATEWAY_OPERATION\b", re.IGNORECASE)),
    (
        "Mantle tables (standalone client)",
        re.compile(r"\b(PAYMENT|PAYMENT_METHOD|PAYMENT_GATEWAY_RESPONSE|STRIPE_CUSTOMER)\b"),
    ),
    ("PaymentIntent link", re.compile(r"\bSTRIPE_PAYMENT_INTENT\b", re.IGNORECASE)),
    ("refund row", re.compile(r"\bSTRIPE_REFUND\b", re.IGNORECASE)),
    ("rate-limit bucket", re.compile(r"\bSTRIPE_RATE_BUCKET\b", re.IGNORECASE)),
    (
        "Idempotency-Key",
        re.compile(r"\bSTRIPE_IDEMPOTENT_REQUEST\b|advisory_(try_)?lock\(\$1\)|advisory_unlock\(\$1\)"),
    ),
    ("gateway settings", re.compile(r"\bSTRIPE_GATEWAY_SETTINGS\b", re.IGNORECASE)),
    ("installation id", re.compile(r"\bSTRIPE_INSTALLATION\b", re.IGNORECASE)),
    ("sequence bank", re.compile(r"\bSEQUENCE_VALUE_ITEM\b", re.IGNORECASE)),
    ("connection reset", re.compile(r"^(SELECT pg_advisory_unlock_all\(\)|CLOSE ALL|UNLISTEN \*|RESET ALL)$")),
    ("liveness", re.compile(r"advisory_lock\(\$1, \$2\)|^SELECT 1$")),
    ("transaction", re.compile(r"^(BEGIN|COMMIT|ROLLBACK)", re.IGNORECASE)),
)


def _text(raw: str) -> str:
    return _SPACES.sub(" ", raw).strip()


@dataclass
class WireCounts:
    """What clients sent: round trips and statements executed (per statement text)."""

    round_trips: int = 0
    statements: Counter[str] = field(default_factory=Counter)

    @property
    def statement_count(self) -> int:
        """Statements executed in all."""
        return sum(self.statements.values())

    def since(self, earlier: WireCounts) -> WireCounts:
        """What was sent after `earlier` (a copy taken before)."""
        return WireCounts(self.round_trips - earlier.round_trips, self.statements - earlier.statements)

    def copy(self) -> WireCounts:
        """A snapshot."""
        return WireCounts(self.round_trips, Counter(self.statements))


def statement_sources(counts: WireCounts) -> dict[str, int]:
    """The statements of `counts` by source and kind ("journal: INSERT"), most frequent first."""
    sources: Counter[str] = Counter()
    for text, count in counts.statements.items():
        label = next((name for name, pattern in _SOURCES if pattern.search(text)), "other")
        sources[f"{label}: {text.split(' ', 1)[0].upper()}"] += count
    return dict(sources.most_common())


class _Session:
    """One client connection's frontend messages, parsed as they pass."""

    def __init__(self, counts: WireCounts) -> None:
        self._counts = counts
        self._buffer = b""
        self._started = False
        self._prepared: dict[str, str] = {}
        self._bound: str | None = None

    def feed(self, data: bytes) -> bytes | None:
        """Account for `data`; a reply to send the client ourselves (the answer to an encryption request)."""
        self._buffer += data
        reply = b""
        while True:
            if not self._started:
                if len(self._buffer) < 8:
                    break
                (length,) = struct.unpack("!i", self._buffer[:4])
                if len(self._buffer) < length:
                    break
                (code,) = struct.unpack("!i", self._buffer[4:8])
                self._buffer = self._buffer[length:]
                if code in (_SSL_REQUEST, _GSS_REQUEST):
                    reply += b"N"
                elif code != _CANCEL_REQUEST:
                    self._started = True
                continue
            if len(self._buffer) < 5:
                break
            kind = self._buffer[:1]
            (length,) = struct.unpack("!i", self._buffer[1:5])
            if len(self._buffer) < 1 + length:
                break
            body, self._buffer = self._buffer[5 : 1 + length], self._buffer[1 + length :]
            self._message(kind, body)
        return reply or None

    def _message(self, kind: bytes, body: bytes) -> None:
        counts = self._counts
        if kind == b"Q":
            counts.round_trips += 1
            for statement in body.rstrip(b"\0").decode().split(";"):
                if statement.strip():
                    counts.statements[_text(statement)] += 1
        elif kind == b"P":
            name, rest = body.split(b"\0", 1)
            query = rest.split(b"\0", 1)[0]
            self._prepared[name.decode()] = _text(query.decode())
        elif kind == b"B":
            _portal, rest = body.split(b"\0", 1)
            self._bound = self._prepared.get(rest.split(b"\0", 1)[0].decode(), "?")
        elif kind == b"E":
            counts.statements[self._bound or "?"] += 1
        elif kind == b"S":
            counts.round_trips += 1


class WireCounter:
    """The proxy's listening address and what passed through it."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self.counts = WireCounts()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    def dsn(self, dsn: str) -> str:
        """`dsn` pointed at this proxy instead of its server."""
        parts = urlsplit(dsn)
        user_info = parts.netloc.rpartition("@")[0]
        netloc = f"{user_info}@127.0.0.1:{self.port}" if user_info else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def snapshot(self) -> WireCounts:
        """The counts so far (a copy)."""
        return self.counts.copy()

    async def start(self) -> None:
        """Listen on a free loopback port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and cut every connection."""
        if self._server is not None:
            self._server.close()
        for pipe in list(self._pipes):
            pipe.cancel()
        for pipe in list(self._pipes):
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await pipe
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            server_reader, server_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            client_writer.close()
            self._pipes.discard(task)
            return
        session = _Session(self.counts)
        try:
            await asyncio.gather(
                self._client_to_server(session, client_reader, client_writer, server_writer),
                self._copy(server_reader, client_writer),
            )
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for writer in (client_writer, server_writer):
                writer.close()
            self._pipes.discard(task)

    @staticmethod
    async def _client_to_server(
        session: _Session,
        reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
        server_writer: asyncio.StreamWriter,
    ) -> None:
        while data := await reader.read(65536):
            reply = session.feed(data)
            if reply is not None:
                # An encryption request is answered here; nothing of it goes on to the server.
                client_writer.write(reply)
                await client_writer.drain()
                continue
            server_writer.write(data)
            await server_writer.drain()
        server_writer.close()

    @staticmethod
    async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()


@asynccontextmanager
async def counting_proxy(dsn: str) -> AsyncIterator[WireCounter]:
    """A WireCounter in front of the server `dsn` names, for as long as the block runs."""
    parts = urlsplit(dsn)
    counter = WireCounter(parts.hostname or "127.0.0.1", parts.port or 5432)
    await counter.start()
    try:
        yield counter
    finally:
        await counter.stop()
