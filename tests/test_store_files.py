"""The database is private wherever config.yaml puts it."""
import os
import stat

from node.home import Node
from conftest import set_config


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_database_outside_data_is_readable_by_the_owner_only(make_home, tmp_path):
    home = make_home("kz", "KZ")
    elsewhere = tmp_path / "srv" / "qalqan" / "node.db"
    set_config(home, "database", str(elsewhere))
    node = Node(home)
    node.store.query("SELECT 1")
    assert mode(elsewhere) == 0o600
    assert mode(elsewhere.parent) == 0o700 and mode(elsewhere.parent.parent) == 0o700
    for suffix in ("-wal", "-shm"):
        sidecar = elsewhere.with_name(elsewhere.name + suffix)
        if sidecar.exists():
            assert mode(sidecar) == 0o600


def test_a_world_readable_database_from_before_is_made_private_when_opened(make_home, tmp_path):
    home = make_home("kz", "KZ")
    db = tmp_path / "shared-folder" / "node.db"
    db.parent.mkdir(mode=0o755)
    db.touch(mode=0o644)
    os.chmod(db, 0o644)
    set_config(home, "database", str(db))
    Node(home)
    assert mode(db) == 0o600
    assert mode(db.parent) == 0o755  # a folder the operator made is theirs to set


def test_opening_the_database_again_keeps_the_locks_of_connections_already_open(tmp_path):
    # Closing any descriptor of the file drops all of this process's POSIX locks on it:
    # another process could then take the database from under the first connection (here
    # it switches it out of WAL mode; in sync tests it deleted the WAL: "malformed").
    import subprocess
    import sys
    from node.store import Store
    path = tmp_path / "qalqan.db"
    first = Store(path)
    first.query("SELECT COUNT(*) AS n FROM objects")
    Store(path)  # a second Node in the same process: a sync thread, a test beside an in-process server
    code = ("import sqlite3, sys\nc = sqlite3.connect(sys.argv[1], timeout=0)\n"
            "try:\n    print(c.execute('PRAGMA journal_mode=DELETE').fetchone()[0])\n"
            "except sqlite3.OperationalError as exc:\n    print(exc)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "database is locked"
    assert first.query("PRAGMA journal_mode")[0]["journal_mode"] == "wal"
