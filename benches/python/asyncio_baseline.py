#!/usr/bin/env python3
"""Baseline (d): the source systems' own shape, in Python asyncio.

The session managers that baton replaces were written like this: an ``asyncio.Lock`` per
session, an ``asyncio.PriorityQueue`` per session drained by a worker coroutine, an
``asyncio.Semaphore`` per operation type, a ``dict`` registry of tasks, and
``asyncio.wait_for`` for the queue and run deadlines. Every submitted operation is a task that
waits for a grant (within the queue timeout), then runs its body (within the run timeout).

The op-cycle measured is the kernel benchmark's: on session ``i`` (round robin), submit one
operation and complete the one running there; the next queued operation of that session starts.
The backlog stays at ``--queued`` operations, every session always holds a running one.

Prints one JSON object per line: {"sessions", "queued", "cycles", "ns_per_cycle", ...}, where
``ns_per_cycle`` is the median over ``--rounds`` rounds (like criterion's median of samples).

    python3 benches/python/asyncio_baseline.py --sessions 1000 --queued 100000
    python3 benches/python/asyncio_baseline.py --self-test
"""

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import time


class Manager:
    """The hand-written asyncio session manager (the source shape)."""

    def __init__(self, sessions, limit=None, queue_timeout=60.0, run_timeout=300.0):
        self.loop = asyncio.get_running_loop()
        self.locks = [asyncio.Lock() for _ in range(sessions)]
        self.queues = [asyncio.PriorityQueue() for _ in range(sessions)]
        self.semaphore = asyncio.Semaphore(limit if limit else 1 << 30)
        self.queue_timeout = queue_timeout
        self.run_timeout = run_timeout
        self.tasks = {}  # the registry: id -> record
        self.started = asyncio.Queue()
        self.ids = itertools.count(1)
        self.seq = itertools.count()
        self.expired = 0
        self.running_on = [0] * sessions  # exclusivity check
        self.workers = [asyncio.create_task(self.worker(s)) for s in range(sessions)]

    def submit(self, session, priority=5):
        tid = next(self.ids)
        grant = self.loop.create_future()
        self.tasks[tid] = {"session": session, "priority": priority, "state": "queued"}
        self.queues[session].put_nowait((-priority, next(self.seq), tid, grant))
        self.tasks[tid]["task"] = asyncio.create_task(self.run(tid, session, grant))
        return tid

    def cancel(self, tid):
        record = self.tasks.pop(tid, None)
        if record is None:
            return False
        record["task"].cancel()
        return True

    async def run(self, tid, session, grant):
        try:
            finish, done = await asyncio.wait_for(grant, self.queue_timeout)
        except asyncio.TimeoutError:
            self.tasks.pop(tid, None)
            self.expired += 1
            return
        record = self.tasks.get(tid)
        if record is not None:
            record["state"] = "running"
        self.running_on[session] += 1
        assert self.running_on[session] == 1, "two operations on one session"
        try:
            await asyncio.wait_for(finish, self.run_timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            self.running_on[session] -= 1
            self.tasks.pop(tid, None)
            if not done.done():
                done.set_result(None)

    async def worker(self, session):
        queue = self.queues[session]
        while True:
            _prio, _seq, tid, grant = await queue.get()
            if grant.done():  # timed out or cancelled while queued
                continue
            async with self.locks[session]:
                async with self.semaphore:
                    if grant.done():
                        continue
                    finish = self.loop.create_future()
                    done = self.loop.create_future()
                    grant.set_result((finish, done))
                    self.started.put_nowait((session, tid, finish))
                    await done

    def close(self):
        for w in self.workers:
            w.cancel()
        for record in self.tasks.values():
            record["task"].cancel()


async def bench(sessions, queued, cycles, rounds):
    m = Manager(sessions)
    running = [None] * sessions
    t_setup = time.perf_counter()
    for s in range(sessions):
        m.submit(s)
    for j in range(queued):
        m.submit(j % sessions)
    for _ in range(sessions):
        s, _tid, finish = await m.started.get()
        running[s] = finish
    setup_s = time.perf_counter() - t_setup
    cursor = 0

    async def run(n):
        nonlocal cursor
        for _ in range(n):
            i = cursor
            cursor = cursor + 1 if cursor + 1 < sessions else 0
            m.submit(i)
            running[i].set_result(None)
            s, _tid, finish = await m.started.get()
            running[s] = finish

    await run(max(1000, cycles // 10))  # warm-up
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        await run(cycles)
        samples.append((time.perf_counter_ns() - t0) / cycles)
    assert len(m.tasks) == queued + sessions, (len(m.tasks), queued, sessions)
    m.close()
    return {
        "sessions": sessions,
        "queued": queued,
        "cycles": cycles,
        "rounds": rounds,
        "ns_per_cycle": statistics.median(samples),
        "ns_min": min(samples),
        "ns_max": max(samples),
        "setup_s": round(setup_s, 3),
        "python": sys.version.split()[0],
    }


async def self_test():
    # Exclusivity and priority-then-FIFO order on one session.
    m = Manager(1)
    first = m.submit(0, 1)
    pending = [await m.started.get()]
    low = m.submit(0, 1)
    high_a = m.submit(0, 9)
    high_b = m.submit(0, 9)
    order = []
    for _ in range(4):
        _s, tid, finish = pending.pop() if pending else await m.started.get()
        await asyncio.sleep(0)
        assert m.started.empty(), "nothing else starts while the session is held"
        order.append(tid)
        finish.set_result(None)
    assert order == [first, high_a, high_b, low], order
    m.close()
    # The class limit holds across sessions.
    m = Manager(4, limit=2)
    for s in range(4):
        m.submit(s)
    a = await m.started.get()
    await m.started.get()
    for _ in range(5):
        await asyncio.sleep(0)
    assert m.started.empty(), "the limit holds"
    a[2].set_result(None)
    c = await m.started.get()
    assert c[0] in (2, 3)
    m.close()
    # Queue timeouts reject, cancellation frees.
    m = Manager(1, queue_timeout=0.01)
    m.submit(0)
    _s, _tid, finish = await m.started.get()
    late = m.submit(0)
    await asyncio.sleep(0.03)
    assert m.expired == 1 and late not in m.tasks
    finish.set_result(None)
    m.close()
    print("asyncio baseline self-test: 3 passed, 0 failed")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, nargs="+", default=[1000])
    p.add_argument("--queued", type=int, nargs="+", default=[100, 100000])
    p.add_argument("--cycles", type=int, default=20000)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--self-test", action="store_true")
    args = p.parse_args()
    if args.self_test:
        asyncio.run(self_test())
        return
    for s in args.sessions:
        for q in args.queued:
            print(json.dumps(asyncio.run(bench(s, q, args.cycles, args.rounds))), flush=True)


if __name__ == "__main__":
    main()
