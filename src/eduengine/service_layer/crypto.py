"""Encryption at rest of contact fields, crypto-shredding, blind indexes and data
residency (issue #24).

A store built with a :class:`KeyProvider` (``InMemoryStore(keys=...)``,
``SqliteStore(path, keys=...)``, ``PostgresStore(dsn, keys=...)``) hands out a record
repository that seals the contact fields of :data:`CONTACT_FIELDS` as it writes them and
opens them as it reads them, so the domain code sees clear values and the database,
its files and its dumps hold ciphertext:

* each **subject** (a student, a guardian account, a staff member) has a random 256-bit
  **data key**, kept in the store itself (kind ``data_key``) wrapped by the provider's
  **master key**; a document's values of one subject are AES-GCM encrypted together with
  her data key (one ciphertext per subject per document, :data:`SEAL`), bound to the
  subject, the document and the values' places (copied to another student's document, or
  to another record of hers, they do not open);
* **crypto-shredding**: erasing a student deletes her data key, so every copy of her
  values left anywhere (a document a module forgot, an old row in a WAL page) is noise;
* **rotation** (:func:`rotate_master_key`) makes a new master key current and rewraps
  every data key with it; no value is re-encrypted, every record stays readable;
* **blind indexes**: a value the library looks up by equality (a community device id)
  is stored as ``HMAC-SHA256(index key, value)``, so the lookup works without the clear
  value; the index key is separate from the master keys;
* **data residency**: a store built with ``region=`` stamps that region on the students
  it stores and refuses a student of another region (:class:`~eduengine.errors.WrongRegion`).

>>> from eduengine import InMemoryStore
>>> keys = InMemoryKeyProvider()
>>> store = InMemoryStore(keys=keys)
>>> with store.unit_of_work() as uow:
...     uow.records.put("student", "ann", {"name": "Ann", "phone": None, "guardians": []})
...     uow.commit()
>>> "Ann" in store.records["student"]["ann"]
False
>>> with store.unit_of_work() as uow:
...     uow.records.get("student", "ann")["name"]
'Ann'
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import hmac
import json
import json.scanner
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from eduengine.errors import InvalidSetting, UnreadableData, WrongRegion
from eduengine.service_layer.ports import (
    CommitMark,
    IndexEntries,
    JsonValue,
    RecordRepository,
    UnitOfWork,
)

__all__ = [
    "CONTACT_FIELDS",
    "DATA_KEYS",
    "SEAL",
    "ContactFields",
    "InMemoryKeyProvider",
    "KeyFile",
    "KeyProvider",
    "LocalKeyProvider",
    "SealedRecords",
    "Sealer",
    "blind_index",
    "rewrap",
    "rotate_master_key",
    "seal_existing",
    "sealed_records",
]

#: the kind of the wrapped data keys, one document per subject
DATA_KEYS = "data_key"
#: the first stored format, one ciphertext per value: a sealed value sits in its place in
#: the document as ``{"$sealed": "<key tag>.<base64(nonce + ciphertext)>"}``, the tag
#: naming the data key that sealed it (still read; rewritten in the second on a put)
SEALED = "$sealed"
#: the second stored format, one ciphertext per subject per document: the sealed values
#: leave their places (``null`` there, so the document keeps its shape) for ``"$seal":
#: {"v": 2, "s": [{"p": "<paths>", "c": "<key tag>.<base64(nonce + ciphertext)>"}, ...]}``
#: (the ciphertext: the JSON list of the values at those comma-separated paths,
#: ``"phone,recipient.name,guardians.0.email"``; bound to the format, the key tag, the
#: subject, the document's kind and key and the paths); ``"mixed": 1`` when first-format
#: values the store could not open stay in place
SEAL = "$seal"
_FORMAT = 2
_NONCE = 12
_KID_INDEX = "kid:"


class KeyProvider(Protocol):
    """Where the master keys live: a key file for the embedded default
    (:class:`LocalKeyProvider`), a host's KMS in production (wrap and unwrap are the
    KMS's ``Encrypt``/``Decrypt`` of a data key; the master key never leaves it).

    ``wrap`` seals a data key under the current master key and says which one;
    ``unwrap`` opens it with the master key named (an old one after a rotation, until
    every data key was rewrapped); ``rotate`` makes a new master key current and returns
    its id; ``key_ids`` are every master key still held, current included;
    ``index_key`` is the secret of the blind indexes (never rotated: a blind index
    would have to be recomputed from clear values).
    """

    def current_key_id(self) -> str: ...

    def key_ids(self) -> list[str]: ...

    def wrap(self, data_key: bytes, subject: str) -> tuple[str, bytes]: ...

    def unwrap(self, key_id: str, wrapped: bytes, subject: str) -> bytes: ...

    def rotate(self) -> str: ...

    def index_key(self) -> bytes: ...


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


class LocalKeyProvider:
    """Master keys (AES-256) and the blind-index key held by this process, kept in a
    key file when ``path`` is given (JSON, created with mode 0600, replaced atomically on
    rotation; another process re-reads it when it meets a key id it does not know).

    The trade-off of the embedded default: a key file beside the database
    (:meth:`beside`) protects a copied or leaked database file, a dump, a backup taken
    without the key file, and makes crypto-shredding real; it does not protect against
    someone who can read the whole directory. Keep the key file elsewhere (another
    volume, a secret mount) or use a KMS-backed provider for that.

    >>> keys = LocalKeyProvider.generate()
    >>> kid, wrapped = keys.wrap(b"k" * 32, "ann")
    >>> keys.unwrap(kid, wrapped, "ann") == b"k" * 32
    True
    >>> keys.rotate() != kid and kid in keys.key_ids()
    True
    """

    def __init__(
        self,
        keys: Mapping[str, bytes],
        *,
        current: str,
        index_key: bytes,
        path: str | Path | None = None,
    ) -> None:
        if current not in keys:
            raise InvalidSetting(f"the current master key {current!r} is not among the keys")
        for kid, key in keys.items():
            if len(key) != 32:
                raise InvalidSetting(f"master key {kid!r} must be 32 bytes, got {len(key)}")
        if len(index_key) < 32:
            raise InvalidSetting("the blind-index key must be at least 32 bytes")
        self._keys = dict(keys)
        #: each master key's cipher, made when first used (a key schedule per unwrap
        #: otherwise), beside the key it was made from: used only while that very key
        #: is still held under its id (a retired key is never found here)
        self._ciphers: dict[str, tuple[bytes, AESGCM]] = {}
        self._current = current
        self._index_key = index_key
        self.path = None if path is None else Path(path)
        self._lock = threading.Lock()
        self._seen = self._stamp()

    @classmethod
    def generate(cls) -> LocalKeyProvider:
        """Fresh random keys, held in memory only (lost with the process)."""
        master = {"k1": AESGCM.generate_key(256)}
        return cls(master, current="k1", index_key=secrets.token_bytes(32))

    @classmethod
    def at(cls, path: str | Path) -> LocalKeyProvider:
        """The keys of the key file ``path``, which is created (mode 0600) with fresh keys
        if it does not exist."""
        path = Path(path)
        if not path.exists():
            fresh = cls.generate()
            text = json.dumps(fresh._file_doc()).encode()
            # written whole under a name of its own, then linked to ``path``: a process
            # that finds the file (another's migrate running at the same time) reads all
            # of it, never a file still being written
            tmp = path.with_name(path.name + f".{secrets.token_hex(4)}.tmp")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(text)
                    out.flush()
                    os.fsync(out.fileno())
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process made it first: read theirs
            except OSError as exc:
                raise InvalidSetting(f"cannot create key file {str(path)!r}: {exc}") from exc
            finally:
                with contextlib.suppress(OSError):
                    tmp.unlink()
        return cls(**cls._read(path), path=path)

    @classmethod
    def beside(cls, database: str | Path) -> LocalKeyProvider:
        """The key file of a SQLite database: ``<database>.keys`` next to it."""
        return cls.at(f"{database}.keys")

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        try:
            doc = json.loads(path.read_text("utf-8"))
            return {
                "keys": {kid: _unb64(k) for kid, k in doc["keys"].items()},
                "current": doc["current"],
                "index_key": _unb64(doc["index"]),
            }
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidSetting(f"cannot read key file {str(path)!r}: {exc}") from exc

    def _file_doc(self) -> dict[str, Any]:
        return {
            "version": 1,
            "current": self._current,
            "keys": {kid: _b64(k) for kid, k in self._keys.items()},
            "index": _b64(self._index_key),
        }

    def _save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_name(self.path.name + f".{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(json.dumps(self._file_doc()).encode())
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        self._seen = self._stamp()

    def _stamp(self) -> int | None:
        try:
            return None if self.path is None else self.path.stat().st_mtime_ns
        except OSError:
            return None

    def _reload(self) -> None:
        if self.path is not None and self.path.exists():
            self._seen = self._stamp()
            found = self._read(self.path)
            self._keys.update(found["keys"])
            self._current = found["current"]

    def current_key_id(self) -> str:
        return self._current

    def key_ids(self) -> list[str]:
        return sorted(self._keys)

    def wrap(self, data_key: bytes, subject: str) -> tuple[str, bytes]:
        if self.path is not None and self._stamp() != self._seen:
            with self._lock:
                self._reload()  # rotated by another process: wrap with its new key
        kid = self._current
        nonce = secrets.token_bytes(_NONCE)
        sealed = self._master(kid).encrypt(nonce, data_key, _aad(kid, subject))
        return kid, nonce + sealed

    def unwrap(self, key_id: str, wrapped: bytes, subject: str) -> bytes:
        if key_id not in self._keys:
            with self._lock:
                self._reload()  # rotated by another process
        master = self._master(key_id)
        try:
            return master.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], _aad(key_id, subject))
        except InvalidTag:
            raise UnreadableData(f"the data key of {subject!r} does not open") from None

    def _master(self, key_id: str) -> AESGCM:
        """The cipher of master key ``key_id`` (made once: a process unwraps a data key
        on each first read of a subject)."""
        key = self._keys.get(key_id)
        if key is None:
            raise UnreadableData(f"master key {key_id!r} is not held by this key provider")
        found = self._ciphers.get(key_id)
        if found is None or found[0] is not key:
            found = self._ciphers[key_id] = (key, AESGCM(key))
        return found[1]

    def rotate(self) -> str:
        with self._lock:
            self._reload()
            number = 1 + max(int(k[1:]) if k[1:].isdigit() else 0 for k in self._keys)
            kid = f"k{number}"
            self._keys[kid] = AESGCM.generate_key(256)
            self._current = kid
            self._save()
        return kid

    def retire(self, key_id: str) -> None:
        """Forget an old master key (once :func:`rotate_master_key` rewrapped every data
        key it wrapped)."""
        with self._lock:
            if key_id == self._current:
                raise InvalidSetting("the current master key cannot be retired")
            self._keys.pop(key_id, None)
            self._ciphers.pop(key_id, None)
            self._save()

    def index_key(self) -> bytes:
        return self._index_key


class InMemoryKeyProvider(LocalKeyProvider):
    """Random keys held in memory, for tests and the in-memory store.

    >>> InMemoryKeyProvider().current_key_id()
    'k1'
    """

    def __init__(self) -> None:
        fresh = LocalKeyProvider.generate()
        super().__init__(fresh._keys, current=fresh._current, index_key=fresh._index_key)


class KeyFile:
    """A key file opened when first needed: what ``SqliteStore(path)`` seals with by
    default (``<database>.keys``). Making the store touches no file; ``migrate()`` (or
    the first value sealed by a store migrated before it sealed) creates the key file,
    mode 0600, when ``may_create()`` says the database holds no sealed value. A missing
    key file beside a database that does hold some is refused (:class:`InvalidSetting`)
    instead of replaced: fresh keys would read every sealed contact as absent.

    >>> import tempfile
    >>> keys = KeyFile(f"{tempfile.mkdtemp()}/school.sqlite3.keys")
    >>> keys.path.exists(), keys.current_key_id(), keys.path.exists()
    (False, 'k1', True)
    """

    def __init__(self, path: str | Path, *, may_create: Callable[[], bool] = lambda: True) -> None:
        self.path = Path(path)
        self._may_create = may_create
        self._keys: LocalKeyProvider | None = None
        self._lock = threading.Lock()

    def open(self) -> LocalKeyProvider:
        """The keys of the file, creating it if it is absent and may be created."""
        found = self._keys
        if found is not None:
            return found
        with self._lock:
            if self._keys is None:
                if not self.path.exists() and not self._may_create():
                    raise InvalidSetting(
                        f"the key file {str(self.path)!r} is missing but the database holds "
                        "sealed contact values: restore the key file from its backup (without "
                        "it those values cannot be read), or name it with ?keys=/path/to/file"
                    )
                self._keys = LocalKeyProvider.at(self.path)
            return self._keys

    def current_key_id(self) -> str:
        return self.open().current_key_id()

    def key_ids(self) -> list[str]:
        return self.open().key_ids()

    def wrap(self, data_key: bytes, subject: str) -> tuple[str, bytes]:
        return self.open().wrap(data_key, subject)

    def unwrap(self, key_id: str, wrapped: bytes, subject: str) -> bytes:
        return self.open().unwrap(key_id, wrapped, subject)

    def rotate(self) -> str:
        return self.open().rotate()

    def retire(self, key_id: str) -> None:
        self.open().retire(key_id)

    def index_key(self) -> bytes:
        return self.open().index_key()


def _aad(kid: str, subject: str) -> bytes:
    return f"{kid}\x1f{subject}".encode()


# --- which fields are sealed ------------------------------------------------------------


@attrs.frozen
class ContactFields:
    """The contact fields of one record kind, and whose data key seals them.

    ``fields`` are paths: ``"phone"``, ``"recipient.name"`` (a field of a nested
    object), ``"guardians[].email"`` (a field of each object of a list). ``subject`` is
    the path of the subject's id (``"@key"``: the record key), optionally per list item
    (``"members[].student_id"``: each member's own key seals her fields), or the first
    present of several (``"sealed_for|holder_id"``); ``prefix``
    namespaces it (``"guardian:"``). A value whose data key was shredded reads as
    ``None``, or as ``shredded[field]``. ``blind_key``: the record key itself is a
    contact value, stored as its blind index.
    """

    kind: str
    fields: tuple[str, ...] = ()
    subject: str = "@key"
    prefix: str = ""
    shredded: Mapping[str, JsonValue] = attrs.field(factory=dict)
    blind_key: bool = False


#: what the library seals: names, phones, e-mails and birth dates of students and
#: guardians, guardian accounts, notices' recipients, staff contacts, payment accounts,
#: device ids and IPs of group deals, their risk log and the community
CONTACT_FIELDS: tuple[ContactFields, ...] = (
    ContactFields(
        "student",
        (
            "name",
            "phone",
            "email",
            "birth_date",
            "guardians[].name",
            "guardians[].phone",
            "guardians[].email",
        ),
    ),
    ContactFields(
        "guardian", ("name", "phone", "email"), prefix="guardian:", shredded={"name": ""}
    ),
    ContactFields(
        "notice",
        ("recipient.name", "recipient.phone", "recipient.email"),
        subject="recipient.student_id",
    ),
    ContactFields("notice_staff", ("name", "phone", "email"), prefix="staff:"),
    ContactFields("notice_head_teacher", ("name", "contact"), prefix="head_teacher:"),
    ContactFields(
        "group_deal",
        ("members[].account", "members[].device_id", "members[].ip"),
        subject="members[].student_id",
    ),
    ContactFields(
        "deal_risk_log",
        ("account", "device_id", "ip", "reasons"),
        subject="student_id",
        shredded={"reasons": []},
    ),
    # anti-abuse across groups: the value seen and the attempt's account, device and IP
    ContactFields("deal_sighting", ("value", "account", "device_id", "ip"), subject="student_id"),
    ContactFields("payment_account", ("account",)),
    ContactFields("payment_intent", ("account",), subject="student_id"),
    ContactFields("community_member", ("devices",), shredded={"devices": []}),
    ContactFields("community_post", ("device_id",), subject="author_id"),
    ContactFields("community_device", blind_key=True),
    # payment methods on file: the holder's key (a student's, or a guardian account's
    # ``guardian:<id>``, named by ``sealed_for``; rows written before it: ``holder_id``)
    ContactFields("payment_method", ("account",), subject="sealed_for|holder_id"),
    # the desk's consultation leads, before they are students
    ContactFields(
        "desk_lead",
        ("contact.name", "contact.phone", "contact.email", "contact.wechat"),
        prefix="lead:",
    ),
)


@functools.lru_cache(maxsize=256)
def _split(path: str) -> tuple[str, str, str]:
    """``"members[].account"`` -> ("members", "[]", "account"); ``"recipient.name"`` ->
    ("recipient", ".", "name"); ``"name"`` -> ("name", "", "")."""
    head, sep, rest = path.partition("[].")
    if sep:
        return head, "[]", rest
    head, sep, rest = path.partition(".")
    return (head, ".", rest) if sep else (path, "", "")


# --- the sealer -------------------------------------------------------------------------


class Sealer:
    """What a store shares between its units of work: the key provider, the contact
    fields, the store's region, and the data keys it has unwrapped (by wrapped bytes: a
    shredded key is never found again, since its wrapped form is read from the store)."""

    def __init__(
        self,
        keys: KeyProvider | None,
        *,
        region: str | None = None,
        fields: Iterable[ContactFields] = CONTACT_FIELDS,
        cached: int = 65536,
    ) -> None:
        if region is not None and (not isinstance(region, str) or not region.strip()):
            raise InvalidSetting(f"region must be a non-empty string, got {region!r}")
        self.keys = keys
        self.region = region
        self.fields: dict[str, ContactFields] = {} if keys is None else {f.kind: f for f in fields}
        #: the kinds whose subject is the record key itself: their data key can be read
        #: along with the document
        self.keyed = frozenset(
            kind
            for kind, spec in self.fields.items()
            if spec.subject == "@key" and not spec.blind_key
        )
        self._cached = cached
        self._unwrapped: OrderedDict[tuple[str, str], AESGCM] = OrderedDict()
        self._lock = threading.Lock()
        # read on the first blind index: a KeyFile is opened when first needed
        self._index_key: bytes | None = None

    def records(self, inner: RecordRepository) -> SealedRecords:
        return SealedRecords(inner, self)

    def blind(self, value: str) -> str:
        """The blind index of ``value``: a keyed hash, equal for equal values.

        >>> sealer = Sealer(InMemoryKeyProvider())
        >>> sealer.blind("phone-1") == sealer.blind("phone-1") != sealer.blind("phone-2")
        True
        """
        if self.keys is None:
            return value
        if self._index_key is None:
            self._index_key = self.keys.index_key()
        digest = hmac.new(self._index_key, value.encode(), hashlib.sha256).digest()
        return "bi:" + base64.urlsafe_b64encode(digest[:24]).decode("ascii")

    def cipher(self, doc: Mapping[str, Any], subject: str) -> AESGCM:
        """The data key of ``subject`` from its stored document."""
        assert self.keys is not None
        # by the wrapped key's stored text: a hit decodes nothing
        kid, wrapped = doc["kid"], doc["wrapped"]
        found = self._unwrapped.get((kid, wrapped))
        if found is not None:
            # each call is atomic: a hit takes no lock
            try:
                self._unwrapped.move_to_end((kid, wrapped))
            except KeyError:
                return found  # evicted meanwhile by another thread: still the right key
            return found
        cipher = AESGCM(self.keys.unwrap(kid, binascii.a2b_base64(wrapped), subject))
        with self._lock:
            self._unwrapped[kid, wrapped] = cipher
            if len(self._unwrapped) > self._cached:
                self._unwrapped.popitem(last=False)
        return cipher

    def new_key(self, subject: str) -> tuple[AESGCM, dict[str, Any]]:
        """A fresh data key for ``subject`` and its document (wrapped)."""
        assert self.keys is not None
        raw = AESGCM.generate_key(256)
        kid, wrapped = self.keys.wrap(raw, subject)
        cipher = AESGCM(raw)
        doc = {"kid": kid, "wrapped": _b64(wrapped), "tag": secrets.token_hex(4)}
        with self._lock:
            self._unwrapped[kid, doc["wrapped"]] = cipher
        return cipher, doc


def key_index(doc: Mapping[str, Any]) -> dict[str, int]:
    """A data key's index entry: filed by the master key that wrapped it (rotation
    finds those still to rewrap)."""
    return {_KID_INDEX + doc["kid"]: 0}


class SealedRecords:
    """A record repository that seals contact fields on ``put`` and opens them on
    ``get``, ``get_many`` and ``list``; everything else goes to ``inner`` unchanged."""

    def __init__(self, inner: RecordRepository, sealer: Sealer) -> None:
        self.inner = inner
        self.sealer = sealer
        self._peek: Callable[[str, str], dict[str, Any] | None] = getattr(inner, "peek", inner.get)
        # SQL adapters: documents and, in the same statement, their subjects' data keys
        self._beside: Callable[..., Any] | None = getattr(inner, "get_beside", None)
        self._many_beside: Callable[..., Any] | None = getattr(inner, "get_many_beside", None)
        self._mark: Callable[[], CommitMark | None] | None = getattr(inner, "commit_mark", None)
        # what this transaction learnt (a unit of work makes a fresh repository each
        # time it is entered): each subject's data key and tag (and the key documents
        # read along with a document, not yet needed), and each ciphertext it opened, so
        # a document read by several handlers of one command is opened once, and values
        # written back unchanged keep their ciphertext
        self._ciphers: dict[str, tuple[AESGCM, str] | None] = {}
        self._key_docs: dict[str, dict[str, Any] | None] = {}
        self._opened: dict[Any, tuple[str, Any]] = {}
        self._sealed: dict[tuple[str, str, str, str, str], str] = {}

    # --- the port ----------------------------------------------------------------------

    def get(self, kind: str, key: str) -> dict[str, JsonValue] | None:
        spec = self.sealer.fields.get(kind)
        if spec is None:
            return self.inner.get(kind, key)
        subject = spec.prefix + key
        if (
            self._beside is not None
            and kind in self.sealer.keyed
            and subject not in self._ciphers
            and subject not in self._key_docs
        ):
            # her data key comes with the document: no statement of its own
            doc, self._key_docs[subject] = self._beside(kind, key, DATA_KEYS, subject)
        else:
            doc = self.inner.get(kind, self._key(spec, key))
        return None if doc is None else self._open(spec, key, doc)

    def get_many(self, kind: str, keys: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        spec = self.sealer.fields.get(kind)
        many = getattr(self.inner, "get_many", None)
        wanted = sorted(set(keys))
        if spec is None and many is not None:
            found: dict[str, dict[str, Any] | None] = many(kind, wanted)
            return found
        beside = self._many_beside
        if beside is not None and spec is not None and kind in self.sealer.keyed:
            # the subjects' data keys come with the documents: no statement of their own
            subjects = {spec.prefix + key for key in wanted}
            known = self._ciphers.keys() | self._key_docs.keys()
            fresh = sorted(subjects - known)
            docs, key_docs = beside(kind, wanted, DATA_KEYS, fresh)
            self._key_docs.update(key_docs)
            return {k: None if d is None else self._open(spec, k, d) for k, d in docs.items()}
        if spec is None or spec.blind_key or many is None:
            return {key: self.get(kind, key) for key in wanted}
        docs = many(kind, wanted)
        return {k: None if d is None else self._open(spec, k, d) for k, d in docs.items()}

    @property
    def remembers(self) -> bool:
        """Whether the inner repository answers a document read again in this unit of
        work from memory (SQLite): reading ahead through it then saves statements."""
        return bool(getattr(self.inner, "remembers", False))

    def get_across(
        self, wanted: Mapping[str, Iterable[str]]
    ) -> dict[tuple[str, str], dict[str, Any] | None]:
        """``get_many`` of several kinds at once, opened: one query where the inner
        repository can (kinds keyed by a blind index are read by ``get_many``)."""
        across = getattr(self.inner, "get_across", None)
        blind = self._blind_kinds(wanted)
        found: dict[tuple[str, str], dict[str, Any] | None] = {}
        rest = set(wanted)
        if across is not None:
            rows = across({kind: keys for kind, keys in wanted.items() if kind not in blind})
            for (kind, key), doc in rows.items():
                spec = self.sealer.fields.get(kind)
                opened = doc if doc is None or spec is None else self._open(spec, key, doc)
                found[kind, key] = opened
            rest = blind
        for kind in sorted(rest):
            for key, doc in self.get_many(kind, wanted[kind]).items():
                found[kind, key] = doc
        return found

    def _blind_kinds(self, wanted: Iterable[str]) -> set[str]:
        """The kinds of ``wanted`` keyed by a blind index (read by ``get_many``, never
        across kinds)."""
        return {
            kind
            for kind in wanted
            if (spec := self.sealer.fields.get(kind)) is not None and spec.blind_key
        }

    def hold_across(self, wanted: Mapping[str, Iterable[str]]) -> None:
        """``get_across`` for a read-ahead that drops what it gets: the inner repository
        reads and remembers the documents (where it can hold them unparsed), and none is
        opened here (the command's own ``get`` opens the one it reads)."""
        hold = getattr(self.inner, "hold_across", None)
        if hold is None:
            self.get_across(wanted)
            return
        blind = self._blind_kinds(wanted)
        hold({kind: keys for kind, keys in wanted.items() if kind not in blind})
        for kind in sorted(blind):
            self.get_many(kind, wanted[kind])

    def commit_mark(self) -> CommitMark | None:
        """The inner repository's ``commit_mark`` (``None`` where it has none)."""
        mark = self._mark
        return None if mark is None else mark()

    @property
    def reads_ahead(self) -> bool:
        """Whether the inner repository's ``read_ahead`` reads (PostgreSQL, read-only)."""
        return bool(getattr(self.inner, "reads_ahead", False))

    def read_ahead(self, wanted: Mapping[str, Iterable[str]]) -> bool:
        """The inner repository's ``read_ahead`` (``False`` where it has none), under the
        keys the documents are stored by; each is opened when it is read."""
        ahead = getattr(self.inner, "read_ahead", None)
        if ahead is None:
            return False
        fields, keyed = self.sealer.fields, self.sealer.keyed
        stored: dict[str, list[str]] = {}
        subjects: list[str] = []
        for kind, keys in wanted.items():
            spec = fields.get(kind)
            keys = list(keys)
            stored[kind] = (
                keys
                if spec is None or not spec.blind_key
                else [self._key(spec, key) for key in keys]
            )
            if spec is not None and kind in keyed:
                # each document's data key comes along, as ``get`` would read it beside it
                subjects.extend(s for key in keys if (s := spec.prefix + key) not in self._ciphers)
        if subjects and DATA_KEYS not in stored:
            stored[DATA_KEYS] = subjects
        return bool(ahead(stored))

    def put(
        self,
        kind: str,
        key: str,
        data: dict[str, JsonValue],
        *,
        index: Mapping[str, int] | None = None,
    ) -> None:
        if kind == "student" and self.sealer.region is not None:
            data = self._resident(key, data)
        spec = self.sealer.fields.get(kind)
        if spec is not None:
            data = self._seal(spec, key, data)
            key = self._key(spec, key)
        self.inner.put(kind, key, data, index=index)

    def put_many(self, kind: str, docs: Mapping[str, dict[str, Any]]) -> None:
        """``put`` of each document of ``docs`` without index entries, sealed, in one
        statement where the inner repository can (projection checkpoints)."""
        spec = self.sealer.fields.get(kind)
        if spec is not None or (kind == "student" and self.sealer.region is not None):
            for key in sorted(docs):
                self.put(kind, key, docs[key])
            return
        many = getattr(self.inner, "put_many", None)
        if many is None:
            for key in sorted(docs):
                self.inner.put(kind, key, docs[key])
            return
        many(kind, docs)

    def delete(self, kind: str, key: str) -> None:
        spec = self.sealer.fields.get(kind)
        self.inner.delete(kind, key if spec is None else self._key(spec, key))

    def list(self, kind: str) -> list[tuple[str, dict[str, JsonValue]]]:
        spec = self.sealer.fields.get(kind)
        rows = self.inner.list(kind)
        if spec is None:
            return rows
        return [(k, self._open(spec, k, d)) for k, d in rows]

    def scan(
        self,
        kind: str,
        index: str,
        *,
        lo: int | None = None,
        hi: int | None = None,
        limit: int | None = None,
        descending: bool = False,
    ) -> IndexEntries:
        return self.inner.scan(kind, index, lo=lo, hi=hi, limit=limit, descending=descending)

    def count(self, kind: str, index: str, *, lo: int | None = None, hi: int | None = None) -> int:
        return self.inner.count(kind, index, lo=lo, hi=hi)

    def scan_ahead(self, kind: str, indexes: Iterable[str]) -> None:
        """The inner repository's ``scan_ahead`` (nothing where it has none)."""
        ahead = getattr(self.inner, "scan_ahead", None)
        if ahead is not None:
            ahead(kind, indexes)

    # --- beyond the port ---------------------------------------------------------------

    def peek(self, kind: str, key: str) -> dict[str, JsonValue] | None:
        """``get`` without taking the document's lock (where the adapter can)."""
        return self._peek(kind, key)

    def shred(self, subject: str) -> int:
        """Delete ``subject``'s data key: every value sealed with it becomes unreadable,
        wherever a copy of it lies. Returns 1 if there was a key."""
        self._ciphers.pop(subject, None)
        self._key_docs.pop(subject, None)
        self._opened.clear()
        self._sealed.clear()
        if self.inner.get(DATA_KEYS, subject) is None:
            return 0
        self.inner.delete(DATA_KEYS, subject)
        return 1

    def blind(self, value: str) -> str:
        """The blind index of ``value`` (see :meth:`Sealer.blind`)."""
        return self.sealer.blind(value)

    # --- internals ---------------------------------------------------------------------

    def _key(self, spec: ContactFields, key: str) -> str:
        return self.sealer.blind(key) if spec.blind_key else key

    def _resident(self, key: str, data: dict[str, JsonValue]) -> dict[str, JsonValue]:
        region = data.get("region")
        store_region = self.sealer.region
        assert store_region is not None
        if region is None:
            return {**data, "region": store_region}
        if region != store_region:
            raise WrongRegion(key, str(region), store_region)
        return data

    def _cipher(self, subject: str, *, create: bool) -> tuple[AESGCM, str] | None:
        """The subject's data key and its tag (which sealed values carry, so a value
        sealed by a shredded key is known as such after a new key was made)."""
        if subject in self._ciphers and (self._ciphers[subject] is not None or not create):
            return self._ciphers[subject]
        if subject in self._key_docs:
            doc = self._key_docs.pop(subject)  # read along with the document
        else:
            doc = self._peek(DATA_KEYS, subject)
        if doc is None and create:
            doc = self.inner.get(DATA_KEYS, subject)  # locked: one writer makes it
            if doc is None:
                _, doc = self.sealer.new_key(subject)
                self.inner.put(DATA_KEYS, subject, doc, index=key_index(doc))
        found = None if doc is None else (self.sealer.cipher(doc, subject), doc.get("tag", ""))
        self._ciphers[subject] = found
        return found

    def _transform(
        self,
        spec: ContactFields,
        key: str,
        doc: dict[str, Any],
        change: Callable[[Any, str, str, str], Any],
    ) -> dict[str, Any]:
        """``doc`` with each value of the spec's fields replaced by ``change(value,
        subject, field, path)``: its subject (whose key seals it), its field's name and
        its place in the document (``name``, ``guardian.phone``, ``guardians.0.phone``)."""
        out = dict(doc)
        whole = None if "[]" in spec.subject else _subject(spec, key, doc)
        for path in spec.fields:
            head, sep, rest = _split(path)
            if sep == "":
                if out.get(head) is not None and whole is not None:
                    out[head] = change(out[head], whole, head, head)
            elif sep == ".":
                inner = out.get(head)
                if isinstance(inner, dict) and inner.get(rest) is not None and whole is not None:
                    out[head] = {**inner, rest: change(inner[rest], whole, rest, path)}
            else:
                items = out.get(head)
                if not isinstance(items, list):
                    continue
                own = spec.subject.partition("[].")[2] if whole is None else ""
                changed = []
                for at, item in enumerate(items):
                    if isinstance(item, dict) and item.get(rest) is not None:
                        subject = whole if whole is not None else item.get(own)
                        if whole is None and isinstance(subject, str):
                            subject = spec.prefix + subject
                        if isinstance(subject, str):
                            place = f"{head}.{at}.{rest}"
                            item = {**item, rest: change(item[rest], subject, rest, place)}
                    changed.append(item)
                out[head] = changed
        return out

    def _seal(self, spec: ContactFields, key: str, doc: dict[str, Any]) -> dict[str, Any]:
        """``doc`` as stored, in the second format: its sealed values gathered by subject
        and sealed once per subject (a first-format value, one this transaction could not
        open, stays in its place as it is)."""
        body = dict(doc)
        header = body.pop(SEAL, None)
        # entries of a document opened with ``keep`` (``seal_existing``): those of a
        # shredded key stay as they are
        kept = header.get("s", []) if isinstance(header, dict) else []
        groups: dict[str, tuple[list[str], list[Any]]] = {}
        mixed = False

        def gather(value: Any, subject: str, field: str, path: str) -> Any:
            nonlocal mixed
            if isinstance(value, dict) and SEALED in value:
                mixed = True
                return value
            paths, values = groups.setdefault(subject, ([], []))
            paths.append(path)
            values.append(value)
            return None

        out = self._transform(spec, key, body, gather)
        if not groups and not kept:
            return out
        taken = {path for paths, _ in groups.values() for path in paths}
        entries = [
            entry
            for entry in kept
            if isinstance(entry, dict) and not taken.intersection(str(entry.get("p")).split(","))
        ]
        for subject, (paths, values) in groups.items():
            joined = ",".join(paths)
            sealed = self._seal_values(spec, key, subject, joined, values)
            entries.append({"p": joined, "c": sealed})
        # in the order of their paths: a document opened and sealed again unchanged is
        # stored as it was
        entries.sort(key=lambda entry: str(entry.get("p")))
        out[SEAL] = {"v": _FORMAT, "s": entries, **({"mixed": 1} if mixed else {})}
        return out

    def _seal_values(
        self,
        spec: ContactFields,
        key: str,
        subject: str,
        paths: str,
        values: Sequence[Any],
    ) -> str:
        text = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
        known = self._sealed.get((spec.kind, key, subject, paths, text))
        if known is not None:
            return known  # unchanged since this transaction opened it
        found = self._cipher(subject, create=True)
        assert found is not None
        cipher, tag = found
        nonce = secrets.token_bytes(_NONCE)
        aad = _document_aad(tag, subject, spec.kind, key, paths)
        raw = nonce + cipher.encrypt(nonce, text.encode(), aad)
        return f"{tag}.{binascii.b2a_base64(raw, newline=False).decode('ascii')}"

    def _open(
        self, spec: ContactFields, key: str, doc: dict[str, Any], *, keep: bool = False
    ) -> dict[str, Any]:
        """``doc`` with its sealed values in clear, opened in place (``doc`` is the
        caller's to give); a value whose data key was shredded reads as
        ``spec.shredded[field]``, or with ``keep`` stays as stored (``seal_existing``)."""
        header = doc.pop(SEAL, None)
        if header is None:
            return self._open_fields(spec, key, doc, keep=keep)
        try:
            version, entries = header["v"], header["s"]
        except (TypeError, KeyError):
            raise UnreadableData(f"{spec.kind}/{key} holds a malformed {SEAL!r}") from None
        if version != _FORMAT:
            raise UnreadableData(f"{spec.kind}/{key} is sealed in an unknown format {version!r}")
        if spec.subject == "@key":
            whole: str | None = spec.prefix + key
        else:
            whole = None if "[]" in spec.subject else _subject(spec, key, doc)
        kept = []
        for entry in entries:
            try:
                paths, sealed = entry["p"], entry["c"]
                plan = _plan(paths)
            except (TypeError, KeyError, ValueError):
                raise UnreadableData(f"{spec.kind}/{key} holds a malformed {SEAL!r}") from None
            subject = whole if whole is not None else _own_subject(spec, doc, plan[0])
            values = (
                None if subject is None else self._open_values(spec, key, subject, paths, sealed)
            )
            if values is None:  # crypto-shredded (a new key may follow)
                if keep:
                    kept.append(entry)
                    continue
                values = [spec.shredded.get(field) for _, _, _, field in plan]
            elif len(values) != len(plan):
                raise UnreadableData(f"the sealed values of {spec.kind}/{key} do not fit")
            try:
                for (head, at, rest, _), value in zip(plan, values, strict=True):
                    if at is None:
                        doc[head] = value
                    elif rest is None:
                        doc[head][at] = value
                    else:
                        doc[head][at][rest] = value
            except (KeyError, IndexError, TypeError):
                raise UnreadableData(
                    f"{spec.kind}/{key} has no place for its sealed values {paths!r}"
                ) from None
        if kept:
            doc[SEAL] = {"v": _FORMAT, "s": kept}
        if header.get("mixed"):
            return self._open_fields(spec, key, doc, keep=keep)
        return doc

    def _open_values(
        self, spec: ContactFields, key: str, subject: str, paths: str, sealed: str
    ) -> Sequence[Any] | None:
        """The values of one entry (``None``: its data key was shredded)."""
        memo = (spec.kind, key, subject, sealed)
        known = self._opened.get(memo)
        if known is not None:
            text, values = known
            # strings and numbers are immutable: shared; a list or an object: a fresh copy
            return values if values is not None else _scan(text, 0)[0]  # type: ignore[no-any-return]
        found = self._cipher(subject, create=False)
        tag, _, body = sealed.partition(".")
        if found is None or found[1] != tag:
            return None
        try:
            raw = binascii.a2b_base64(body)
            opened = found[0].decrypt(
                raw[:_NONCE], raw[_NONCE:], _document_aad(tag, subject, spec.kind, key, paths)
            )
            text = opened.decode()
            values, end = _scan(text, 0)
        except (InvalidTag, ValueError, StopIteration):  # binascii.Error is a ValueError
            raise UnreadableData(
                f"the sealed values of {spec.kind}/{key} do not open with {subject!r}'s key"
            ) from None
        if end != len(text) or not isinstance(values, list):
            raise UnreadableData(f"the sealed values of {spec.kind}/{key} are malformed")
        # no nested list or object (a bracket inside a string only costs a parse)
        shared = "{" not in text and text.count("[") == 1
        self._opened[memo] = (text, values if shared else None)
        self._sealed[spec.kind, key, subject, paths, text] = sealed
        return values

    def _open_fields(
        self, spec: ContactFields, key: str, doc: dict[str, Any], *, keep: bool = False
    ) -> dict[str, Any]:
        """Open the values of the first stored format, one ciphertext each."""

        def open_(value: Any, subject: str, field: str, path: str) -> Any:
            if not (isinstance(value, dict) and SEALED in value):
                return value  # written before the store sealed, or not sealed
            whole = str(value[SEALED])
            known = self._opened.get(whole)
            if known is not None:
                text, parsed = known
                # a string is immutable: shared; a list or an object: a fresh copy
                return parsed if isinstance(parsed, str) else json.loads(text)
            found = self._cipher(subject, create=False)
            tag, _, sealed = whole.rpartition(".")
            if found is None or found[1] != tag:
                # crypto-shredded (a new key may follow)
                return value if keep else spec.shredded.get(field)
            raw = binascii.a2b_base64(sealed)
            try:
                opened = found[0].decrypt(raw[:_NONCE], raw[_NONCE:], subject.encode())
            except InvalidTag:
                raise UnreadableData(
                    f"a sealed {field!r} of {spec.kind}/{key} does not open with {subject!r}'s key"
                ) from None
            text = opened.decode()
            # most sealed values are plain strings: no JSON parser needed for those
            plain = text[0] == '"' and "\\" not in text
            parsed = text[1:-1] if plain else json.loads(text)
            self._opened[whole] = (text, parsed)
            return parsed if isinstance(parsed, str) else json.loads(text)

        return self._transform(spec, key, doc, open_)


#: the JSON decoder's scanner without ``json.loads``' wrappers (a sealed plaintext is
#: compact JSON written by :meth:`SealedRecords._seal_values`)
_scan: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    json.JSONDecoder()  # type: ignore[arg-type]
)


def _document_aad(tag: str, subject: str, kind: str, key: str, paths: str) -> bytes:
    """What a second-format ciphertext is bound to: moved to another subject, document or
    place, or sealed under another key, it does not open."""
    return f"{_FORMAT}\x1f{tag}\x1f{subject}\x1f{kind}\x1f{key}\x1f{paths}".encode()


@functools.lru_cache(maxsize=4096)
def _plan(paths: str) -> tuple[tuple[str, Any, Any, str], ...]:
    """Where an entry's values go, and their field names: ``"phone,recipient.name,
    guardians.0.email"`` -> ``("phone", None, None, "phone"), ("recipient", "name", None,
    "name"), ("guardians", 0, "email", "email")``."""
    plan: list[tuple[str, Any, Any, str]] = []
    for path in paths.split(","):
        parts = path.split(".")
        if len(parts) == 1:
            plan.append((path, None, None, path))
        elif len(parts) == 2:
            plan.append((parts[0], parts[1], None, parts[1]))
        elif len(parts) == 3:
            plan.append((parts[0], int(parts[1]), parts[2], parts[2]))
        else:
            raise ValueError(f"not a sealed value's path: {path!r}")
    return tuple(plan)


def _own_subject(
    spec: ContactFields, doc: Mapping[str, Any], step: tuple[str, Any, Any, str]
) -> str | None:
    """The subject of a list item's values (``"members[].student_id"``)."""
    own = spec.subject.partition("[].")[2]
    try:
        subject = doc[step[0]][step[1]].get(own)
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    return spec.prefix + subject if isinstance(subject, str) else None


def _subject(spec: ContactFields, key: str, doc: Mapping[str, Any]) -> str | None:
    if spec.subject == "@key":
        return spec.prefix + key
    # ``"a|b"``: the first of the paths the document has (a field added later, ``a``,
    # and the one older rows were sealed under, ``b``)
    for path in spec.subject.split("|"):
        head, sep, rest = _split(path)
        value = doc.get(head)
        if sep == "." and isinstance(value, dict):
            value = value.get(rest)
        if isinstance(value, str):
            return spec.prefix + value
    # a document without its subject (a charge of no student): its own key seals it
    return f"{spec.kind}:{key}"


# --- jobs ------------------------------------------------------------------------------


def sealed_records(uow: UnitOfWork) -> SealedRecords | None:
    """The unit of work's sealing repository, if its store seals."""
    records = uow.records
    return records if isinstance(records, SealedRecords) else None


def blind_index(records: RecordRepository, value: str) -> str | None:
    """The keyed blind index of ``value`` if ``records`` seal with keys (``None``: the
    store has no index key, and the caller keeps its own unkeyed form).

    >>> from eduengine import InMemoryStore
    >>> with InMemoryStore(keys=InMemoryKeyProvider()).unit_of_work() as u:
    ...     blind_index(u.records, "dev-1").startswith("bi:")
    True
    >>> with InMemoryStore().unit_of_work() as u:
    ...     blind_index(u.records, "dev-1") is None
    True
    """
    if isinstance(records, SealedRecords) and records.sealer.keys is not None:
        return records.blind(value)
    return None


def seal_existing(uow: Callable[[], UnitOfWork], *, batch: int = 500) -> int:
    """Seal the contact values a store holds in clear (written before it had keys),
    ``batch`` documents per unit of work, keeping each document's index entries; a
    blind-keyed document (a community device) moves under its blind index. Returns how
    many documents changed; running it again changes nothing.

    >>> from eduengine import InMemoryStore
    >>> keys = InMemoryKeyProvider()
    >>> plain = InMemoryStore()
    >>> with plain.unit_of_work() as u:
    ...     u.records.put("payment_account", "ann", {"account": "acct-1"}); u.commit()
    >>> store = InMemoryStore(keys=keys)
    >>> store.records = plain.records  # the same documents, now with keys
    >>> seal_existing(store.unit_of_work), seal_existing(store.unit_of_work)
    (1, 0)
    >>> "acct-1" in store.records["payment_account"]["ann"]
    False
    """
    with uow() as u:
        sealed = sealed_records(u)
        if sealed is None or sealed.sealer.keys is None:
            raise InvalidSetting("this store has no keys: give it a key provider to seal with")
        specs = list(sealed.sealer.fields.values())
    changed = 0
    for spec in specs:
        with uow() as u:
            found = sealed_records(u)
            assert found is not None
            keys = [k for k, _ in found.inner.list(spec.kind)]
        for start in range(0, len(keys), batch):
            with uow() as u:
                found = sealed_records(u)
                assert found is not None
                for key in keys[start : start + batch]:
                    changed += _seal_one(found, spec, key)
                scrub = getattr(u, "scrub_on_commit", None)
                if callable(scrub):
                    scrub()  # SQLite: the clear versions leave the WAL too
                u.commit()
    return changed


def _seal_one(records: SealedRecords, spec: ContactFields, key: str) -> int:
    inner = records.inner
    doc = inner.get(spec.kind, key)
    if doc is None:
        return 0
    if spec.blind_key:
        if key.startswith("bi:"):
            return 0
        blind = records.blind(key)
        target = inner.get(spec.kind, blind) or {}
        merged: dict[str, Any] = dict(doc)
        for name, value in target.items():  # a later write under the blind key: both kept
            if isinstance(value, list) and isinstance(doc.get(name), list):
                merged[name] = value + [v for v in doc[name] if v not in value]
            else:
                merged[name] = value
        inner.put(spec.kind, blind, merged)
        inner.delete(spec.kind, key)
        return 1
    # opened (a copy: ``_open`` opens in place) and sealed again: values in clear and
    # first-format ones that open move into the second format; a document in it already
    # comes out as it went in (its ciphertexts kept), as do values of a shredded key
    clear = records._open(spec, key, json.loads(json.dumps(doc)), keep=True)
    sealed = records._seal(spec, key, clear)
    if sealed == doc:
        return 0
    rewrite = getattr(inner, "rewrite", None)
    if not callable(rewrite):
        raise InvalidSetting(f"this store cannot rewrite a document in place: {inner!r}")
    rewrite(spec.kind, key, sealed)
    return 1


def rotate_master_key(uow: Callable[[], UnitOfWork], keys: KeyProvider, *, batch: int = 500) -> int:
    """Make a new master key current and rewrap every data key with it, ``batch`` keys
    per unit of work (records stay readable throughout: an old master key still opens
    what it wrapped until it is retired). Returns how many data keys were rewrapped.

    >>> from eduengine import InMemoryStore
    >>> keys = InMemoryKeyProvider()
    >>> store = InMemoryStore(keys=keys)
    >>> with store.unit_of_work() as u:
    ...     u.records.put("payment_account", "ann", {"account": "acct-1"}); u.commit()
    >>> rotate_master_key(store.unit_of_work, keys), keys.current_key_id()
    (1, 'k2')
    >>> with store.unit_of_work() as u:
    ...     u.records.get("payment_account", "ann")["account"]
    'acct-1'
    """
    keys.rotate()
    return rewrap(uow, keys, batch=batch)


def rewrap(uow: Callable[[], UnitOfWork], keys: KeyProvider, *, batch: int = 500) -> int:
    """Rewrap with the current master key every data key an older one wraps (what
    :func:`rotate_master_key` does after rotating; resumable after a crash)."""
    current = keys.current_key_id()
    moved = 0
    for old in keys.key_ids():
        if old == current:
            continue
        while True:
            with uow() as u:
                records = u.records.inner if isinstance(u.records, SealedRecords) else u.records
                found = records.scan(DATA_KEYS, _KID_INDEX + old, limit=batch)
                for subject, _ in found:
                    doc = records.get(DATA_KEYS, subject)
                    if doc is None or doc["kid"] != old:
                        continue
                    raw = keys.unwrap(old, _unb64(doc["wrapped"]), subject)
                    kid, wrapped = keys.wrap(raw, subject)
                    fresh = {**doc, "kid": kid, "wrapped": _b64(wrapped)}
                    records.put(DATA_KEYS, subject, fresh, index=key_index(fresh))
                    moved += 1
                u.commit()
            if len(found) < batch:
                break
    return moved
