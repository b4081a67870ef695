"""Noticing edits to a node's config.yaml and feeds/*.yaml while it runs.

`config_stamp` is what changes when a file is edited, replaced, added or removed;
`ConfigWatch` re-reads the configuration when the stamp moves, looking at the files
at most once per `min_interval` seconds, one thread at a time. `Node.reload_config_if_changed`
is the entry point for the server; the background sync compares stamps itself.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

from . import config as config_mod
from .errors import ConfigError


def config_stamp(home: Path | str) -> tuple:
    """(path, mtime_ns, size, inode) of config.yaml and of every feed file, in name order.
    A file replaced by rename changes its inode, one written in place its mtime or size,
    and a feed file added or removed changes the list."""
    home = Path(home)
    stamp = []
    for path in (home / "config.yaml", *sorted((home / "feeds").glob("*.yaml"))):
        try:
            st = path.stat()
        except FileNotFoundError:  # removed between the glob and the stat, or no config.yaml
            stamp.append((str(path), None))
            continue
        stamp.append((str(path), st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(stamp)


class ConfigWatch:
    """Re-reads a home's configuration when its files change.

    Fails closed: while the files on disk do not load (a typo, a half-written file),
    every check raises the ConfigError instead of letting callers go on with the
    configuration those files replaced."""

    def __init__(self, home: Path | str):
        self.home = Path(home)
        self._lock = threading.Lock()
        self._stamp: tuple | None = None      # files the current configuration was read from
        self._checked: float | None = None    # time.monotonic() of the last look at the files
        self._error: ConfigError | None = None

    def check(self, apply: Callable[[config_mod.Config], None], min_interval: float = 1.0) -> bool:
        """Call `apply` with a freshly loaded Config if the files changed since the last
        load (always on the first check, since what the caller holds was read at an
        unknown moment). True when `apply` was called."""
        if self._recent(min_interval):
            return self._unchanged()
        with self._lock:
            if self._recent(min_interval):  # another thread looked while this one waited
                return self._unchanged()
            self._checked = time.monotonic()
            stamp = config_stamp(self.home)  # before loading: an edit after it is seen next time
            if stamp == self._stamp:
                return self._unchanged()
            try:
                apply(config_mod.load(self.home))  # apply may refuse too (a broken `disarm:` file)
            except Exception as exc:  # noqa: BLE001 - whatever the cause, do not go on with the old rules
                error = exc if isinstance(exc, ConfigError) else ConfigError(
                    f"{self.home}: the configuration could not be read ({type(exc).__name__}: {exc})")
                self._stamp, self._error = stamp, error
                raise error from None
            self._stamp, self._error = stamp, None
            return True

    def _recent(self, min_interval: float) -> bool:
        checked = self._checked
        return checked is not None and time.monotonic() - checked < min_interval

    def _unchanged(self) -> bool:
        error = self._error
        if error is not None:
            raise error
        return False
