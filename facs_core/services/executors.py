"""Where an extraction job's work runs: Ray, or this process.

:class:`~facs_core.services.jobs.JobRunner` is a state machine over the
catalog (claim, number the frames, plan chunks, collect them, merge, finish,
fail, cancel); the work itself (numbering a video's frames, computing a chunk)
is handed to an :class:`Executor`. :class:`RayExecutor` runs it on Ray, local
or a cluster, as the dashboard and the command line do; :class:`InProcessExecutor`
runs it in the calling thread, so the state machine can be driven and tested
on a real store and a real video without starting Ray.

A submitted piece of work is a *handle*; the runner never waits on one: it
asks which handles are :meth:`~Executor.ready`, takes each one's
:meth:`~Executor.result` (which raises the work's exception) and may
:meth:`~Executor.cancel` the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from facs_core.services.extraction import ChunkResult, ChunkTask, run_chunk, write_frame_index

__all__ = ["Executor", "InProcessExecutor", "RayExecutor"]


class Executor(Protocol):
    """What :class:`~facs_core.services.jobs.JobRunner` needs from whatever runs its work."""

    def connect(self, chunks_folder: Path) -> None:
        """Get ready to run work whose files go under ``chunks_folder`` (may raise a one-line error)."""

    def index_frames(self, video_path: str, target: Path) -> Any:
        """Submit numbering the frames of ``video_path`` into ``target``; return its handle."""

    def run_chunk(self, task: ChunkTask, backend: str) -> Any:
        """Submit computing one chunk with ``backend``; return its handle (its result is a ChunkResult)."""

    def ready(self, handles: Sequence[Any]) -> list[Any]:
        """Those of ``handles`` that have finished (successfully or not), without waiting."""

    def result(self, handle: Any) -> Any:
        """A finished handle's result; raises the exception the work raised."""

    def cancel(self, handle: Any) -> None:
        """Stop the work of ``handle`` if it has not finished (best effort)."""


class RayExecutor:
    """Work on Ray: local (``num_cpus``), or the cluster at ``RAY_ADDRESS``.

    Parameters
    ----------
    num_cpus : int, optional
        CPUs of a local Ray (default: all); ignored with ``RAY_ADDRESS``.
    """

    def __init__(self, num_cpus: int | None = None) -> None:
        self.num_cpus = num_cpus
        # One remote function per kind of work: Ray exports a function once per wrapper.
        self._remotes: dict[str, Any] = {}

    def connect(self, chunks_folder: Path) -> None:
        """Connect to Ray; on a cluster, check that every node sees ``chunks_folder``.

        Raises
        ------
        facs_core.services.cluster.ClusterError
            The cluster cannot be used (one line saying what to do).
        """
        from facs_core.services import cluster

        if cluster.connect(self.num_cpus):
            cluster.check_shared_folder(chunks_folder)

    def index_frames(self, video_path: str, target: Path) -> Any:
        import ray

        if "index" not in self._remotes:
            self._remotes["index"] = ray.remote(num_cpus=1)(write_frame_index)
        return self._remotes["index"].remote(video_path, target)

    def run_chunk(self, task: ChunkTask, backend: str) -> Any:
        import ray

        from facs_core.services.cluster import chunk_resources

        key = f"chunk:{backend}"
        if key not in self._remotes:
            self._remotes[key] = ray.remote(max_retries=1, **chunk_resources(backend))(run_chunk)
        return self._remotes[key].remote(task)

    def ready(self, handles: Sequence[Any]) -> list[Any]:
        import ray

        if not handles:
            return []
        done, _ = ray.wait(list(handles), num_returns=len(handles), timeout=0)
        return done

    def result(self, handle: Any) -> Any:
        import ray

        return ray.get(handle)

    def cancel(self, handle: Any) -> None:
        import ray

        ray.cancel(handle)


class _Work:
    """One piece of in-process work: run when first asked about, then remembered."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.call: Callable[[], Any] | None = call
        self.value: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        if self.call is None:
            return
        call, self.call = self.call, None
        try:
            self.value = call()
        except Exception as exc:  # handed to whoever takes the result, as Ray does
            self.error = exc

    @property
    def finished(self) -> bool:
        return self.call is None


class InProcessExecutor:
    """Work in the calling thread, run when the runner first asks whether it is ready.

    Parameters
    ----------
    per_poll : int, optional
        At most this many pieces of work are run per :meth:`ready` call (the
        rest stay pending until the next poll), so a test can look at a job
        between chunks or cancel it half way; by default all of them.

    Examples
    --------
    >>> executor = InProcessExecutor(per_poll=1)
    >>> a, b = executor.submit(lambda: 1), executor.submit(lambda: 2)
    >>> [executor.result(h) for h in executor.ready([a, b])]
    [1]
    >>> [executor.result(h) for h in executor.ready([a, b])]
    [1, 2]
    """

    def __init__(self, per_poll: int | None = None) -> None:
        self.per_poll = per_poll

    def connect(self, chunks_folder: Path) -> None:
        """Nothing to connect to."""

    def submit(self, call: Callable[[], Any]) -> _Work:
        """Any callable as a piece of work (what :meth:`index_frames` and :meth:`run_chunk` submit)."""
        return _Work(call)

    def index_frames(self, video_path: str, target: Path) -> _Work:
        return self.submit(lambda: write_frame_index(video_path, target))

    def run_chunk(self, task: ChunkTask, backend: str) -> _Work:
        def call() -> ChunkResult:
            return run_chunk(task)

        return self.submit(call)

    def ready(self, handles: Sequence[_Work]) -> list[_Work]:
        budget = len(handles) if self.per_poll is None else self.per_poll
        for work in handles:
            if budget <= 0:
                break
            if not work.finished:
                work.run()
                budget -= 1
        return [work for work in handles if work.finished]

    def result(self, handle: _Work) -> Any:
        handle.run()
        if handle.error is not None:
            raise handle.error
        return handle.value

    def cancel(self, handle: _Work) -> None:
        handle.call = None
