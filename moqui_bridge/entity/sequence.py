"""Primary-key ids in banks from Moqui's SEQUENCE_VALUE_ITEM table, taken exactly as Moqui takes them.

Moqui keeps, per sequence name (the full entity name), the last number it has reserved in ``SEQ_NUM``; a new
sequence starts at 100000 and each reservation takes a bank of 50 numbers. Reserving with one atomic
``UPDATE ... SET SEQ_NUM = SEQ_NUM + 50 RETURNING SEQ_NUM`` in its own short transaction means a Moqui instance
(which locks the row with FOR UPDATE for its own reservation) and this service never hand out the same id.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final

from moqui_bridge.entity.connection import DEFAULT_ACQUIRE_TIMEOUT, Connection, Pool, acquire

FIRST_SEQUENCE_VALUE: Final = 100000
DEFAULT_BANK_SIZE: Final = 50

_RESERVE = (
    "UPDATE SEQUENCE_VALUE_ITEM SET SEQ_NUM = COALESCE(SEQ_NUM, $4) + $2, LAST_UPDATED_STAMP = $3"
    " WHERE SEQ_NAME = $1 RETURNING SEQ_NUM"
)
_CREATE = (
    "INSERT INTO SEQUENCE_VALUE_ITEM (SEQ_NAME, SEQ_NUM, LAST_UPDATED_STAMP) VALUES ($1, $2, $3)"
    " ON CONFLICT (SEQ_NAME) DO NOTHING RETURNING SEQ_NUM"
)


class SequenceBanks:
    """Hands out sequenced ids from banks reserved in SEQUENCE_VALUE_ITEM; safe for concurrent tasks."""

    def __init__(
        self, pool: Pool, *, bank_size: int = DEFAULT_BANK_SIZE, acquire_timeout: float = DEFAULT_ACQUIRE_TIMEOUT
    ) -> None:
        if bank_size < 1:
            raise ValueError("bank_size must be at least 1")
        self._pool = pool
        self._acquire_timeout = acquire_timeout
        self._bank_size = bank_size
        # seqName -> [next number to hand out, last number of the bank]
        self._banks: dict[str, list[int]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def next_id(self, sequence_name: str) -> str:
        """The next id of a sequence as Moqui writes it: a decimal string such as ``"100000"``."""
        return str(await self.next_number(sequence_name))

    async def next_number(self, sequence_name: str) -> int:
        """The next number of a sequence, reserving a new bank when the current one is used up."""
        lock = self._locks.setdefault(sequence_name, asyncio.Lock())
        async with lock:
            bank = self._banks.get(sequence_name)
            if bank is None or bank[0] > bank[1]:
                bank = await self._reserve(sequence_name)
                self._banks[sequence_name] = bank
            number = bank[0]
            bank[0] += 1
            return number

    async def _reserve(self, sequence_name: str) -> list[int]:
        # Its own connection and transaction, like Moqui suspending the caller's transaction: the bank stays
        # reserved even if the caller's transaction rolls back, and the row lock is held only for a moment.
        async with acquire(self._pool, self._acquire_timeout) as connection, connection.transaction():
            last = await self._reserve_on(connection, sequence_name)
        return [last - self._bank_size + 1, last]

    async def _reserve_on(self, connection: Connection, sequence_name: str) -> int:
        now = datetime.now(UTC).replace(tzinfo=None)
        size = Decimal(self._bank_size)
        before_first = Decimal(FIRST_SEQUENCE_VALUE - 1)
        last = await connection.fetchval(_RESERVE, sequence_name, size, now, before_first)
        if last is None:
            first_bank_end = Decimal(FIRST_SEQUENCE_VALUE + self._bank_size - 1)
            last = await connection.fetchval(_CREATE, sequence_name, first_bank_end, now)
            if last is None:
                # Another process created the row between our UPDATE and INSERT: now the UPDATE finds it.
                last = await connection.fetchval(_RESERVE, sequence_name, size, now, before_first)
        if last is None:
            raise RuntimeError(f"Could not reserve a sequence bank for {sequence_name}")
        return int(last)
