"""Background jobs that run on exactly one instance among all those sharing one PostgreSQL.

Several `serve` processes (workers on one host, or hosts behind a load balancer) may share a database; periodic
housekeeping (pruning old rows, reconciling with Stripe) must run once, not once per process. Each process runs a
`BackgroundJobs`; the one that holds a PostgreSQL session advisory lock is the leader and runs the jobs, the others
retry the lock every `retry_seconds` and take over within that time when the leader stops or dies (its connection
closes, and the lock goes with it). The lock is held on a dedicated connection, never a pooled one: a pool resets
connections (`pg_advisory_unlock_all`) and would give leadership away silently.

Public API::

    jobs = BackgroundJobs(dsn)                       # one per process
    jobs.register("prune", 3600, prune_job)          # before start(); prune_job: async () -> None
    await jobs.start()                               # returns at once; leadership is sought in the background
    jobs.is_leader                                   # whether this process runs the jobs right now
    await jobs.run_now("prune")                      # run one job here and now (tests, operators), leader or not
    await jobs.stop()                                # cancels a running job, releases the lock, closes

A job is an argument-less coroutine function. It runs first `first_delay_seconds` after this process became leader
(default: at once), then every `interval_seconds` after the previous run ended. Runs of one job never overlap; a
job that raises is logged and runs again at its next time; a job should be idempotent and short (it is cancelled
when leadership is lost or the process stops, so a long job works in committed batches). Jobs run one after the
other in the leader's task, so one slow job delays the others.
"""

from service.background.jobs import BackgroundJobs, Job, JobFunction

__all__ = ["BackgroundJobs", "Job", "JobFunction"]
