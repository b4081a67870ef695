"""`qalqan backup` of a live node and `qalqan restore` into a new home (node/backup.py),
and the passphrase encryption of backups (node/sealed.py)."""
from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile

import pytest

from node import __version__
from node.backup import DATABASE_MEMBER, MANIFEST
from node.errors import InputError
from node.home import Node
from node.migrations import SCHEMA_VERSION
from node.sealed import CHUNK, MAGIC, OpeningReader, SealingWriter

from sync_fixtures import REPO, Network, held, publish_notes, qalqan_cmd, wait_until

MANY = 1500
PASSPHRASE_VAR = "QALQAN_TEST_BACKUP_PASSPHRASE"


def qalqan(*args, passphrase: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != PASSPHRASE_VAR}
    if passphrase is not None:
        env[PASSPHRASE_VAR] = passphrase
    return subprocess.run(qalqan_cmd(*args), capture_output=True, text=True, timeout=120, cwd=REPO, env=env)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def refused(result: subprocess.CompletedProcess, fragment: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and fragment in result.stderr, result.stderr


def objects(home) -> list[tuple[str, str]]:
    return sorted((r["id"], r["version"]) for r in Node(home).store.query("SELECT id, version FROM objects"))


def entries(home, feed_id) -> list[tuple[str, str]]:
    rows = Node(home).store.query("SELECT id, version FROM feed_entries WHERE feed = ?", [feed_id])
    return sorted((r["id"], r["version"]) for r in rows)


def mode(path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture
def pair(tmp_path):
    """KZ and UZ, bilateral and regional partners, both serving."""
    net = Network(tmp_path, {"kz": "KZ", "uz": "UZ"})
    net.link("kz", "uz", ["bilateral", "regional"])
    net.start()
    yield net
    net.stop()


@pytest.fixture
def backup_of_kz(tmp_path, make_home):
    home = make_home("kz", "KZ")
    publish_notes(home, 3)
    return home


def test_a_backup_taken_while_uz_serves_and_pulls_restores_to_a_node_that_resumes_with_every_object_once(
        pair, tmp_path):
    kz, uz = pair["kz"], pair["uz"]
    ids = publish_notes(kz.home, MANY)
    puller = subprocess.Popen(qalqan_cmd("sync", "--home", uz.home, "--once", "--peer", "kz", "--page-size", "10"),
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: sum(held(uz.home, ids).values()) >= 10 or puller.poll() is not None, every=0.01,
               what="UZ to store a first page")
    ok(qalqan("backup", tmp_path / "uz.backup", "--home", uz.home))
    assert puller.poll() is None, "the sync ended before the backup: it did not run during one"
    _, stderr = puller.communicate(timeout=300)
    assert puller.returncode == 0, stderr
    later = publish_notes(kz.home, 20, text="after the backup")
    assert mode(tmp_path / "uz.backup") == 0o600

    restored = tmp_path / "uz-restored"
    ok(qalqan("restore", tmp_path / "uz.backup", "--home", restored))
    taken = held(restored, ids)
    assert 10 <= sum(taken.values()) < MANY and set(taken.values()) == {0, 1}  # the snapshot stood mid-sync
    ok(qalqan("sync", "--home", restored, "--once", "--peer", "kz"))
    ok(uz.sync("--peer", "kz"))

    assert set(held(restored, ids + later).values()) == {1}
    assert objects(restored) == objects(uz.home)
    kz_notes = {(i, v) for i, v in objects(kz.home) if i.startswith("note--")}
    assert {(i, v) for i, v in objects(restored) if i.startswith("note--")} == kz_notes
    regional = uz.feed_id("regional")
    assert entries(restored, regional) == entries(uz.home, regional)
    assert len([e for e in entries(restored, regional) if e[0].startswith("note--")]) == MANY + len(later)
    cursors = Node(restored).store.query("SELECT feed, added_after FROM cursors WHERE peer = 'kz' ORDER BY feed")
    assert cursors == Node(uz.home).store.query("SELECT feed, added_after FROM cursors WHERE peer = 'kz' ORDER BY feed")


def test_restore_gives_the_home_private_modes_and_the_same_node(backup_of_kz, tmp_path):
    ok(qalqan("backup", tmp_path / "kz.backup", "--home", backup_of_kz))
    restored = tmp_path / "restored"
    restored.mkdir()  # an empty folder is fine
    ok(qalqan("restore", tmp_path / "kz.backup", "--home", restored))
    assert {p: mode(restored / p) for p in ("", "keys", "data", "feeds")} == dict.fromkeys(("", "keys", "data", "feeds"), 0o700)
    files = [p for p in restored.rglob("*") if p.is_file()]
    assert {p.relative_to(restored).as_posix() for p in files} >= {"config.yaml", "keys/node.key", "data/qalqan.db"}
    assert {mode(p) for p in files} == {0o600}
    assert (restored / "keys" / "node.key").read_bytes() == (backup_of_kz / "keys" / "node.key").read_bytes()
    assert Node(restored).card() == Node(backup_of_kz).card()
    assert objects(restored) == objects(backup_of_kz)
    assert list(tmp_path.glob(".*restore*")) == []


def test_the_manifest_lists_every_file_with_its_checksum(backup_of_kz, tmp_path):
    import hashlib
    ok(qalqan("backup", tmp_path / "kz.backup", "--home", backup_of_kz))
    with tarfile.open(tmp_path / "kz.backup") as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile(MANIFEST))
        contents = {name: tar.extractfile(name).read() for name in names[1:]}
    node = Node(backup_of_kz)
    assert names[0] == MANIFEST and DATABASE_MEMBER in names
    assert (manifest["format"], manifest["format_version"]) == ("qalqan-backup", 1)
    assert (manifest["schema_version"], manifest["qalqan_version"]) == (SCHEMA_VERSION, __version__)
    assert manifest["node"] == {"name": "kz", "country": "KZ", "identity": node.config.identity}
    assert {f["path"]: (f["size"], f["sha256"]) for f in manifest["files"]} == {
        name: (len(data), hashlib.sha256(data).hexdigest()) for name, data in contents.items()}
    assert contents["keys/node.key"] == (backup_of_kz / "keys" / "node.key").read_bytes()


def test_a_backup_never_overwrites_a_file(backup_of_kz, tmp_path):
    target = tmp_path / "kz.backup"
    target.write_text("precious")
    refused(qalqan("backup", target, "--home", backup_of_kz), "exists")
    assert target.read_text() == "precious"


def _flip_a_byte_of(archive, member: str) -> None:
    with tarfile.open(archive) as tar:
        offset = tar.getmember(member).offset_data
    data = bytearray(archive.read_bytes())
    data[offset + 5] ^= 0x01
    archive.write_bytes(bytes(data))


@pytest.mark.parametrize("member", ["keys/node.key", DATABASE_MEMBER])
def test_a_tampered_archive_is_refused_and_nothing_is_written(backup_of_kz, tmp_path, member):
    archive = tmp_path / "kz.backup"
    ok(qalqan("backup", archive, "--home", backup_of_kz))
    _flip_a_byte_of(archive, member)
    refused(qalqan("restore", archive, "--home", tmp_path / "restored"), f"{member} does not match its checksum")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kz", "kz.backup"]


def test_an_encrypted_backup_round_trips_and_hides_its_contents(backup_of_kz, tmp_path):
    archive = tmp_path / "kz.backup"
    out = ok(qalqan("backup", archive, "--home", backup_of_kz, "--passphrase-env", PASSPHRASE_VAR,
                    passphrase="correct horse"))
    assert "encrypted" in out
    data = archive.read_bytes()
    assert data.startswith(MAGIC) and mode(archive) == 0o600
    assert b"PRIVATE KEY" not in data and b"config.yaml" not in data
    refused(qalqan("restore", archive, "--home", tmp_path / "r"), "is encrypted: give its passphrase")
    restored = tmp_path / "restored"
    ok(qalqan("restore", archive, "--home", restored, "--passphrase-env", PASSPHRASE_VAR, passphrase="correct horse"))
    assert objects(restored) == objects(backup_of_kz)
    assert (restored / "keys" / "node.key").read_bytes() == (backup_of_kz / "keys" / "node.key").read_bytes()


def test_a_wrong_passphrase_is_one_sentence_and_writes_nothing(backup_of_kz, tmp_path):
    archive = tmp_path / "kz.backup"
    ok(qalqan("backup", archive, "--home", backup_of_kz, "--passphrase-env", PASSPHRASE_VAR, passphrase="right"))
    refused(qalqan("restore", archive, "--home", tmp_path / "r", "--passphrase-env", PASSPHRASE_VAR,
                   passphrase="wrong"), "wrong passphrase")
    refused(qalqan("restore", archive, "--home", tmp_path / "r", "--passphrase-env", PASSPHRASE_VAR),
            f"{PASSPHRASE_VAR} is not set")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kz", "kz.backup"]


def _seal(plain: bytes, passphrase: str = "pw") -> bytes:
    out = io.BytesIO()
    writer = SealingWriter(out, passphrase)
    for start in range(0, len(plain), 300_000):  # writes that straddle chunk boundaries
        writer.write(plain[start:start + 300_000])
    writer.close()
    return out.getvalue()


def _open(sealed: bytes, passphrase: str = "pw") -> bytes:
    return io.BufferedReader(OpeningReader(io.BytesIO(sealed), passphrase, "f"), 4096).read()


@pytest.mark.parametrize("size", [0, 1, CHUNK, 2 * CHUNK + 7])
def test_sealing_round_trips_any_size_in_bounded_chunks(size):
    plain = os.urandom(size)
    sealed = _seal(plain)
    assert _open(sealed) == plain
    assert len(sealed) < len(plain) + 64 + 16 * (size // CHUNK + 2)


def test_a_sealed_stream_cut_at_a_chunk_boundary_or_altered_is_refused():
    plain = os.urandom(2 * CHUNK)
    sealed = _seal(plain)
    header = len(sealed) - len(plain) - 3 * 16
    with pytest.raises(InputError, match="damaged or cut short"):
        _open(sealed[:header + CHUNK + 16])  # the first chunk alone, whole
    altered = bytearray(sealed)
    altered[header + CHUNK + 100] ^= 1
    with pytest.raises(InputError, match="damaged or cut short at encrypted chunk 1"):
        _open(bytes(altered))
    header_altered = bytearray(sealed)
    header_altered[len(MAGIC) + 6] ^= 1  # a salt byte: the key changes
    with pytest.raises(InputError, match="wrong passphrase"):
        _open(bytes(header_altered))


@pytest.mark.parametrize("manifest, fragment", [
    (b"[" * 100_000 + b"]" * 100_000, "JSON nested deeper than"),
    (b'{"format": "qalqan-backup", "format": "other"}', "duplicate key 'format'"),
])
def test_a_hostile_manifest_is_one_sentence_and_nothing_is_written(tmp_path, manifest, fragment):
    archive = tmp_path / "hostile.backup"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    refused(qalqan("restore", archive, "--home", tmp_path / "restored"), f"its {MANIFEST} is not JSON ({fragment}")
    assert not (tmp_path / "restored").exists()
