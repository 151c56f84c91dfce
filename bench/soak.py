"""A soak that hunts double actions: random payment sequences under random faults, then every payment against Stripe.

Run: `.venv/bin/python bench/soak.py [--sequences 1000] [--concurrency 8] [--seed N] [--time-limit 3600]`

It starts a throwaway PostgreSQL, the Stripe emulator (`moqui-stripe emulator`, sending signed webhooks to the
service) and the service (`moqui-stripe serve --config FILE`) as separate processes on loopback, then runs random
sequences (soak_plan) through Mantle's standalone REST API as a careful integrator (soak_client): authorize,
full and partial captures, several partial refunds (equal amounts too), releases, details, duplicate and concurrent
calls, with Stripe faults (500, 429, hangs past the service's timeout, dropped connections, responses lost after
Stripe acted), SIGKILL of the service and its restart in the same folder, and webhooks redelivered and delivered out
of order (soak_faults). Then it reconciles every payment (details) and compares it with Stripe's objects
(soak_audit). It prints a report (and writes it as JSON with `--report-json`) and exits 1 on any double charge,
capture or refund, 2 when it could not run; disagreements without a double action are reported, not fatal.
Reproduce one sequence's plan with `--seed S --only N --concurrency 1`. Ctrl-C (or SIGTERM) starts no new sequence,
lets the running ones finish, and still audits and reports what ran.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from soak_audit import Auditor, AuditResult
from soak_client import CarefulClient, StuckRequestError
from soak_faults import Disturbances
from soak_plan import FAULT_KINDS, Planner, PlanOptions
from soak_run import Ledger, SequenceRunner
from soak_stack import SoakStack

from stripe_emulator.control import EmulatorControl


@dataclass
class SoakReport:
    """What a soak did and found."""

    seed: int
    sequences_planned: int
    sequences_run: int = 0
    sequences_unfinished: int = 0
    seconds: float = 0.0
    faults_injected: dict[str, int] = field(default_factory=dict)
    kills: int = 0
    restart_seconds_max: float = 0.0
    webhook_chaos: dict[str, int] = field(default_factory=dict)
    client_retries: dict[str, int] = field(default_factory=dict)
    keys_stuck_in_progress: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    double_charges: int = 0
    double_captures: int = 0
    double_refunds: int = 0
    disagreements: int = 0
    payments_checked: int = 0
    stripe_payment_intents: int = 0
    stripe_refunds: int = 0
    findings: list[dict[str, Any]] = field(default_factory=list)
    unfinished: list[dict[str, Any]] = field(default_factory=list)

    @property
    def doubles(self) -> int:
        """Double charges, captures and refunds together."""
        return self.double_charges + self.double_captures + self.double_refunds

    def text(self) -> str:
        """The report for a terminal."""
        lines = [
            f"soak seed {self.seed}: {self.sequences_run} of {self.sequences_planned} sequences run "
            f"({self.sequences_unfinished} unfinished) in {self.seconds:.0f} s",
            "faults injected (requests hit): "
            + ", ".join(f"{kind} {self.faults_injected.get(kind, 0)}" for kind in FAULT_KINDS if kind != "kill"),
            f"kills (SIGKILL + restart in the same folder): {self.kills}"
            f" (slowest restart {self.restart_seconds_max:.1f} s)",
            "webhook chaos: " + ", ".join(f"{k} {v}" for k, v in sorted(self.webhook_chaos.items())),
            "client retries (same key): " + ", ".join(f"{k} {v}" for k, v in sorted(self.client_retries.items())),
            f"keys answering 409 'in progress' past the limit (asked again under a new key): "
            f"{self.keys_stuck_in_progress}",
            "outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items())),
            f"Stripe objects: {self.stripe_payment_intents} PaymentIntents, {self.stripe_refunds} refunds "
            f"for {self.payments_checked} payments",
            f"double charges {self.double_charges}, double captures {self.double_captures}, "
            f"double refunds {self.double_refunds}",
            f"payments disagreeing with Stripe after reconciliation: {self.disagreements}",
        ]
        for finding in self.findings:
            where = f"seq {finding['sequence']} payment {finding['payment_id']}"
            lines.append(f"  {finding['kind']} {where}: {finding['detail']}")
            lines.append(f"    steps: {' | '.join(finding['steps'])}")
            lines.append(f"    stripe: {json.dumps(finding['stripe'])}")
        for unfinished in self.unfinished:
            lines.append(f"  unfinished seq {unfinished['sequence']}: {unfinished['error']}")
        return "\n".join(lines)


@dataclass(frozen=True)
class SoakSettings:
    """The command's options."""

    sequences: int
    concurrency: int
    seed: int
    time_limit: float
    only: int | None
    patience: float
    in_progress_limit: float
    options: PlanOptions
    folder: Path | None


async def _run_sequences(
    settings: SoakSettings, runner: SequenceRunner, planner: Planner, report: SoakReport, stop: asyncio.Event
) -> list[Ledger]:
    indexes = [settings.only] if settings.only is not None else list(range(settings.sequences))
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in indexes:
        queue.put_nowait(index)
    started = time.monotonic()
    deadline = started + settings.time_limit
    ledgers: list[Ledger] = []

    async def worker() -> None:
        while not queue.empty() and time.monotonic() < deadline and not stop.is_set():
            plan = planner.plan(queue.get_nowait())
            try:
                ledger = await runner.run(plan)
            except (StuckRequestError, RuntimeError) as error:
                report.sequences_unfinished += 1
                report.unfinished.append({"sequence": plan.index, "error": str(error)})
                continue
            ledgers.append(ledger)
            report.sequences_run += 1
            if report.sequences_run % 50 == 0:
                elapsed = time.monotonic() - started
                print(f"… {report.sequences_run} sequences in {elapsed:.0f} s", file=sys.stderr, flush=True)

    await asyncio.gather(*(worker() for _ in range(settings.concurrency)))
    return ledgers


def _fill(report: SoakReport, audit: AuditResult, ledgers: list[Ledger]) -> None:
    report.double_charges = audit.doubles["charge"]
    report.double_captures = audit.doubles["capture"]
    report.double_refunds = audit.doubles["refund"]
    report.disagreements = audit.disagreements
    report.payments_checked = audit.payments_checked
    report.stripe_payment_intents = audit.intents_seen
    report.stripe_refunds = audit.refunds_seen
    report.findings = [asdict(finding) for finding in audit.findings]
    outcomes: Counter[str] = Counter()
    for ledger in ledgers:
        outcomes.update(ledger.results)
    report.outcomes = dict(outcomes)


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[asyncio.Event]:
    """Ctrl-C or SIGTERM: start no new sequence, let the running ones finish, then audit and report as usual."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for number in signals:
        loop.add_signal_handler(number, stop.set)
    try:
        yield stop
    finally:
        for number in signals:
            loop.remove_signal_handler(number)


async def soak(settings: SoakSettings) -> SoakReport:
    """Run the whole soak and return its report."""
    report = SoakReport(settings.seed, 1 if settings.only is not None else settings.sequences)
    started = time.monotonic()
    folder = settings.folder or Path(tempfile.mkdtemp(prefix="moqui-stripe-soak-"))
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=settings.concurrency * 4)
    try:
        async with (
            SoakStack(folder) as stack,
            aiohttp.ClientSession(timeout=timeout, connector=connector) as session,
            EmulatorControl(stack.emulator_url, session) as control,
        ):
            client = CarefulClient(
                session,
                stack.service_url,
                stack.api_key,
                patience_seconds=settings.patience,
                in_progress_seconds=settings.in_progress_limit,
            )
            disturbances = Disturbances(stack, control, session)
            runner = SequenceRunner(client, disturbances, f"{settings.seed}-{int(time.time())}")
            planner = Planner(settings.seed, settings.options)
            with _stop_on_signals() as stop:
                ledgers = await _run_sequences(settings, runner, planner, report, stop)
            report.faults_injected = dict(await disturbances.hits())
            await control.clear_faults()
            await control.deliver_webhooks()
            audit = await Auditor(session, stack.emulator_url, client).audit(ledgers)
            _fill(report, audit, ledgers)
            report.kills = stack.kills
            report.restart_seconds_max = max(disturbances.restart_seconds, default=0.0)
            report.webhook_chaos = dict(disturbances.webhook_chaos)
            report.client_retries = dict(client.counters.retries)
            report.keys_stuck_in_progress = client.counters.stuck_in_progress
    finally:
        if settings.folder is None:
            shutil.rmtree(folder, ignore_errors=True)
    report.seconds = time.monotonic() - started
    return report


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sequences", type=int, default=1000, help="random sequences to run (default 1000)")
    parser.add_argument("--concurrency", type=int, default=8, help="sequences running at once (default 8)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the random plans (default: time)")
    parser.add_argument("--time-limit", type=float, default=3600.0, help="stop starting sequences after this (s)")
    parser.add_argument("--only", type=int, default=None, help="run only sequence N of the seed's plans")
    parser.add_argument("--fault-rate", type=float, default=PlanOptions.fault_rate, help="faulted share of steps")
    parser.add_argument("--patience", type=float, default=120.0, help="seconds a request is retried before giving up")
    parser.add_argument(
        "--in-progress-limit",
        type=float,
        default=30.0,
        help="seconds of 409 'in progress' after which a request is asked again under a new key",
    )
    parser.add_argument("--folder", type=Path, default=None, help="keep the processes' folder (logs) here")
    parser.add_argument("--report-json", type=Path, default=None, help="also write the report as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the soak; 0 clean, 1 double actions, 2 could not run."""
    arguments = _arguments(argv)
    settings = SoakSettings(
        sequences=arguments.sequences,
        concurrency=arguments.concurrency,
        seed=arguments.seed if arguments.seed is not None else int(time.time()),
        time_limit=arguments.time_limit,
        only=arguments.only,
        patience=arguments.patience,
        in_progress_limit=arguments.in_progress_limit,
        options=PlanOptions(fault_rate=arguments.fault_rate),
        folder=arguments.folder,
    )
    try:
        report = asyncio.run(soak(settings))
    except (RuntimeError, OSError) as error:
        print(f"soak could not run: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("soak interrupted: no report", file=sys.stderr)
        return 130
    print(report.text())
    if arguments.report_json is not None:
        payload = {**asdict(report), "doubles": report.doubles}
        arguments.report_json.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    return 1 if report.doubles else 0


if __name__ == "__main__":
    sys.exit(main())
