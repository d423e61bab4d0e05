"""Fewer malloc arenas for a threaded web worker. glibc gives threads up to eight arenas
per core, and each keeps freed memory of its own: with 32 request threads that alone is
several megabytes of RSS per worker. Two arenas cost no measurable speed here."""

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

#: mallopt's parameter number for M_ARENA_MAX (glibc malloc.h).
_M_ARENA_MAX = -8


def limit_malloc_arenas(arenas: int = 2) -> None:
    library = ctypes.util.find_library("c")
    if library is None:  # not glibc (musl, macOS): nothing to tune
        return
    try:
        ctypes.CDLL(library).mallopt(_M_ARENA_MAX, arenas)
    except (OSError, AttributeError):
        log.debug("mallopt is not available; keeping the default malloc arenas")
