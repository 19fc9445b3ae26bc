"""An in-process communicator for tests: ``ThreadComm.run(n_ranks, fn)`` runs ``fn(comm)`` on n threads.

Each thread gets a communicator with the subset of the mpi4py API the writer's gather path uses (``Get_rank``,
``Get_size``, ``allgather``, ``gather``, ``scatter``, ``bcast``, ``alltoall``, ``Barrier``, ``Gatherv``), so
multi-rank layouts are tested in one process, without ``mpiexec``. The MPI-IO sink needs real MPI: not here.

Collectives are real rendezvous: every rank waits until all ranks have entered the same collective (same
operation, same root), then each takes its share. Objects travel pickled, as in mpi4py, so a rank never sees
another rank's objects (and unpicklable values fail as they would under MPI). Errors fail fast instead of hanging:

- ranks entering different collectives raise :class:`CollectiveMismatch` on every rank;
- a rank waiting in a collective while another rank has returned (or raised) fails at once
  (:class:`CollectiveDeadlock`, or :class:`RankAborted` when the other rank raised);
- any wait longer than ``timeout`` seconds raises :class:`CollectiveTimeout`.

:meth:`ThreadComm.run` re-raises the first exception raised by ``fn`` on any rank (with a note naming the rank),
in preference to the follow-up errors of the other ranks.
"""

from __future__ import annotations

import pickle
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["ThreadComm", "CollectiveDeadlock", "CollectiveMismatch", "CollectiveTimeout", "RankAborted"]

#: Default seconds any rank waits in one collective before raising.
DEFAULT_TIMEOUT = 20.0


class CollectiveTimeout(RuntimeError):
    """A rank waited longer than the timeout in a collective."""


class CollectiveDeadlock(RuntimeError):
    """A rank waits in a collective that another rank, already returned, will never enter."""


class CollectiveMismatch(RuntimeError):
    """Ranks entered different collectives (or the same one with different roots)."""


class RankAborted(RuntimeError):
    """Another rank raised: this rank's collective is abandoned (the caller sees the other rank's error)."""


class _World:
    """State shared by the ranks of one :meth:`ThreadComm.run`: one rendezvous slot per rank."""

    def __init__(self, size: int, timeout: float) -> None:
        self.size = size
        self.timeout = timeout
        self.cond = threading.Condition()
        self.generation = 0
        self.arrived = 0
        self.ops: list[Any] = [None] * size
        self.slots: list[Any] = [None] * size
        self.result: tuple[list[Any], list[Any]] | None = None
        self.finished: set[int] = set()
        self.failed: dict[int, BaseException] = {}

    def exchange(self, rank: int, op: tuple, value: Any) -> list[Any]:
        """Deposit ``value``, wait for every rank to enter the same collective, return every rank's value."""
        with self.cond:
            self._check_alive(rank, op)
            gen = self.generation
            self.ops[rank], self.slots[rank] = op, value
            self.arrived += 1
            if self.arrived == self.size:
                self.result = (self.ops, self.slots)
                self.ops, self.slots = [None] * self.size, [None] * self.size
                self.arrived = 0
                self.generation += 1
                self.cond.notify_all()
            else:
                deadline = time.monotonic() + self.timeout
                while self.generation == gen:
                    self._check_alive(rank, op)
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        waiting = [r for r in range(self.size) if self.ops[r] is not None]
                        raise CollectiveTimeout(
                            f"rank {rank} waited {self.timeout:g} s in {_op_name(op)}; ranks {waiting} entered it, "
                            f"the others never did"
                        )
                    self.cond.wait(remaining)
            # the next collective cannot complete before this rank enters it: self.result is still this one's
            ops, slots = self.result
        if len(set(ops)) != 1:
            raise CollectiveMismatch(
                f"rank {rank}: ranks entered different collectives: "
                + ", ".join(f"rank {r} {_op_name(o)}" for r, o in enumerate(ops))
            )
        return slots

    def _check_alive(self, rank: int, op: tuple) -> None:
        if self.failed:
            other = min(self.failed)
            raise RankAborted(f"rank {rank} in {_op_name(op)}: rank {other} raised {self.failed[other]!r}")
        if self.finished:
            raise CollectiveDeadlock(
                f"rank {rank} waits in {_op_name(op)} but ranks {sorted(self.finished)} have returned: "
                "a rank skipped a collective (under MPI this hangs)"
            )

    def leave(self, rank: int, error: BaseException | None) -> None:
        with self.cond:
            if error is None:
                self.finished.add(rank)
            else:
                self.failed[rank] = error
            self.cond.notify_all()


def _op_name(op: tuple) -> str:
    name, root = op
    return f"{name}(root={root})" if root is not None else f"{name}()"


def _copy(blob: bytes) -> Any:
    return pickle.loads(blob)


class ThreadComm:
    """One rank's communicator (mpi4py method names and signatures). Create ranks with :meth:`run`."""

    def __init__(self, world: _World, rank: int) -> None:
        self._world = world
        self._rank = rank

    # ------------------------------------------------------------------ running ranks
    @classmethod
    def run(cls, n_ranks: int, fn: Callable[[ThreadComm], Any], *, timeout: float = DEFAULT_TIMEOUT) -> list[Any]:
        """Run ``fn(comm)`` on ``n_ranks`` threads; return each rank's result (list indexed by rank).

        Raises
        ------
        BaseException
            The first exception raised by ``fn`` itself on any rank (its note names the rank); else the first
            communicator error (mismatch, deadlock, timeout).
        """
        if n_ranks < 1:
            raise ValueError(f"n_ranks must be >= 1, got {n_ranks}")
        world = _World(n_ranks, timeout)
        results: list[Any] = [None] * n_ranks
        errors: list[tuple[float, int, BaseException]] = []

        def main(rank: int) -> None:
            error = None
            try:
                results[rank] = fn(cls(world, rank))
            except BaseException as exc:  # re-raised by the caller
                error = exc
                errors.append((time.monotonic(), rank, exc))
            world.leave(rank, error)

        threads = [threading.Thread(target=main, args=(r,), name=f"rank{r}", daemon=True) for r in range(n_ranks)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout + 10.0)
        stuck = [t.name for t in threads if t.is_alive()]
        if stuck:
            raise CollectiveTimeout(f"{stuck} still running {timeout + 10.0:g} s after the run (outside a collective)")
        if errors:
            comm_errors = (CollectiveTimeout, CollectiveDeadlock, CollectiveMismatch, RankAborted)
            own = [e for e in sorted(errors, key=lambda e: e[0]) if not isinstance(e[2], comm_errors)]
            _, rank, exc = (own or sorted(errors, key=lambda e: e[0]))[0]
            exc.add_note(f"(raised on simulated rank {rank} of {n_ranks})")
            raise exc
        return results

    # ------------------------------------------------------------------ mpi4py API
    def Get_rank(self) -> int:
        return self._rank

    def Get_size(self) -> int:
        return self._world.size

    @property
    def rank(self) -> int:
        return self._rank

    @property
    def size(self) -> int:
        return self._world.size

    def _exchange(self, name: str, value: Any, root: int | None = None) -> list[Any]:
        if root is not None and not 0 <= root < self._world.size:
            raise ValueError(f"{name}: root {root} out of range for {self._world.size} ranks")
        return self._world.exchange(self._rank, (name, root), value)

    def Barrier(self) -> None:
        self._exchange("Barrier", None)

    barrier = Barrier

    def allgather(self, sendobj: Any) -> list[Any]:
        return [_copy(b) for b in self._exchange("allgather", pickle.dumps(sendobj))]

    def gather(self, sendobj: Any, root: int = 0) -> list[Any] | None:
        blobs = self._exchange("gather", pickle.dumps(sendobj), root)
        return [_copy(b) for b in blobs] if self._rank == root else None

    def bcast(self, obj: Any, root: int = 0) -> Any:
        blobs = self._exchange("bcast", pickle.dumps(obj) if self._rank == root else None, root)
        return _copy(blobs[root])

    def scatter(self, sendobj: Any, root: int = 0) -> Any:
        blob = None
        if self._rank == root:
            items = list(sendobj)
            if len(items) != self._world.size:
                raise ValueError(f"scatter: root gives {len(items)} items for {self._world.size} ranks")
            blob = [pickle.dumps(item) for item in items]
        blobs = self._exchange("scatter", blob, root)
        return _copy(blobs[root][self._rank])

    def alltoall(self, sendobj: Any) -> list[Any]:
        items = list(sendobj)
        if len(items) != self._world.size:
            raise ValueError(f"alltoall: rank {self._rank} gives {len(items)} items for {self._world.size} ranks")
        blobs = self._exchange("alltoall", [pickle.dumps(item) for item in items])
        return [_copy(blobs[r][self._rank]) for r in range(self._world.size)]

    def Gatherv(self, sendbuf: np.ndarray, recvbuf: Any, root: int = 0) -> None:
        """Gather numpy buffers to ``root`` into ``recvbuf = [buf, counts, displs, MPI type]`` (None elsewhere).

        The checks real MPI makes (or would need to be correct) are errors here: a non-contiguous send buffer,
        a receive spec on a non-root rank, a count that differs from what the rank sends, an MPI type that is
        not the send buffer's, overlapping or out-of-range displacements.
        """
        if not isinstance(sendbuf, np.ndarray):
            raise TypeError(f"Gatherv: rank {self._rank} sendbuf must be a numpy array, got {type(sendbuf).__name__}")
        if not sendbuf.flags.c_contiguous:
            raise ValueError(f"Gatherv: rank {self._rank} sendbuf is not C-contiguous")
        if self._rank != root and recvbuf is not None:
            raise ValueError(f"Gatherv: rank {self._rank} is not root {root} but passes a receive buffer")
        sent = self._exchange("Gatherv", sendbuf.copy(), root)
        if self._rank != root:
            return
        buf, counts, displs, mpi_type = _recv_spec(recvbuf)
        counts = np.asarray(counts, dtype=np.int64)
        displs = np.asarray(displs, dtype=np.int64)
        if counts.size != self._world.size or displs.size != self._world.size:
            raise ValueError(f"Gatherv: {counts.size} counts, {displs.size} displs for {self._world.size} ranks")
        from mpi4py import MPI

        flat = buf.reshape(-1)
        if buf.size and not np.shares_memory(flat, buf):
            raise ValueError("Gatherv: receive buffer is not contiguous")
        used = np.zeros(flat.size, dtype=bool)
        for r, arr in enumerate(sent):
            if MPI._typedict[arr.dtype.char] != mpi_type or arr.dtype != buf.dtype:
                raise TypeError(f"Gatherv: rank {r} sends {arr.dtype}, root receives {buf.dtype} / {mpi_type}")
            c, d = int(counts[r]), int(displs[r])
            if arr.size != c:
                raise ValueError(f"Gatherv: rank {r} sends {arr.size} items but root expects {c}")
            if c and (d < 0 or d + c > flat.size or used[d : d + c].any()):
                raise ValueError(f"Gatherv: rank {r} span [{d}, {d + c}) overlaps or leaves the receive buffer")
            used[d : d + c] = True
            flat[d : d + c] = arr.reshape(-1)


def _recv_spec(recvbuf: Any) -> tuple[np.ndarray, Any, Any, Any]:
    """``[buf, counts, displs, type]`` or ``[buf, (counts, displs), type]`` (mpi4py buffer specs)."""
    if isinstance(recvbuf, (list, tuple)):
        if len(recvbuf) == 4:
            return recvbuf[0], recvbuf[1], recvbuf[2], recvbuf[3]
        if len(recvbuf) == 3 and isinstance(recvbuf[1], (list, tuple)) and len(recvbuf[1]) == 2:
            return recvbuf[0], recvbuf[1][0], recvbuf[1][1], recvbuf[2]
    raise TypeError(f"Gatherv: root's recvbuf must be [buf, counts, displs, MPI type], got {recvbuf!r}")
