"""Independent jobs (the folds of a cross-validation) run one after another in this process, or as
Ray tasks: on a local Ray instance started for the run (`--workers N`) or on an existing cluster
(`--ray-address ADDRESS`, or Ray's own RAY_ADDRESS). The one place that knows about Ray.

A job is a plain function of picklable arguments that seeds itself (collar_kd.training.loop.
seed_everything) and returns its results; nothing it returns depends on where or in which order it
ran, so the run directory is the same for any number of workers. Large shared inputs (the windows)
go to the cluster's object store once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

from collar_kd.errors import CollarKDError, ConfigError

INSTALL_HINT = "pip install 'collar-kd[cluster]' (Ray)"


class JobFailed(CollarKDError):
    """A job stopped on bad input or settings; the message names it (fold and animal)."""


@dataclass(frozen=True)
class Workers:
    n: int = 1
    address: str | None = None  # an existing Ray cluster; None: start a local one when n > 1

    def check(self) -> "Workers":
        if not isinstance(self.n, int) or isinstance(self.n, bool) or not 1 <= self.n <= 4096:
            raise ConfigError(f"--workers: a whole number from 1 to 4096, not {self.n!r}")
        return self

    @property
    def distributed(self) -> bool:
        return self.n > 1 or bool(self.address)


def _ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--workers above 1 or --ray-address runs the folds as Ray tasks, and Ray is not installed: "
                          f"{INSTALL_HINT}") from None
    return ray


def run_jobs(fn: Callable, jobs: list[tuple], shared: tuple, names: list[str], workers: Workers, progress,
             what: str = "folds", cpus_per_job: int = 1, on_result: Callable[[int, object], None] | None = None) -> list:
    """fn(*shared, *job) for every job, results in job order. Sequential in this process with one
    worker; otherwise Ray tasks (shared arguments put in the object store once), each given
    `cpus_per_job` CPUs (the thread count it runs with), with one progress bar over the jobs. A job
    that stops on bad input raises JobFailed naming it; a bug in it is re-raised naming it.
    `on_result(i, result)` is called here, in the caller's process, as soon as job i has finished
    (so that a caller can keep it before the other jobs are done)."""
    workers = (workers or Workers()).check()
    if not workers.distributed:
        out = []
        for i, (name, job) in enumerate(zip(names, jobs)):
            try:
                out.append(fn(*shared, *job))
            except CollarKDError as e:
                raise JobFailed(f"{name}: {e}") from e
            except Exception as e:
                e.add_note(f"in {name}")  # a bug: the traceback file names the job
                raise
            if on_result is not None:
                on_result(i, out[-1])
        return out
    ray = _ray()
    started_here = not ray.is_initialized()
    if started_here:
        address = workers.address or os.environ.get("RAY_ADDRESS") or None
        if not address and workers.n * cpus_per_job > (os.cpu_count() or 1):
            progress.log(f"warning: {workers.n} workers x {cpus_per_job} threads each is more than this machine's "
                         f"{os.cpu_count()} CPUs: the folds will slow each other down (set threads = 1 in the config)")
        kwargs = {"address": address} if address else {"num_cpus": workers.n * cpus_per_job}
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, **kwargs)
    try:
        remote = ray.remote(num_cpus=cpus_per_job, max_retries=0)(fn)
        refs = [ray.put(s) for s in shared]
        pending = {remote.remote(*refs, *job): i for i, job in enumerate(jobs)}
        results: list = [None] * len(jobs)
        with progress.task(f"{what} on Ray ({workers.address or os.environ.get('RAY_ADDRESS') or f'{workers.n} local workers'})",
                           len(jobs)) as advance:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                i = pending.pop(done[0])
                try:
                    results[i] = ray.get(done[0])
                except Exception as e:  # Ray wraps the task's exception
                    # The other folds are not cancelled: ray.cancel(force=True) races with a task that is
                    # finishing and then kills this driver (Ray's "Tried to complete task that was not
                    # pending" check, ray-project/ray#54846), losing the message below. ray.shutdown()
                    # ends them when the run started Ray; on a cluster, the job ends with this driver.
                    cause = getattr(e, "cause", None) or e
                    if isinstance(cause, CollarKDError):
                        raise JobFailed(f"{names[i]}: {cause}") from None
                    raise RuntimeError(f"{names[i]} failed on a Ray worker: {type(cause).__name__}: {cause}") from e
                if on_result is not None:
                    on_result(i, results[i])
                advance()
        return results
    finally:
        if started_here:
            ray.shutdown()
