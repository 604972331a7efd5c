"""A shaping TCP proxy for the limited-network rows of the performance table: it forwards a server's connections
and delays and paces their bytes as a link of a given bandwidth and latency would (the kernel's netem is not
available on these machines).

Each direction of the proxy is one link, shared by every connection through it, as a server's uplink and
downlink are: bytes leave the link in order at ``rate`` bytes per second, and each chunk arrives ``delay``
seconds after its last byte left (``LinkSchedule``, pure). The proxy never delivers a chunk before its time
(it sleeps until then); it can only be later, by the event loop's own lateness, which ``ShapingProxy.lateness``
records so that a benchmark can say how close to the asked-for link it ran. Its sleeps end on a thread of its
own (``Alarms``), not on asyncio's timers, which wait in epoll's whole milliseconds: a chunk due in 1.03 ms would
otherwise arrive after 2, a whole extra delay on a link of 1 ms one way.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

CHUNK = 64 * 1024  # bytes read from a socket at a time


@dataclass
class LinkSchedule:
    """When the bytes sent into one direction of a link arrive at its far end (pure). ``rate`` in bytes per second
    (None: unlimited), ``delay`` in seconds one way."""

    delay: float
    rate: float | None
    free_at: float = 0.0  # when the link finishes sending what it was given so far

    def arrival(self, sent_at: float, size: int) -> float:
        """The moment a chunk of ``size`` bytes handed to the link at ``sent_at`` arrives in whole: after the
        chunks before it have left, its own bytes have left at ``rate``, and ``delay`` has passed."""
        start = max(sent_at, self.free_at)
        self.free_at = start + (size / self.rate if self.rate else 0.0)
        return self.free_at + self.delay


class Alarms:
    """Wakes coroutines of one event loop at given ``time.monotonic()`` moments, from a thread of its own that
    sleeps on a condition variable: to within the kernel's timer slack (tens of µs), where asyncio's own timers
    round a wait up to the next whole millisecond."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._due: list[tuple[float, int, asyncio.Future[None]]] = []  # a heap, soonest first
        self._order = itertools.count()  # ties go in the order asked
        self._changed = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="shaping-proxy-alarms", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    async def until(self, moment: float) -> None:
        """Return at ``moment`` (at once if it has passed); on the loop this ``Alarms`` was made for."""
        if moment <= time.monotonic():
            return
        woken: asyncio.Future[None] = self._loop.create_future()
        with self._changed:
            heapq.heappush(self._due, (moment, next(self._order), woken))
            self._changed.notify()
        await woken

    def _run(self) -> None:
        with self._changed:
            while not self._stopped:
                if not self._due:
                    self._changed.wait()
                    continue
                left = self._due[0][0] - time.monotonic()
                if left > 0:
                    self._changed.wait(left)
                    continue
                _, _, woken = heapq.heappop(self._due)
                self._loop.call_soon_threadsafe(_wake, woken)


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():  # its waiter may have been cancelled meanwhile
        woken.set_result(None)


@dataclass
class Lateness:
    """How much later than scheduled the proxy delivered chunks (seconds), to report beside its figures."""

    chunks: int = 0
    total: float = 0.0
    worst: float = 0.0

    def add(self, late: float) -> None:
        self.chunks += 1
        self.total += late
        self.worst = max(self.worst, late)

    @property
    def mean(self) -> float:
        return self.total / self.chunks if self.chunks else 0.0


@dataclass
class ShapingProxy:
    """Listens on ``127.0.0.1:port`` (0: any free port) and forwards every connection to ``target`` through two
    links: ``up`` (towards the target) and ``down`` (back). Runs on an event loop of its own, in a thread."""

    target: tuple[str, int]
    delay: float  # seconds, one way
    rate: float | None  # bytes per second, each direction (None: unlimited)
    port: int = 0
    lateness: Lateness = field(default_factory=Lateness)

    def __post_init__(self) -> None:
        if self.delay < 0 or (self.rate is not None and self.rate <= 0):
            raise ValueError("a link's delay is at least 0 s and its rate, when given, above 0 bytes/s")
        self._up = LinkSchedule(self.delay, self.rate)
        self._down = LinkSchedule(self.delay, self.rate)
        self._loop = asyncio.new_event_loop()
        self._alarms = Alarms(self._loop)
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="shaping-proxy", daemon=True)
        self._tasks: set[asyncio.Task[None]] = set()

    def set_link(self, delay: float, rate: float | None) -> None:
        """Shape from now on as a link of this delay and rate (for benchmarks that step through networks with the
        same servers); bytes already scheduled keep their times."""

        async def change() -> None:  # on the proxy's loop, between two chunks
            for link in (self._up, self._down):
                link.delay, link.rate = delay, rate

        self.delay, self.rate = delay, rate
        asyncio.run_coroutine_threadsafe(change(), self._loop).result(timeout=10)

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            raise RuntimeError("the proxy is not started")
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    def start(self) -> ShapingProxy:
        self._thread.start()
        self._alarms.start()
        started = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._accept, "127.0.0.1", self.port), self._loop
        )
        self._server = started.result(timeout=10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._alarms.stop()

    def __enter__(self) -> ShapingProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        try:
            await asyncio.gather(
                self._pump(client_reader, upstream_writer, self._up),
                self._pump(upstream_reader, client_writer, self._down),
            )
        except asyncio.CancelledError:  # the proxy stops: its connections end with it, quietly
            pass
        finally:  # both directions ended (or the proxy stops): the connection closes on both sides
            client_writer.close()
            upstream_writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: LinkSchedule) -> None:
        """Forward one direction of one connection until its end: each chunk read is written when the link
        delivers it, and the end of the stream after the last chunk."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, chunk = await queue.get()
                await self._alarms.until(due)
                if not chunk:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                self.lateness.add(max(0.0, time.monotonic() - due))
                writer.write(chunk)
                await writer.drain()

        delivering = asyncio.ensure_future(deliver())
        try:
            while chunk := await reader.read(CHUNK):
                await queue.put((link.arrival(time.monotonic(), len(chunk)), chunk))
            await queue.put((link.arrival(time.monotonic(), 0), b""))
            await delivering
        except OSError:  # a side went away: the other is closed by ``_accept``
            pass
        finally:
            delivering.cancel()
            await asyncio.gather(delivering, return_exceptions=True)


@contextlib.contextmanager
def shaped(target: tuple[str, int], delay: float, rate: float | None) -> Iterator[ShapingProxy]:
    """A started proxy in front of ``target``, stopped on leaving."""
    proxy = ShapingProxy(target, delay, rate).start()
    try:
        yield proxy
    finally:
        proxy.stop()
