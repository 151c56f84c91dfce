"""Runs a component service the way Moqui runs it inside Mantle: one database transaction per call.

Mantle's refund#SinglePayment reads the Payment with ``<entity-find-one ... for-update="true"/>``
(tests/reference/moqui-reference/mantle-usl/service/PaymentServices.xml:1789) and keeps that row lock while it calls
the gateway service, which joins its transaction (ServiceCallSyncImpl: ``use-or-begin``, TransactionFacadeImpl:339-341).
The harness does the same for every operation: ``SELECT ... FOR UPDATE`` on the Payment, then the component's service
(its reads, the HTTP call to our service, the PaymentGatewayResponse insert), then commit; an error message rolls it
all back (ServiceCallSyncImpl:333-334). ``rollback_after`` plays a Moqui whose transaction fails after our answer
(a later step of the caller, a lost connection): everything the call wrote is undone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from moqui_bridge.entity.connection import Pool
from tests.moqui_harness.groovy_runner import SentRequest
from tests.moqui_harness.xml_actions import MoquiRun, XmlActions

PAYMENT_TABLE = "PAYMENT"


@dataclass
class CallResult:
    """A service call's out-parameters (None when it failed), its error messages, whether it committed, the
    Mantle services it called and the HTTP requests it sent."""

    out: dict[str, Any] | None
    errors: list[str]
    committed: bool
    dropped_fields: list[str] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sent: list[SentRequest] = field(default_factory=list)


class MoquiHarness:
    """The component's services on a Moqui database (``pool``), with Moqui's configuration ``properties``."""

    def __init__(self, pool: Pool, actions: XmlActions, properties: Mapping[str, str]) -> None:
        self.pool = pool
        self.actions = actions
        self.properties = dict(properties)

    async def call(
        self,
        service_name: str,
        parameters: Mapping[str, Any],
        *,
        rollback_after: bool = False,
        lock_payment: bool = True,
    ) -> CallResult:
        """Run ``service_name`` in one transaction holding the Payment's row lock; commit unless it failed.

        ``lock_payment=False`` is a call that does not come from a Mantle payment service (a REST request).
        """
        async with self.pool.acquire() as connection:
            transaction = connection.transaction()
            await transaction.start()
            committed = False
            try:
                # The caller's lock, as refund#SinglePayment takes it before calling the gateway service.
                if lock_payment:
                    await connection.fetch(
                        f"SELECT PAYMENT_ID FROM {PAYMENT_TABLE} WHERE PAYMENT_ID = $1 FOR UPDATE",
                        parameters["paymentId"],
                    )
                run = MoquiRun(connection, self.properties)
                out = await self.actions.call(service_name, parameters, run)
                if run.errors or rollback_after:
                    await transaction.rollback()
                else:
                    await transaction.commit()
                    committed = True
            except BaseException:
                await transaction.rollback()
                raise
        return CallResult(
            out if not run.errors else None, run.errors, committed, run.dropped_fields, run.calls, run.sent
        )
