"""Noticing edits to a node's config.yaml and feeds/*.yaml while it runs.

`config_stamp` is what changes when a file is edited, replaced, added or removed;
`ConfigWatch` re-reads the configuration when the stamp moves, looking at the files
at most once per `min_interval` seconds, one thread at a time. `Node.reload_config_if_changed`
is the entry point for the server; the background sync compares stamps itself.

An edit that does not load (a typo, a half-written file) never takes the node down:
the last good configuration stays in force, the error is logged once per edit, and
it is written to `data/config-error.json` in the home (a fixed place, since the broken
config.yaml may be what names the database), where `qalqan status`, run as another
process, finds it. The file goes when the files load again.
"""
from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Callable

from . import config as config_mod
from .errors import ConfigError
from .logs import get_logger
from .timefmt import now_us, us_to_taxii

log = get_logger(__name__)

STATE_FILE = Path("data") / "config-error.json"


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


def load_or_error(home: Path) -> config_mod.Config | ConfigError:
    """The configuration the files on disk hold now, or the one-sentence reason they do not
    load (anything unexpected becomes a ConfigError too, logged with its traceback)."""
    try:
        return config_mod.load(home)
    except ConfigError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - a bug in loading must not stop the node either
        log.exception("reading the configuration failed unexpectedly")
        return ConfigError(f"{home}: the configuration could not be read ({type(exc).__name__}: {exc})")


class ConfigWatch:
    """Re-reads a home's configuration when its files change, keeping the last good one
    while they do not load (`error` then says why)."""

    def __init__(self, home: Path | str):
        self.home = Path(home)
        self._lock = threading.Lock()
        self._stamp: tuple | None = None      # files last looked at (loaded or not)
        self._checked: float | None = None    # time.monotonic() of the last look at the files
        self.error: ConfigError | None = None
        self.error_since: int | None = None   # microseconds since the epoch

    def check(self, apply: Callable[[config_mod.Config], None], min_interval: float = 1.0) -> bool:
        """Call `apply` with a freshly loaded Config if the files changed since the last
        look (always on the first check, since what the caller holds was read at an
        unknown moment). True when `apply` was called. Never raises for a file that does
        not load: that is recorded in `error` and the caller keeps what it has."""
        if self._recent(min_interval):
            return False
        with self._lock:
            if self._recent(min_interval):  # another thread looked while this one waited
                return False
            self._checked = time.monotonic()
            stamp = config_stamp(self.home)  # before loading: an edit after it is seen next time
            if stamp == self._stamp:
                return False
            self._stamp = stamp
            loaded = load_or_error(self.home)
            if isinstance(loaded, ConfigError):
                self._failed(loaded)
                return False
            try:
                apply(loaded)  # apply may refuse too (a broken `disarm:` file)
            except ConfigError as exc:
                self._failed(exc)
                return False
            self._recovered()
            return True

    def _failed(self, error: ConfigError) -> None:
        log.error("configuration edit not applied, the last good configuration stays in force: %s", error.message)
        self.error, self.error_since = error, now_us()
        record_error(self.home, error.message, self.error_since)

    def _recovered(self) -> None:
        if self.error is not None:
            log.info("configuration loads again; the error is cleared")
        self.error, self.error_since = None, None
        clear_error(self.home)

    def _recent(self, min_interval: float) -> bool:
        checked = self._checked
        return checked is not None and time.monotonic() - checked < min_interval


# -- the state file a separate `qalqan status` reads ----------------------------------

def record_error(home: Path, message: str, since_us: int) -> None:
    path = Path(home) / STATE_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"error": message, "since": us_to_taxii(since_us), "pid": os.getpid()}), "utf-8")
        os.replace(tmp, path)
    except OSError as exc:  # the log line above still tells the operator
        log.warning("could not record the configuration error in %s: %s", path, exc)


def clear_error(home: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (Path(home) / STATE_FILE).unlink()


def recorded_error(home: Path) -> dict | None:
    """{"error", "since", "pid"} as a serving process recorded it, or None."""
    try:
        data = json.loads((Path(home) / STATE_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("error"), str) else None
