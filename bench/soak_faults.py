"""The soak's disturbances: Stripe faults through the emulator's control API, SIGKILL of the service, webhook chaos.

Stripe faults are emulator rules on the path the step's Stripe call takes (a PaymentIntent's own capture/cancel
path when known; the create and refund paths are shared, so a rule may hit another sequence's call, which is as
random as the rest). A fault counts as injected when a request hits it: what is left of every rule is read back
at the end (`hits()`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from soak_plan import Operation
from soak_stack import STRIPE_TIMEOUT_SECONDS, SoakStack, stripe_read

from stripe_emulator.control import EmulatorControl

# Fault kind -> the emulator's fault mode and status.
_MODES: dict[str, tuple[str, int]] = {
    "stripe_500": ("error", 500),
    "stripe_429": ("error", 429),
    "stripe_hang": ("hang", 500),
    "stripe_drop": ("drop", 500),
    "lost_response": ("lose_response", 500),
}


def stripe_path(operation: Operation, intent_id: str | None) -> tuple[str, str]:
    """The (path prefix, method) of the Stripe call an operation makes on the payment's PaymentIntent."""
    if operation == "refund":
        return "/v1/refunds", "POST"
    if intent_id is None or operation == "authorize":
        return "/v1/payment_intents", "POST"
    if operation == "details":
        return f"/v1/payment_intents/{intent_id}", "GET"
    return f"/v1/payment_intents/{intent_id}/{'cancel' if operation == 'release' else 'capture'}", "POST"


class Disturbances:
    """Injects faults and kills and keeps their books."""

    def __init__(self, stack: SoakStack, control: EmulatorControl, session: aiohttp.ClientSession) -> None:
        self._stack = stack
        self._control = control
        self._session = session
        self._rules: list[tuple[str, str, int]] = []  # (rule id, kind, count)
        self._restart = asyncio.Lock()
        self._paused = 0
        self._pause_lock = asyncio.Lock()
        self.webhook_chaos: Counter[str] = Counter()
        self.restart_seconds: list[float] = []

    async def stripe_fault(self, kind: str, count: int, operation: Operation, intent_id: str | None) -> None:
        """Register a fault for the next `count` Stripe calls of this operation."""
        mode, status = _MODES[kind]
        prefix, method = stripe_path(operation, intent_id)
        rule = await self._control.add_fault(
            prefix,
            mode,  # type: ignore[arg-type]
            count=count,
            method=method,
            status=status,
            should_retry=True if mode == "error" else None,
            hang_seconds=STRIPE_TIMEOUT_SECONDS + 1.0 if mode == "hang" else 0.0,
        )
        self._rules.append((str(rule["id"]), kind, count))

    async def kill_after(self, delay: float) -> None:
        """SIGKILL the service `delay` seconds from now and start it again in the same folder.

        One restart at a time: a kill due while another restart runs is dropped (the service is down anyway).
        """
        await asyncio.sleep(delay)
        if self._restart.locked():
            return
        async with self._restart:
            await self._stack.kill_service()
            started = asyncio.get_running_loop().time()
            await self._stack.start_service()
            self.restart_seconds.append(asyncio.get_running_loop().time() - started)

    @contextlib.asynccontextmanager
    async def webhooks_out_of_order(self) -> AsyncIterator[None]:
        """Hold automatic webhook delivery during the block, then send what is pending newest first."""
        async with self._pause_lock:
            self._paused += 1
            if self._paused == 1:
                await self._control.set_webhook_auto_delivery(False)
        try:
            yield
        finally:
            async with self._pause_lock:
                self._paused -= 1
                if self._paused == 0:
                    with contextlib.suppress(aiohttp.ClientError):
                        await self._control.deliver_webhooks("newest_first")
                    await self._control.set_webhook_auto_delivery(True)
            self.webhook_chaos["out_of_order"] += 1

    async def redeliver_latest(self, intent_id: str | None) -> None:
        """Deliver the newest event of the PaymentIntent (else the newest event of all) a second time."""
        events = await stripe_read(self._session, self._stack.emulator_url, "/v1/events", {"limit": "20"})
        data: list[dict[str, Any]] = events.get("data", [])
        mine = [event for event in data if event["data"]["object"].get("id") == intent_id] or data[:1]
        if mine:
            await self._control.redeliver_event(mine[0]["id"])
            self.webhook_chaos["duplicate"] += 1

    async def hits(self) -> Counter[str]:
        """Requests hit by each fault kind so far; call once faults have been cleared or used up."""
        remaining = {str(rule["id"]): int(rule["remaining"]) for rule in await self._control.faults()}
        counted: Counter[str] = Counter()
        for rule_id, kind, count in self._rules:
            counted[kind] += count - remaining.get(rule_id, 0)
        return counted
