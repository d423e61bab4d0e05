"""A sliding-window rate limit per client, in this process's memory: at most `limit` attempts
in any `window` seconds. Used where a guess must stay expensive (the /track order look-up).

With several web processes (gunicorn workers, pods) each process counts alone, so a client
gets up to `limit` attempts per window from each of them. What fixes that is a shared counter:
the same window kept in Redis (a sorted set per client, ZADD now / ZREMRANGEBYSCORE older than
the window / ZCARD, in one MULTI), which REDIS_URL already provides in production."""

import threading
import time
from collections import deque
from collections.abc import Callable


class SlidingWindowLimiter:
    """Thread-safe: gunicorn's threads share one instance."""

    def __init__(
        self,
        limit: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 100_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        #: Past this many tracked clients the idle ones are forgotten, so a flood of
        #: addresses cannot grow memory without bound.
        self._max_clients = max_clients
        self._attempts: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def attempt(self, client: str) -> float | None:
        """Count an attempt. None if it is allowed; else the seconds until one would be."""
        now = self._clock()
        with self._lock:
            times = self._attempts.setdefault(client, deque())
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) >= self.limit:
                return max(times[0] + self.window - now, 0.0)
            times.append(now)
            if len(self._attempts) > self._max_clients:
                self._forget_idle(now)
            return None

    def _forget_idle(self, now: float) -> None:
        idle = [c for c, t in self._attempts.items() if not t or t[-1] <= now - self.window]
        for client in idle:
            del self._attempts[client]
