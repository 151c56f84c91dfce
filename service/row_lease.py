"""Row leases: work on one key (a payment, an order) runs one holder at a time, in any number of processes and hosts,
without holding a database connection while the holder works.

A lease is a row of a lease entity (its primary key is the key; `leaseToken`, `leaseExpires`, `holderKey` say who
holds it until when) taken with one statement (an insert, or an update of an expired row) and given back with
another; in between, the holder calls Stripe or Moqui with no connection checked out. The row expires with the
holder's deadline (plus `LEASE_MARGIN_SECONDS`): the holder stops working at its deadline, so a lease outliving it
belongs to a holder that died, and the next request takes it over. A holder that died before that (SIGKILL, a crash)
is seen at once: the row names its process's liveness key (moqui_bridge/entity/liveness.py), and a key whose lock
nobody holds belongs to a process that is gone. Times are the database's clock, so hosts with skewed clocks agree.
A request that finds the lease taken polls, with back-off, within its deadline; an uncontended request takes it at
the first try. Subclasses name the entity, and may say in their own terms what a request that waited in vain is told
(`busy`). A holder whose work is not otherwise bounded by its deadline holds the lease with `held_to_deadline`, which
cuts the work off there (`overran`): the lease's expiry then never lets a second holder in beside a live, slow one.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import ClassVar, Final

from moqui_bridge.entity import EntityFacade
from moqui_bridge.entity.liveness import holder_is_gone_sql
from service.stripe_gateway.deadline import Deadline

__all__ = ["LEASE_MARGIN_SECONDS", "LeaseOverran", "LeaseTaken", "LeaseUnavailable", "RowLease", "cut_at_deadline"]

# Past its holder's deadline a lease is kept this much longer: the holder records its outcome after the deadline's
# last wait, and gives the lease back.
LEASE_MARGIN_SECONDS: Final = 5.0
_FIRST_POLL_SECONDS: Final = 0.005
_LONGEST_POLL_SECONDS: Final = 0.1


class LeaseUnavailable(Exception):
    """The work under a lease could not be done now; the same request can be made again."""


class LeaseTaken(LeaseUnavailable):
    """Another request held the lease until this request's deadline."""


class LeaseOverran(LeaseUnavailable):
    """The work under the lease reached its holder's deadline and was stopped."""


def _new_token() -> str:
    return secrets.token_hex(8)


@asynccontextmanager
async def cut_at_deadline(deadline: Deadline, overran: Callable[[], Exception]) -> AsyncIterator[None]:
    """Run the body until `deadline`; past it the body is cancelled and `overran()` raised. A lease holder's work
    runs under it, so the lease's expiry never lets a second holder in beside a live, slow one."""
    try:
        async with asyncio.timeout(deadline.remaining()) as bound:
            yield
    except TimeoutError as error:
        if not bound.expired():
            raise  # the body's own timeout, not the deadline's
        raise overran() from error


@dataclass
class RowLease:
    """One request's lease of the row `key` (Moqui field names of the lease entity's primary key) of `LEASE_ENTITY`:
    its random token and the holder's liveness key (0 when it has none: then only the lease's expiry frees it);
    given back once."""

    LEASE_ENTITY: ClassVar[str]

    entity: EntityFacade
    key: Mapping[str, str]
    holder_key: int
    token: str = field(default_factory=_new_token)
    given_back: bool = False

    @staticmethod
    def seconds(deadline: Deadline) -> float:
        """How long a lease taken now lasts: the holder's deadline, plus the margin for recording its outcome."""
        return deadline.remaining() + LEASE_MARGIN_SECONDS

    @property
    def name(self) -> str:
        """What is leased: the key's values, joined by colons."""
        return ":".join(self.key.values())

    def busy(self, what: str) -> Exception:
        """The error for a request that waited for the lease until its deadline; `what` names the request."""
        return LeaseTaken(f"{what}: {self.name} is still being worked on by another request")

    def overran(self, what: str) -> Exception:
        """The error for a holder whose work reached its deadline and was stopped (`held_to_deadline`)."""
        return LeaseOverran(f"{what}: the work on {self.name} reached its deadline")

    def _columns(self) -> tuple[str, list[str]]:
        definition = self.entity.definition(self.LEASE_ENTITY)
        return definition.table_name, [definition.field(name).column_name for name in self.key]

    async def take(self, deadline: Deadline) -> bool:
        """One try at the lease; whether it is ours now."""
        table, key_columns = self._columns()
        keys = ", ".join(key_columns)
        count = len(key_columns)
        places = ", ".join(f"${n}" for n in range(1, count + 1))
        statement = (
            f"INSERT INTO {table} AS lease ({keys}, LEASE_TOKEN, LEASE_EXPIRES, HOLDER_KEY, LAST_UPDATED_STAMP) "
            f"VALUES ({places}, ${count + 1}, (now() AT TIME ZONE 'UTC') + make_interval(secs => ${count + 2}), "
            f"${count + 3}, now() AT TIME ZONE 'UTC') "
            f"ON CONFLICT ({keys}) DO UPDATE SET LEASE_TOKEN = EXCLUDED.LEASE_TOKEN, "
            "LEASE_EXPIRES = EXCLUDED.LEASE_EXPIRES, HOLDER_KEY = EXCLUDED.HOLDER_KEY, "
            "LAST_UPDATED_STAMP = EXCLUDED.LAST_UPDATED_STAMP "
            f"WHERE lease.LEASE_EXPIRES < (now() AT TIME ZONE 'UTC') OR {holder_is_gone_sql('lease.HOLDER_KEY')} "
            "RETURNING LEASE_TOKEN"
        )
        async with self.entity.connection() as connection:
            taken = await connection.fetchval(
                statement, *self.key.values(), self.token, self.seconds(deadline), self.holder_key
            )
        return bool(taken == self.token)

    async def give_back(self) -> None:
        """Delete the lease row if it is still ours (once)."""
        if self.given_back:
            return
        table, key_columns = self._columns()
        matches = " AND ".join(f"{column} = ${n}" for n, column in enumerate(key_columns, start=1))
        async with self.entity.connection() as connection:
            await connection.execute(
                f"DELETE FROM {table} WHERE {matches} AND LEASE_TOKEN = ${len(key_columns) + 1}",
                *self.key.values(),
                self.token,
            )
        self.given_back = True

    @asynccontextmanager
    async def held(
        self, deadline: Deadline, what: str, take: Callable[[], Awaitable[bool]] | None = None
    ) -> AsyncIterator[None]:
        """Hold the lease for the body: taken by `take` (default: `take(deadline)` alone), tried again with back-off
        until the deadline (then `busy(what)` is raised); given back at the end unless the body already gave it
        back."""
        poll = _FIRST_POLL_SECONDS
        try:
            while not await (take() if take is not None else self.take(deadline)):
                if deadline.remaining() <= poll:
                    raise self.busy(what)
                await asyncio.sleep(poll)
                poll = min(poll * 2, _LONGEST_POLL_SECONDS)
        except asyncio.CancelledError:
            # Cancelled while a try was under way: it may have taken the lease.
            await asyncio.shield(self.give_back())
            raise
        try:
            yield
        finally:
            # Shielded, so a cancelled request does not leave the key blocked until the lease expires.
            await asyncio.shield(self.give_back())

    def cut_off(self, deadline: Deadline, what: str) -> AbstractAsyncContextManager[None]:
        """Stop the body at `deadline` (then `overran(what)` is raised): the part of a holder's work that must end
        before its lease can expire."""
        return cut_at_deadline(deadline, lambda: self.overran(what))

    @asynccontextmanager
    async def held_to_deadline(self, deadline: Deadline, what: str) -> AsyncIterator[None]:
        """`held`, with the body cut off at `deadline` (`overran(what)`, the lease given back)."""
        async with self.held(deadline, what), self.cut_off(deadline, what):
            yield
