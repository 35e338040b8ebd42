"""A store from a URL: how a deployment names its database in one setting.

``sqlite:///school.sqlite3`` (a path relative to the working directory),
``sqlite:////var/lib/school/school.sqlite3`` (absolute: four slashes),
``postgresql://user@host:5432/db`` (``postgres://`` too) and ``memory://`` (a fresh
in-memory store, for trials). Store settings ride in the query string:
``?lock_timeout=5`` for every store, plus ``schema=``, ``min_size=`` and ``max_size=``
for PostgreSQL (every other query parameter goes to libpq unchanged, e.g.
``sslmode=require``). ``?keys=`` seals contact fields (docs/privacy.md): a SQLite store
seals by default with the key file beside its database (``keys=local``, created by the
first ``migrate``); ``keys=local:/path/to/file`` (or ``keys=/path/to/file``) names a key
file (created if absent) for any store; ``keys=off`` seals nothing (a PostgreSQL URL
without ``keys=`` seals nothing too, and says so once in the log); ``?region=cn`` keeps a
store to one region's students. Every
store a URL names writes its events to the event feed; ``?outbox=`` is accepted and
ignored (deprecated: ``outbox=false`` warns once).

>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> store = store_from_url(f"sqlite:///{folder}/school.sqlite3?lock_timeout=2")
>>> type(store).__name__, store.lock_timeout
('SqliteStore', 2.0)
>>> store_from_url("mysql://db/school")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
eduengine.errors.InvalidSetting: unknown store URL scheme 'mysql' in 'mysql://db/school': ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from eduengine.adapters.memory import InMemoryStore
from eduengine.adapters.settings import LOCAL_KEYS, NO_KEYS
from eduengine.adapters.sqlite import SqliteStore
from eduengine.errors import InvalidSetting
from eduengine.service_layer.crypto import InMemoryKeyProvider, LocalKeyProvider

if TYPE_CHECKING:  # for the type only: psycopg is the optional ``postgres`` extra
    from eduengine.adapters.postgres import PostgresStore

#: every store :func:`store_from_url` can make
Store: TypeAlias = "InMemoryStore | SqliteStore | PostgresStore"

#: the environment variable the command line reads when ``--store`` is not given
ENV_VAR = "EDUENGINE_STORE"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _number(url: str, name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InvalidSetting(f"{name}={text!r} in store URL {url!r} is not a number") from None


def _count(url: str, name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidSetting(f"{name}={text!r} in store URL {url!r} is not a whole number") from (
            None
        )


def _flag(url: str, name: str, text: str) -> bool:
    if text.lower() in _TRUE | _FALSE:
        return text.lower() in _TRUE
    raise InvalidSetting(f"{name}={text!r} in store URL {url!r}: use true or false")


def store_from_url(url: str) -> Store:
    """The store a URL names (nothing is opened yet: call ``migrate()`` or use it).

    Raises :class:`~eduengine.errors.InvalidSetting` for an unknown scheme, a malformed
    path or a bad setting, and :class:`~eduengine.errors.StoreNotFound` for a SQLite file
    in a directory that does not exist. The URL's password is never put in an error.
    """
    if not isinstance(url, str) or "://" not in url:
        raise InvalidSetting(
            f"a store URL looks like sqlite:///path, postgresql://... or memory://, got {url!r}"
        )
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    shown = _without_password(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    ours: dict[str, object] = {}
    if "lock_timeout" in params:
        ours["lock_timeout"] = _number(shown, "lock_timeout", params.pop("lock_timeout"))
    if "region" in params:
        ours["region"] = params.pop("region")
    keys = params.pop("keys", None)
    if scheme in {"sqlite", "memory"} and set(params) - {"outbox"}:
        raise InvalidSetting(
            f"unknown setting(s) {sorted(set(params) - {'outbox'})} in store URL {shown!r}"
        )
    if "outbox" in params:
        # deprecated and ignored (the feed is always on); the store warns about false
        ours["outbox"] = _flag(shown, "outbox", params.pop("outbox"))
    if scheme == "memory":
        if parts.netloc or parts.path or params:
            raise InvalidSetting(f"memory:// takes no path or settings but lock_timeout: {shown!r}")
        if keys is not None and keys != NO_KEYS:
            ours["keys"] = InMemoryKeyProvider() if keys == "memory" else _key_file(shown, keys)
        return InMemoryStore(**ours)  # type: ignore[arg-type]
    if scheme == "sqlite":
        if parts.netloc:
            raise InvalidSetting(
                f"{shown!r} names a host; a SQLite URL is sqlite:///relative/path or "
                "sqlite:////absolute/path"
            )
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if not path:
            raise InvalidSetting(f"{shown!r} names no file: use sqlite:///path/to/file")
        if keys is not None and keys not in {LOCAL_KEYS, NO_KEYS}:
            ours["keys"] = _key_file(shown, keys)
        elif keys == NO_KEYS:
            ours["keys"] = NO_KEYS
        return SqliteStore(path, **ours)  # type: ignore[arg-type]
    if scheme in {"postgresql", "postgres"}:
        try:  # here, not at the top: psycopg is the optional ``postgres`` extra
            from eduengine.adapters.postgres import PostgresStore
        except ImportError as exc:
            raise InvalidSetting(
                f"{shown!r} needs the PostgreSQL driver: pip install 'eduengine[postgres]' ({exc})"
            ) from exc
        for name in ("min_size", "max_size"):
            if name in params:
                ours[name] = _count(shown, name, params.pop(name))
        if "schema" in params:
            ours["schema"] = params.pop("schema")
        if keys is not None:
            ours["keys"] = NO_KEYS if keys == NO_KEYS else _key_file(shown, keys)
        dsn = urlunsplit(parts._replace(query=urlencode(params)))
        return PostgresStore(dsn, **ours)  # type: ignore[arg-type]
    raise InvalidSetting(
        f"unknown store URL scheme {parts.scheme!r} in {shown!r}: use sqlite:///path, "
        "postgresql://... or memory://"
    )


def _key_file(url: str, keys: str) -> LocalKeyProvider:
    """The key file ``keys`` names, ``local:/path`` or ``/path`` (created with fresh
    keys if absent)."""
    path = keys.removeprefix(LOCAL_KEYS + ":")
    if path in {"", "local", "memory"}:
        raise InvalidSetting(
            f"keys={keys!r} in store URL {url!r}: use keys=local (SQLite: a key file beside "
            "the database), keys=local:/path/to/key/file, keys=memory (memory://) or keys=off"
        )
    return LocalKeyProvider.at(path)


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
