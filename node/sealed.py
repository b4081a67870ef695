"""Passphrase encryption of a byte stream, for backups: scrypt + AES-256-GCM in chunks.

A backup can be as big as the database, so it is encrypted in 1 MiB chunks and never
held whole in memory. The layout is the STREAM construction (Hoang et al., 2015):

    header  = MAGIC | version | log2(N) | r | p | salt(16) | nonce prefix(7) | chunk size(4)
    chunk i = AES-256-GCM(key, nonce = prefix | i (4 bytes) | last (1 byte), aad = header)

Every chunk authenticates the header (so the KDF parameters cannot be swapped), its
position (chunks cannot be reordered) and whether it is the last (a file cut short
at a chunk boundary is detected). The last chunk is always shorter than a full one,
possibly empty, so a reader knows it without looking ahead.
"""
from __future__ import annotations

import io
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .errors import InputError

MAGIC = b"QALQAN-SEALED\x00"
VERSION = 1
CHUNK = 1 << 20
TAG = 16
LOG2_N, R, P = 17, 8, 1  # 128 MiB and about half a second per key derivation
_PARAMS = struct.Struct(">BBBB16s7sI")
HEADER_SIZE = len(MAGIC) + _PARAMS.size


def is_sealed(head: bytes) -> bool:
    return head.startswith(MAGIC)


def _key(passphrase: str, salt: bytes, log2_n: int, r: int, p: int) -> AESGCM:
    if not 10 <= log2_n <= 22 or not 1 <= r <= 32 or not 1 <= p <= 16:
        raise InputError("the encrypted file's key-derivation parameters are out of range: it is damaged")
    kdf = Scrypt(salt=salt, length=32, n=1 << log2_n, r=r, p=p)
    return AESGCM(kdf.derive(passphrase.encode("utf-8")))


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if last else 0)


class SealingWriter(io.RawIOBase):
    """A writable stream that encrypts into `out`; close() writes the last chunk."""

    def __init__(self, out, passphrase: str):
        super().__init__()
        self._out = out
        salt, prefix = os.urandom(16), os.urandom(7)
        self._header = MAGIC + _PARAMS.pack(VERSION, LOG2_N, R, P, salt, prefix, CHUNK)
        self._aead = _key(passphrase, salt, LOG2_N, R, P)
        self._prefix = prefix
        self._index = 0
        self._buffer = bytearray()
        out.write(self._header)

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._buffer += data
        while len(self._buffer) > CHUNK:  # strictly more: the last chunk must stay short
            self._seal(bytes(self._buffer[:CHUNK]), last=False)
            del self._buffer[:CHUNK]
        return len(data)

    def _seal(self, plain: bytes, last: bool) -> None:
        self._out.write(self._aead.encrypt(_nonce(self._prefix, self._index, last), plain, self._header))
        self._index += 1

    def close(self) -> None:
        if not self.closed:
            if len(self._buffer) == CHUNK:
                self._seal(bytes(self._buffer), last=False)
                self._buffer.clear()
            self._seal(bytes(self._buffer), last=True)
            self._buffer.clear()
        super().close()


class OpeningReader(io.RawIOBase):
    """A readable stream of the plaintext of `source` (positioned at the header)."""

    def __init__(self, source, passphrase: str, name: str):
        super().__init__()
        self._source = source
        self._name = name
        self._header = source.read(HEADER_SIZE)
        if len(self._header) < HEADER_SIZE or not is_sealed(self._header):
            raise InputError(f"{name}: not an encrypted Qalqan backup")
        version, log2_n, r, p, salt, prefix, chunk = _PARAMS.unpack(self._header[len(MAGIC):])
        if version != VERSION or not 1 <= chunk <= 64 << 20:
            raise InputError(f"{name}: encrypted with an unknown format version {version}")
        self._aead = _key(passphrase, salt, log2_n, r, p)
        self._prefix, self._chunk = prefix, chunk
        self._index = 0
        self._plain = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self._plain and not self._done:
            self._open_next()
        n = min(len(target), len(self._plain))
        target[:n] = self._plain[:n]
        self._plain = self._plain[n:]
        return n

    def _open_next(self) -> None:
        sealed = self._source.read(self._chunk + TAG)
        last = len(sealed) < self._chunk + TAG
        try:
            self._plain = self._aead.decrypt(_nonce(self._prefix, self._index, last), sealed, self._header)
        except InvalidTag:
            if self._index == 0:
                raise InputError(f"{self._name}: wrong passphrase (or the file is damaged)") from None
            raise InputError(f"{self._name}: damaged or cut short at encrypted chunk {self._index}") from None
        self._index += 1
        self._done = last
