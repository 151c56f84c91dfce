"""EntityFacade: find, create, update and delete Moqui entity records with asyncpg and parameterised SQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Final

import asyncpg

from moqui_bridge.entity import sql
from moqui_bridge.entity.connection import DEFAULT_ACQUIRE_TIMEOUT, Connection, Pool, acquire
from moqui_bridge.entity.definition import LAST_UPDATED_STAMP, EntityDefinition
from moqui_bridge.entity.errors import EntityError, EntityValueError, PoolExhaustedError
from moqui_bridge.entity.registry import EntityRegistry
from moqui_bridge.entity.sequence import SequenceBanks
from moqui_bridge.entity.values import from_database, to_python

Record = dict[str, Any]

# The kinds of admitted work the current task (and the tasks it starts) already runs inside.
_ADMITTED_KINDS: ContextVar[frozenset[str]] = ContextVar("moqui_bridge_admitted_kinds", default=frozenset())


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# The share of the pool each kind of admitted operation may hold at once. An admitted operation holds a connection
# while it may take one more (a Mantle rule write unit's transaction, and a sequence-bank refill under it), so no
# admitted operation can starve only if all the shares together stay below the whole pool. With the default pool of
# 20 and the callers' connection counts (Mantle rule write unit 2): rule 10 // 2 = 5 slots (10 connections), leaving
# 10 for what is not admitted: health checks, plain reads and writes, sequence-bank refills, the idempotent-request
# journal, and every lease holder's database steps. Lease holders (gateway operations, Mantle rule calls between their
# write units, the checkout page, the webhooks, the recovery page, the SaaS example's renewals: service/row_lease.py)
# hold no connection between their steps, and a step holds a second one only for a sequence-bank refill (once per
# bank), so they need no admission: they cannot starve the pool. A pool too small for a kind still gets one slot; the
# acquire timeout then turns starvation into an error.
ADMISSION_SHARES: Final[Mapping[str, float]] = {
    "mantle-rule": 0.5,
}


def _affected_rows(status: str) -> int:
    # asyncpg returns the command tag, e.g. "UPDATE 1" or "DELETE 0".
    return int(status.rsplit(" ", 1)[-1])


class EntityFacade:
    """Moqui-shaped data access: records are dicts keyed by Moqui field names with Python values.

    Every method takes ``connection=`` to run inside a transaction from :meth:`transaction`; without it the
    operation runs on its own pooled connection (auto-commit).
    """

    def __init__(
        self,
        pool: Pool,
        registry: EntityRegistry,
        *,
        sequence_banks: SequenceBanks | None = None,
        acquire_timeout: float = DEFAULT_ACQUIRE_TIMEOUT,
    ) -> None:
        if acquire_timeout <= 0:
            raise ValueError("acquire_timeout must be positive")
        self._pool = pool
        self._registry = registry
        self._acquire_timeout = acquire_timeout
        self._sequences = (
            sequence_banks if sequence_banks is not None else SequenceBanks(pool, acquire_timeout=acquire_timeout)
        )
        self._admissions: dict[str, asyncio.Semaphore] = {}

    @property
    def registry(self) -> EntityRegistry:
        """The entity definitions this facade knows."""
        return self._registry

    @property
    def pool(self) -> Pool:
        """The asyncpg pool the facade runs on."""
        return self._pool

    def admission(self, kind: str, connections_per_operation: int) -> AbstractAsyncContextManager[None]:
        """A slot among those bounding how many operations of one kind run at once, so they cannot exhaust the pool.

        An operation that holds a pooled connection (say, its lock's transaction) while it takes more deadlocks
        once every connection is held by operations each waiting for one more. Each kind gets its share of the pool
        (``ADMISSION_SHARES``) divided by the connections one operation holds at once, so every admitted operation
        finds the connections it needs and some stay free for work that is not admitted. Work of a kind nested in
        an operation already admitted for that kind runs in its caller's slot: taking a second one could wait
        forever for a slot its own caller holds.
        """
        share = ADMISSION_SHARES.get(kind)
        if share is None:
            raise EntityError(f"no pool share for operations of kind {kind!r}; add one to ADMISSION_SHARES")
        semaphore = self._admissions.get(kind)
        if semaphore is None:
            slots = max(1, int(self._pool.get_max_size() * share) // connections_per_operation)
            semaphore = self._admissions[kind] = asyncio.Semaphore(slots)
        return self._admitted(kind, semaphore)

    @asynccontextmanager
    async def _admitted(self, kind: str, semaphore: asyncio.Semaphore) -> AsyncIterator[None]:
        held = _ADMITTED_KINDS.get()
        if kind in held:
            yield
            return
        try:
            async with asyncio.timeout(self._acquire_timeout):
                await semaphore.acquire()
        except TimeoutError:
            raise PoolExhaustedError(
                f"no {kind} slot became free in {self._acquire_timeout:g} s (pool of {self._pool.get_max_size()})"
            ) from None
        token = _ADMITTED_KINDS.set(held | {kind})
        try:
            yield
        finally:
            _ADMITTED_KINDS.reset(token)
            semaphore.release()

    def definition(self, entity_name: str) -> EntityDefinition:
        """The definition of an entity by full or short name (UnknownEntityError otherwise)."""
        return self._registry.get(entity_name)

    @asynccontextmanager
    async def transaction(self, connection: Connection | None = None) -> AsyncIterator[Connection]:
        """A transaction on a pooled connection, committed on success and rolled back on error.

        Given an existing ``connection`` it runs on that one instead: a savepoint when the connection is already in a
        transaction, else a top-level transaction of its own.
        """
        if connection is not None:
            async with connection.transaction():
                yield connection
            return
        async with self._acquire() as acquired, acquired.transaction():
            yield acquired

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A pooled connection outside any transaction: each statement on it commits on its own.

        For a unit of work that runs many statements (and perhaps transactions) one after another, so it takes a
        connection from the pool once instead of once per statement (each release resets the connection, which is
        a round trip of its own).
        """
        async with self._acquire() as acquired:
            yield acquired

    def using(self, connection: Connection | None) -> AbstractAsyncContextManager[Connection]:
        """``connection`` (a caller's open transaction), or else a pooled connection for the block: for statements of
        our own that run wherever the facade's methods given ``connection=`` would."""
        return self._use(connection)

    def _acquire(self) -> AbstractAsyncContextManager[Connection]:
        # Every connection the facade takes waits at most the acquire timeout: an exhausted pool is an error.
        return acquire(self._pool, self._acquire_timeout)

    @asynccontextmanager
    async def _use(self, connection: Connection | None) -> AsyncIterator[Connection]:
        if connection is not None:
            yield connection
            return
        async with self._acquire() as acquired:
            yield acquired

    def _record(self, definition: EntityDefinition, row: asyncpg.Record) -> Record:
        return {f.name: from_database(f, row[i]) for i, f in enumerate(definition.fields)}

    def _primary_key(self, definition: EntityDefinition, primary_key: Mapping[str, Any]) -> dict[str, Any]:
        for name in primary_key:
            definition.field(name)  # unknown names are an UnknownFieldError, not "missing PK"
        expected = set(definition.pk_field_names)
        given = {name for name, value in primary_key.items() if value is not None}
        if given != expected or len(primary_key) != len(expected):
            raise EntityValueError(
                f"Primary key of {definition.full_name} is {sorted(expected)}, got {dict(primary_key)!r}"
            )
        return {name: to_python(definition.field(name), primary_key[name]) for name in definition.pk_field_names}

    def _checked_values(self, definition: EntityDefinition, values: Mapping[str, Any]) -> dict[str, Any]:
        checked: dict[str, Any] = {}
        for name, value in values.items():
            field_definition = definition.field(name)
            if field_definition.encrypt and value is not None:
                # Moqui encrypts these with its own key; a plain value written here would be unreadable to Moqui.
                raise EntityValueError(f"Field {name} of {definition.full_name} is encrypted by Moqui; not stored here")
            checked[name] = to_python(field_definition, value)
        return checked

    async def find_one(
        self, entity_name: str, conditions: Mapping[str, Any], *, connection: Connection | None = None
    ) -> Record | None:
        """The single record matching the equality conditions (usually the primary key), or None.

        More than one match is an error, as in Moqui's ``EntityFind.one()``.
        """
        definition = self.definition(entity_name)
        if not conditions:
            raise EntityValueError(f"find_one on {definition.full_name} needs conditions")
        rows = await self.find(entity_name, conditions, limit=2, connection=connection)
        if len(rows) > 1:
            raise EntityError(f"find_one on {definition.full_name} with {dict(conditions)!r} matched several records")
        return rows[0] if rows else None

    async def find_one_with(
        self,
        entity_name: str,
        conditions: Mapping[str, Any],
        joins: Sequence[sql.Join],
        *,
        alias: str,
        connection: Connection | None = None,
    ) -> dict[str, Record | None] | None:
        """The record matching ``conditions`` and, in the same query, one related record per join; None if none.

        Like a Moqui view-entity with outer joins, for work that needs several related records and would otherwise
        pay a round trip for each. The answer maps ``alias`` and each join's alias to its record, None for a join
        that matched nothing. Every join must match at most one row (join on a whole primary key); equality
        conditions only, none of them None.
        """
        definition = self.definition(entity_name)
        if not conditions or any(value is None for value in conditions.values()):
            raise EntityValueError(f"find_one_with on {definition.full_name} needs conditions with values")
        joined = [(join, self.definition(join.entity_name)) for join in joins]
        statement = sql.select_joined((alias, definition), conditions, joined, limit=2)
        async with self._use(connection) as active:
            rows = await active.fetch(statement.text, *statement.parameters)
        if len(rows) > 1:
            raise EntityError(f"find_one_with on {definition.full_name} with {dict(conditions)!r} matched several rows")
        if not rows:
            return None
        row = tuple(rows[0])
        found: dict[str, Record | None] = {
            alias: {f.name: from_database(f, row[i]) for i, f in enumerate(definition.fields)}
        }
        offset = len(definition.fields)
        for join, join_definition in joined:
            width = len(join_definition.fields)
            values = row[offset : offset + width]
            offset += width
            # An outer join that matched nothing gives nulls throughout, primary key included.
            pk_positions = [i for i, f in enumerate(join_definition.fields) if f.is_pk]
            if all(values[i] is None for i in pk_positions):
                found[join.alias] = None
            else:
                found[join.alias] = {f.name: from_database(f, values[i]) for i, f in enumerate(join_definition.fields)}
        return found

    async def find(
        self,
        entity_name: str,
        conditions: Mapping[str, Any] | None = None,
        *,
        order_by: Sequence[str] = (),
        limit: int | None = None,
        offset: int | None = None,
        connection: Connection | None = None,
    ) -> list[Record]:
        """Records matching all conditions: a value means ``=``, None means ``IS NULL``, a list/tuple/set ``IN``.

        ``order_by`` takes field names, ``-field`` for descending as in Moqui.
        """
        if isinstance(order_by, str):
            order_by = [order_by]
        definition = self.definition(entity_name)
        statement = sql.select(definition, conditions or {}, order_by=order_by, limit=limit, offset=offset)
        async with self._use(connection) as active:
            rows = await active.fetch(statement.text, *statement.parameters)
        return [self._record(definition, row) for row in rows]

    async def create(
        self, entity_name: str, values: Mapping[str, Any], *, connection: Connection | None = None
    ) -> Record:
        """Insert a record and return it complete (all fields, None where unset).

        A missing single primary key is filled from the entity's sequence; field defaults are applied to
        fields not given; ``lastUpdatedStamp`` is always set to now.
        """
        definition = self.definition(entity_name)
        checked = self._checked_values(definition, values)
        missing_pk = [name for name in definition.pk_field_names if checked.get(name) is None]
        if missing_pk:
            if len(definition.pk_field_names) != 1:
                raise EntityValueError(f"create {definition.full_name}: primary key fields {missing_pk} are missing")
            checked[missing_pk[0]] = await self._sequences.next_id(definition.full_name)
        for field_definition in definition.fields:
            if field_definition.default_value is not None and checked.get(field_definition.name) is None:
                checked[field_definition.name] = field_definition.default_value
        if definition.has_update_stamp:
            checked[LAST_UPDATED_STAMP] = _now()
        statement = sql.insert(definition, checked)
        async with self._use(connection) as active:
            await active.execute(statement.text, *statement.parameters)
        return {name: checked.get(name) for name in definition.field_names}

    async def store(
        self, entity_name: str, values: Mapping[str, Any], *, connection: Connection | None = None
    ) -> Record:
        """Create the record, or update the given fields of the existing record with the same primary key.

        Like Moqui's ``store``: the full primary key is required; fields not given keep their stored values.
        Returns the values written (the given fields, converted, plus ``lastUpdatedStamp``).
        """
        definition = self.definition(entity_name)
        checked = self._checked_values(definition, values)
        self._primary_key(definition, {name: checked.get(name) for name in definition.pk_field_names})
        if definition.has_update_stamp:
            checked[LAST_UPDATED_STAMP] = _now()
        statement = sql.upsert(definition, checked)
        async with self._use(connection) as active:
            await active.execute(statement.text, *statement.parameters)
        return checked

    async def create_or_update(
        self,
        entity_name: str,
        values: Mapping[str, Any],
        *,
        update: Sequence[str],
        connection: Connection | None = None,
    ) -> bool:
        """Create the record, or bring the ``update`` fields of the existing one up to date, in one statement.

        The full primary key is required. A new record gets every given field (and literal defaults for the rest,
        as in :meth:`create`); an existing one takes only the ``update`` fields and is left untouched (its
        ``lastUpdatedStamp`` too) when they already hold these values. One round trip instead of a read and a
        write, and race-free: the conflict is decided by the primary key's unique index. True when a row was
        inserted or changed.
        """
        definition = self.definition(entity_name)
        checked = self._checked_values(definition, values)
        self._primary_key(definition, {name: checked.get(name) for name in definition.pk_field_names})
        for name in update:
            if name not in checked:
                raise EntityValueError(f"create_or_update {definition.full_name}: {name} is to be updated, not given")
        for field_definition in definition.fields:
            if field_definition.default_value is not None and checked.get(field_definition.name) is None:
                checked[field_definition.name] = field_definition.default_value
        update_names = list(update)
        if definition.has_update_stamp:
            checked[LAST_UPDATED_STAMP] = _now()
            update_names.append(LAST_UPDATED_STAMP)
        statement = sql.upsert(definition, checked, update_names=update_names, only_if_changed=True)
        async with self._use(connection) as active:
            status = await active.execute(statement.text, *statement.parameters)
        return _affected_rows(status) > 0

    async def update(
        self,
        entity_name: str,
        primary_key: Mapping[str, Any],
        values: Mapping[str, Any],
        *,
        connection: Connection | None = None,
    ) -> bool:
        """Update fields of the record with this primary key; False when there is no such record."""
        definition = self.definition(entity_name)
        key = self._primary_key(definition, primary_key)
        checked = self._checked_values(definition, values)
        for name in definition.pk_field_names:
            if name in checked and checked.pop(name) != key[name]:
                raise EntityValueError(f"update {definition.full_name}: primary key field {name} cannot change")
        if definition.has_update_stamp:
            checked[LAST_UPDATED_STAMP] = _now()
        if not checked:
            return await self.find_one(entity_name, key, connection=connection) is not None
        statement = sql.update(definition, key, checked)
        async with self._use(connection) as active:
            status = await active.execute(statement.text, *statement.parameters)
        return _affected_rows(status) > 0

    async def delete(
        self, entity_name: str, primary_key: Mapping[str, Any], *, connection: Connection | None = None
    ) -> bool:
        """Delete the record with this primary key; False when there was none."""
        definition = self.definition(entity_name)
        statement = sql.delete(definition, self._primary_key(definition, primary_key))
        async with self._use(connection) as active:
            status = await active.execute(statement.text, *statement.parameters)
        return _affected_rows(status) > 0

    async def sequenced_id(self, entity_name: str) -> str:
        """The next primary-key id for an entity from Moqui's sequence (named by the full entity name)."""
        return await self._sequences.next_id(self.definition(entity_name).full_name)
