"""Backing up a live node and restoring it elsewhere (`qalqan backup`, `qalqan restore`).

A backup is one tar file: `manifest.json` first (node, versions, and each file's path,
size and SHA-256), then a snapshot of the database and the home's config.yaml, feeds/
and keys/. The database is copied with SQLite's online backup API in one step: a
consistent snapshot taken while the node keeps serving and syncing (in WAL mode the
copy does not block writers). Sync cursors live in the database, so a restored node
resumes pulling where the snapshot stood; ingest is idempotent, so the overlap with
what the peer sends again is stored once.

With a passphrase the tar is encrypted as it is written (node/sealed.py). The
checksums catch a damaged file; only the encrypted form also proves that nobody
altered it, since a plain tar's manifest can be rewritten along with a file.

Restore unpacks into a hidden folder beside the target, checks every file against
the manifest and the database's integrity, and only then renames the folder into
place: a refused archive leaves nothing behind.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
from pathlib import Path, PurePosixPath
from typing import IO

from . import __version__
from . import config as config_mod
from . import wire
from .errors import ConfigError, InputError
from .sealed import CHUNK, MAGIC, OpeningReader, SealingWriter, is_sealed

FORMAT = "qalqan-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATABASE_MEMBER = "database.sqlite3"
HOME_FOLDERS = ("feeds", "keys")
PRIVATE_FILE, PRIVATE_DIR = 0o600, 0o700


# -- backup ------------------------------------------------------------------------

def create_backup(home: Path | str, out: Path | str, passphrase: str | None = None) -> dict:
    """Write a backup of the node at `home` to `out` (a new file, 0600); returns its manifest."""
    home, out = Path(home), Path(out)
    config = config_mod.load(home)
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        raise InputError(f"{out} exists: refusing to overwrite it") from None
    except OSError as exc:
        raise InputError(f"{out}: cannot create it ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as raw, tempfile.TemporaryDirectory(dir=out.parent, prefix=".qalqan-backup-") as tmp:
            snapshot = Path(tmp) / DATABASE_MEMBER
            schema_version = _snapshot_database(config.database_path, snapshot)
            home_files = {rel: (home / rel).read_bytes() for rel in _home_files(home)}
            manifest = _manifest(config, schema_version, snapshot, home_files)
            sink = SealingWriter(raw, passphrase) if passphrase else raw
            with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                listing = json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8")
                _add(tar, MANIFEST, io.BytesIO(listing), len(listing))
                with snapshot.open("rb") as db:
                    _add(tar, DATABASE_MEMBER, db, snapshot.stat().st_size)
                for rel, data in home_files.items():
                    _add(tar, rel, io.BytesIO(data), len(data))
            if sink is not raw:
                sink.close()  # the last encrypted chunk
            raw.flush()
            os.fsync(raw.fileno())
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return manifest


def _snapshot_database(source: Path, target: Path) -> int:
    """Copy the live database to `target` in one step; returns its schema version."""
    if not source.is_file():
        raise ConfigError(f"{source}: the node's database does not exist")
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.execute("PRAGMA busy_timeout=30000")
        src.backup(dst)  # pages=-1: all pages under one read lock, so one consistent state
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        row = dst.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    finally:
        dst.close()
        src.close()
    return int(row[0]) if row else 0


def _home_files(home: Path) -> list[str]:
    """config.yaml and every regular file under feeds/ and keys/, as home-relative paths."""
    files = ["config.yaml"]
    for folder in HOME_FOLDERS:
        for path in sorted((home / folder).rglob("*")):
            if path.is_file() and not path.is_symlink():
                files.append(path.relative_to(home).as_posix())
    return files


def _manifest(config, schema_version: int, snapshot: Path, home_files: dict[str, bytes]) -> dict:
    files = [{"path": DATABASE_MEMBER, "size": snapshot.stat().st_size, "sha256": _sha256_file(snapshot)}]
    files += [{"path": rel, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
              for rel, data in home_files.items()]
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "qalqan_version": __version__, "schema_version": schema_version,
        "node": {"name": config.name, "country": config["node.country"], "identity": config.identity},
        "database": config["database"],
        "files": files,
    }


def _add(tar: tarfile.TarFile, name: str, data: IO[bytes], size: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, PRIVATE_FILE, int(time.time())
    tar.addfile(info, data)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


# -- restore -----------------------------------------------------------------------

def restore_backup(archive: Path | str, home: Path | str, passphrase: str | None = None) -> dict:
    """Rebuild a node's home at `home` (missing or empty) from `archive`; returns its manifest."""
    archive, home = Path(archive), Path(home)
    if home.exists() and (not home.is_dir() or any(home.iterdir())):
        raise InputError(f"{home} is not an empty folder: restore only into a new home")
    if not archive.is_file():
        raise InputError(f"{archive}: no such file")
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=home.parent, prefix=f".{home.name}.restore-"))
    try:
        with archive.open("rb") as raw:
            manifest = _unpack_verified(_plaintext(raw, archive, passphrase), staging, archive)
        database = _place_database(staging, manifest, home, archive)
        _make_private(staging)
        if home.exists():
            home.rmdir()
        staging.rename(home)
        if database is not None:  # an absolute `database:` path: put it where config.yaml says
            shutil.move(home / DATABASE_MEMBER, database)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _plaintext(raw: IO[bytes], archive: Path, passphrase: str | None) -> IO[bytes]:
    head = raw.read(len(MAGIC))
    raw.seek(0)
    if not is_sealed(head):
        return raw
    if passphrase is None:
        raise InputError(f"{archive} is encrypted: give its passphrase with --passphrase-env VAR")
    return io.BufferedReader(OpeningReader(raw, passphrase, str(archive)), CHUNK)


def _unpack_verified(stream: IO[bytes], staging: Path, archive: Path) -> dict:
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            members = iter(tar)
            first = next(members, None)
            if first is None or first.name != MANIFEST or not first.isfile():
                raise InputError(f"{archive}: not a Qalqan backup (it does not start with {MANIFEST})")
            manifest = _read_manifest(tar.extractfile(first), archive)
            expected = {entry["path"]: entry for entry in manifest["files"]}
            for member in members:
                entry = expected.pop(member.name, None)
                if entry is None or not member.isfile():
                    raise InputError(f"{archive}: {member.name} is not listed in its manifest (altered?)")
                _extract_checked(tar.extractfile(member), staging / member.name, entry, archive)
    except (tarfile.TarError, EOFError) as exc:
        raise InputError(f"{archive}: not a readable backup archive ({exc})") from None
    if expected:
        raise InputError(f"{archive}: {min(expected)} is in the manifest but not in the archive (cut short?)")
    return manifest


def _read_manifest(data: IO[bytes], archive: Path) -> dict:
    try:
        manifest = wire.loads(data.read())
    except InputError as exc:
        raise InputError(f"{archive}: its {MANIFEST} is not JSON ({exc.message})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError(f"{archive}: not a Qalqan backup ({MANIFEST} has no format {FORMAT!r})")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise InputError(f"{archive}: backup format {manifest.get('format_version')!r} is not one this "
                         f"Qalqan {__version__} reads")
    files = manifest.get("files")
    if not isinstance(files, list) or not all(_well_formed(entry) for entry in files):
        raise InputError(f"{archive}: {MANIFEST} lists a file badly (path, size, sha256)")
    paths = [entry["path"] for entry in files]
    if len(set(paths)) != len(paths) or DATABASE_MEMBER not in paths or "config.yaml" not in paths:
        raise InputError(f"{archive}: {MANIFEST} must list the database and config.yaml once each")
    if not isinstance(manifest.get("database"), str) or not manifest["database"]:
        raise InputError(f"{archive}: {MANIFEST} does not say where the database goes")
    return manifest


def _well_formed(entry) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        return False
    path = PurePosixPath(entry["path"])
    safe = (not path.is_absolute() and ".." not in path.parts and
            (entry["path"] in (DATABASE_MEMBER, "config.yaml") or
             (len(path.parts) > 1 and path.parts[0] in HOME_FOLDERS)))
    sha = entry.get("sha256")
    return (safe and isinstance(entry.get("size"), int) and entry["size"] >= 0 and isinstance(sha, str)
            and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha))


def _extract_checked(source: IO[bytes], target: Path, entry: dict, archive: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    with source, os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE), "wb") as out:
        for block in iter(lambda: source.read(CHUNK), b""):
            digest.update(block)
            size += len(block)
            out.write(block)
    if size != entry["size"] or digest.hexdigest() != entry["sha256"]:
        raise InputError(f"{archive}: {entry['path']} does not match its checksum: the backup is damaged or altered")


def _place_database(staging: Path, manifest: dict, home: Path, archive: Path) -> Path | None:
    """Check the database and move it to its path in the restored home. Returns the
    absolute path it still has to go to when config.yaml puts it outside the home."""
    snapshot = staging / DATABASE_MEMBER
    db = sqlite3.connect(snapshot)
    try:
        verdict = db.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        verdict = str(exc)
    finally:
        db.close()
    if verdict != "ok":
        raise InputError(f"{archive}: the database in it is damaged ({verdict})")
    where = Path(manifest["database"])
    if where.is_absolute():
        if where.exists():
            raise InputError(f"{where} exists: config.yaml's database: points there; move it aside first")
        return where
    if ".." in where.parts:
        raise InputError(f"{archive}: database {where} lies outside the home")
    final = staging / where
    final.parent.mkdir(parents=True, exist_ok=True)
    snapshot.rename(final)
    return None


def _make_private(root: Path) -> None:
    """Every folder 0700 and file 0600: keys, config and data are the node's alone."""
    for path in [root, *root.rglob("*")]:
        os.chmod(path, PRIVATE_DIR if path.is_dir() else PRIVATE_FILE)


# -- the CLI -----------------------------------------------------------------------

def passphrase_from_env(var: str | None) -> str | None:
    if var is None:
        return None
    value = os.environ.get(var)
    if not value:
        raise InputError(f"--passphrase-env: the environment variable {var} is not set or is empty")
    return value


def add_backup_commands(command) -> None:
    p = command("backup", "write a consistent snapshot of this node (database, config, feeds, keys) to FILE, "
                          "while it serves and syncs")
    p.add_argument("file", help="the backup file to create (never overwritten; made 0600)")
    p.add_argument("--passphrase-env", metavar="VAR", help="encrypt with the passphrase held in environment variable VAR")
    p.set_defaults(run=_cmd_backup)
    p = command("restore", "rebuild a node's home from a backup FILE, into --home DIR (missing or empty)")
    p.add_argument("file")
    p.add_argument("--passphrase-env", metavar="VAR", help="the environment variable holding the backup's passphrase")
    p.set_defaults(run=_cmd_restore)


def _cmd_backup(args) -> int:
    manifest = create_backup(Path(args.home), Path(args.file), passphrase_from_env(args.passphrase_env))
    print(f"backup {args.file}: node {manifest['node']['name']}, {len(manifest['files'])} files, "
          f"database schema {manifest['schema_version']}" + (", encrypted" if args.passphrase_env else ""))
    return 0


def _cmd_restore(args) -> int:
    manifest = restore_backup(Path(args.file), Path(args.home), passphrase_from_env(args.passphrase_env))
    print(f"restored node {manifest['node']['name']} ({manifest['node']['identity']}) from a backup of "
          f"{manifest['created']} into {args.home}")
    return 0
