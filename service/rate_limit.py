"""Sliding-window rate limits: at most `limit` attempts per key in any `window` seconds. Used
where a guess must stay expensive (the /track look-up, the console's sign-in).

Two stores, one behaviour:
- `RedisWindows` (REDIS_URL set): a sorted set of attempt times per key, trimmed, counted and
  added to in one Lua script on Redis's own clock, so every web process and pod counts
  together and no two of them can both take the last attempt. Each key expires with its
  window, so Redis holds at most `limit` entries per key active in the last window.
- `MemoryWindows` (no Redis: one web process): this process's table, of at most `max_keys`
  keys; past that the least recently used key is forgotten. A flood of keys costs the flooder
  its own counts, never memory.

When Redis does not answer, `RedisWindows` counts in its own `MemoryWindows` for a while:
still limited (per process), never a failed look-up because Redis is away."""

import hashlib
import ipaddress
import logging
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Protocol

import redis

log = logging.getLogger(__name__)

#: Keys the in-process table holds at most, per limit.
MAX_KEYS = 100_000
#: After Redis failed to answer, how long to count in memory before asking it again: a frozen
#: Redis would otherwise cost every look-up its socket timeout.
REDIS_PAUSE_SECONDS = 5.0
#: Seconds to wait for Redis before counting in memory instead.
REDIS_TIMEOUT_SECONDS = 0.5

# KEYS[1] the key's sorted set; ARGV: limit, window in ms, a unique member. Returns -1 when
# the attempt is counted, else the milliseconds until the oldest counted one leaves the window.
_ATTEMPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(tonumber(oldest[2]) + window - now, 1)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return -1
"""


class Windows(Protocol):
    def attempt(self, key: str) -> float | None:
        """Count an attempt. None if it is allowed; else the seconds until one would be."""

    def forgive(self, key: str) -> None:
        """Take back the key's latest attempt (it turned out to be no guess)."""


class MemoryWindows:
    """Thread-safe: gunicorn's threads share one instance."""

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        self._attempts: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._attempts)

    def attempt(self, key: str) -> float | None:
        now = self._clock()
        with self._lock:
            times = self._attempts.pop(key, None) or deque()
            self._attempts[key] = times  # the most recently used, last
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) >= self.limit:
                return max(times[0] + self.window - now, 0.0)
            times.append(now)
            while len(self._attempts) > self.max_keys:
                self._attempts.popitem(last=False)
            return None

    def forgive(self, key: str) -> None:
        with self._lock:
            times = self._attempts.get(key)
            if times:
                times.pop()


class RedisWindows:
    """One limit's windows in Redis, under `ordertrack:limit:<name>:`; the keys are hashes,
    so neither an address nor an order number is readable in Redis."""

    def __init__(self, client: redis.Redis, name: str, fallback: MemoryWindows) -> None:
        self.limit = fallback.limit
        self.window = fallback.window
        self._client = client
        self._prefix = f"ordertrack:limit:{name}:"
        self._script = client.register_script(_ATTEMPT)
        self._fallback = fallback
        self._paused_until = 0.0

    def attempt(self, key: str) -> float | None:
        if time.monotonic() < self._paused_until:
            return self._fallback.attempt(key)
        member = uuid.uuid4().hex
        try:
            wait_ms = int(self._script([self._key(key)], [self.limit, self._window_ms, member]))
        except redis.RedisError as error:
            self._pause(error)
            return self._fallback.attempt(key)
        return None if wait_ms < 0 else wait_ms / 1000

    def forgive(self, key: str) -> None:
        if time.monotonic() < self._paused_until:
            self._fallback.forgive(key)
            return
        try:
            self._client.zpopmax(self._key(key))
        except redis.RedisError as error:
            self._pause(error)

    @property
    def _window_ms(self) -> int:
        return max(1, round(self.window * 1000))

    def _key(self, key: str) -> str:
        return self._prefix + hashlib.sha256(key.encode()).hexdigest()[:32]

    def _pause(self, error: redis.RedisError) -> None:
        log.warning(
            "rate limit: Redis did not answer (%s); counting in this process for %.0f s",
            type(error).__name__,
            REDIS_PAUSE_SECONDS,
        )
        self._paused_until = time.monotonic() + REDIS_PAUSE_SECONDS


def client_key(address: str | None) -> str:
    """Who is asking: an IPv4 address as it is, an IPv6 address by its /64 (a line or a host
    gets a whole /64 and can answer from any address inside it), an IPv4-mapped IPv6 address
    as its IPv4 address."""
    try:
        ip = ipaddress.ip_address((address or "").split("%")[0])
    except ValueError:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


def redis_client(redis_url: str) -> redis.Redis:
    """A client that gives up quickly: a limit must not make a page wait on Redis."""
    return redis.Redis.from_url(
        redis_url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )


def windows(client: redis.Redis | None, name: str, limit: int, window: float) -> Windows:
    """Shared windows in Redis when there is a client, else this process's own."""
    memory = MemoryWindows(limit, window)
    return memory if client is None else RedisWindows(client, name, memory)
