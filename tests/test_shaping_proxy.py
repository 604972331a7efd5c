"""The shaping proxy of the limited-network benchmarks imposes the delay and rate it is asked for.

The schedule is pure and exact (properties over any sequence of chunks). Through real sockets over loopback, a
chunk never arrives before its time (the proxy sleeps until then: a bound that holds however busy the machine),
and the round trips and the rate measured are within 10% of what was asked. A busy machine only adds time, so the
figure compared is the quickest of several trials: what the proxy imposed, with the least of the machine's own
lateness on top."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.shaping_proxy import LinkSchedule, shaped

chunks = st.lists(st.tuples(st.floats(0, 0.5), st.integers(0, 10**6)), min_size=1, max_size=30)


@given(chunks, st.floats(0, 0.2), st.floats(1e3, 1e9))
def test_the_link_delivers_in_order_no_sooner_than_its_rate_and_delay_allow(
    sends: list[tuple[float, int]], delay: float, rate: float
) -> None:
    link, now, arrivals = LinkSchedule(delay, rate), 0.0, []
    for gap, size in sends:
        now += gap
        arrivals.append((now, size, link.arrival(now, size)))
    for sent, size, arrived in arrivals:
        assert arrived >= sent + size / rate + delay - 1e-9
    assert [a for _, _, a in arrivals] == sorted(a for _, _, a in arrivals), "in order"
    for i in range(len(arrivals)):  # what arrives between two arrivals never beats the rate
        for j in range(i + 1, len(arrivals)):
            carried = sum(size for _, size, _ in arrivals[i + 1 : j + 1])
            assert carried / rate <= arrivals[j][2] - arrivals[i][2] + 1e-6
    # everything handed over at once arrives at the rate, after the delay
    burst = LinkSchedule(delay, rate)
    last = [burst.arrival(0.0, size) for _, size in sends][-1]
    assert last == pytest.approx(sum(size for _, size in sends) / rate + delay)


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    """A TCP server that echoes each connection's bytes back, on loopback."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=echo_one, args=(connection,), daemon=True).start()

    def echo_one(connection: socket.socket) -> None:
        with connection:
            while data := connection.recv(65536):
                connection.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[:2]
    finally:
        stop.set()
        thread.join()
        listener.close()


def receive(connection: socket.socket, size: int) -> None:
    got = 0
    while got < size:
        data = connection.recv(min(65536, size - got))
        assert data, "the proxy closed the connection early"
        got += len(data)


def round_trips(echo: tuple[str, int], delay: float, trials: int) -> list[float]:
    """Seconds each of ``trials`` small messages took there and back through a proxy of one-way ``delay``."""
    with shaped(echo, delay, None) as proxy, socket.create_connection(proxy.address) as connection:
        trips = []
        for index in range(trials):
            message = bytes([index]) * 100
            started = time.monotonic()
            connection.sendall(message)
            assert connection.recv(100) == message
            trips.append(time.monotonic() - started)
    assert min(trips) >= 2 * delay, "a reply came back sooner than the link allows"
    return trips


def test_round_trips_take_twice_the_delay(echo: tuple[str, int]) -> None:
    delay = 0.05
    trips = round_trips(echo, delay, 7)
    assert min(trips) <= 2 * delay * 1.1, trips


def test_a_delay_of_a_millisecond_is_kept_to_a_fraction_of_one(echo: tuple[str, int]) -> None:
    """The limited-network rows shape links of 1 ms one way: a wait of just over a millisecond must not become two
    (as asyncio's own timers, counting in whole milliseconds, would make it)."""
    delay = 0.0015
    trips = round_trips(echo, delay, 15)
    assert min(trips) <= 2 * delay * 1.15, f"quickest round trip {min(trips) * 1e3:.2f} ms, asked {2 * delay * 1e3} ms"


def test_a_transfer_runs_at_the_rate(echo: tuple[str, int]) -> None:
    rate, size = 2e6, 1_600_000  # bytes/s each way; 0.8 s of sending, and the same back, overlapping
    times = []
    with shaped(echo, 0.0, rate) as proxy:
        for _ in range(3):
            with socket.create_connection(proxy.address) as connection:
                started = time.monotonic()
                sender = threading.Thread(target=connection.sendall, args=(bytes(size),))
                sender.start()
                receive(connection, size)
                times.append(time.monotonic() - started)
                sender.join()
    # each byte crosses the up link and the down link; they pipeline, so the whole takes size / rate
    assert min(times) >= size / rate, "faster than the asked-for rate"
    assert min(times) <= size / rate * 1.1, f"{size / min(times) / 1e6:.2f} MB/s, asked {rate / 1e6:.1f}"
