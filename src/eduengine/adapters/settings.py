"""Checks of store settings, shared by every adapter: a bad setting is refused when the
store is made, not discovered as an odd failure under load.

>>> lock_timeout(2)
2.0
>>> lock_timeout(-1)
Traceback (most recent call last):
...
eduengine.errors.InvalidSetting: lock_timeout must be a finite number of seconds > 0, got -1
"""

from __future__ import annotations

import logging
import math
import warnings
import weakref
from collections.abc import Callable

from eduengine.errors import InvalidSetting
from eduengine.kernel.deprecation import EduEngineDeprecationWarning
from eduengine.service_layer.crypto import (
    InMemoryKeyProvider,
    KeyFile,
    KeyProvider,
    Sealer,
)

log = logging.getLogger("eduengine.adapters")


def lock_timeout(value: object, name: str = "lock_timeout") -> float:
    """``value`` as seconds, refusing anything but a finite number above zero (PostgreSQL
    reads a zero lock timeout as "wait for ever")."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidSetting(f"{name} must be a finite number of seconds > 0, got {value!r}")
    return float(value)


def flag(value: object, name: str) -> bool:
    """``value`` if it is a bool (a string such as ``"false"`` would read as true)."""
    if not isinstance(value, bool):
        raise InvalidSetting(f"{name} must be True or False, got {value!r}")
    return value


#: what a store built with ``outbox=False`` is told, once per process
OUTBOX_IGNORED = "the event feed is always on; outbox= is ignored and will be removed in 0.4"
_outbox_warned = False


def outbox(value: object) -> bool:
    """Always ``True``: every store writes its committed events to the event feed (its
    ``outbox`` attribute stays for hosts that read it). ``False`` asked for a store that
    commits without a feed, which no store is any more: it is ignored with one
    :class:`DeprecationWarning` per process; ``True`` or nothing says what every store
    does. A value that is not a bool is still refused.

    >>> outbox(None), outbox(True)
    (True, True)
    """
    global _outbox_warned
    if value is None:
        return True
    flag(value, "outbox")
    if value is False and not _outbox_warned:
        _outbox_warned = True
        # stacklevel 3: the line that built the store, not the store's constructor
        warnings.warn(OUTBOX_IGNORED, EduEngineDeprecationWarning, stacklevel=3)
    return True


#: ``keys=`` of a store that keeps its key file beside its database (SQLite's default)
LOCAL_KEYS = "local"
#: ``keys=`` of a store that seals nothing (an explicit choice: contacts in clear)
NO_KEYS = "off"


def local_keys(
    keys: KeyProvider | str | None, database: str, may_create: Callable[[], bool]
) -> KeyProvider | None:
    """What a SQLite store seals with: ``"local"`` the key file ``<database>.keys``
    (opened when first needed, see :class:`~eduengine.service_layer.crypto.KeyFile`;
    keys in the process for ``":memory:"``), ``"off"`` or ``None`` nothing, a provider
    itself.

    >>> local_keys("off", "school.sqlite3", lambda: True) is None
    True
    >>> local_keys("local", "school.sqlite3", lambda: True).path.name
    'school.sqlite3.keys'
    """
    if keys is None or keys == NO_KEYS:
        return None
    if keys == LOCAL_KEYS:
        if database == ":memory:":
            return InMemoryKeyProvider()
        return KeyFile(f"{database}.keys", may_create=may_create)
    if isinstance(keys, str):
        raise InvalidSetting(f"keys must be a KeyProvider, 'local' or 'off', got {keys!r}")
    return keys


#: what a PostgreSQL store built without keys logs, once per process
CLEAR_CONTACTS = (
    "PostgreSQL store without keys: contact fields are stored in clear text; give it "
    "keys= (a KMS-backed KeyProvider, or ?keys=local:/path/to/key/file in its URL), or "
    "keys='off' (?keys=off) to say clear text is meant (docs/privacy.md)"
)
_clear_warned = False


def remote_keys(keys: KeyProvider | str | None) -> KeyProvider | None:
    """What a store with no file of its own (PostgreSQL) seals with: a provider, or
    nothing. There is no place beside a server's database for a key file, so nothing
    is the default, said once per process in the log (``"off"`` says it is meant).

    >>> remote_keys("off") is None
    True
    """
    global _clear_warned
    if keys == NO_KEYS:
        return None
    if isinstance(keys, str):
        raise InvalidSetting(f"keys must be a KeyProvider or 'off', got {keys!r}")
    if keys is None and not _clear_warned:
        _clear_warned = True
        log.warning(CLEAR_CONTACTS)
    return keys


def sealer(keys: KeyProvider | None, region: str | None) -> Sealer | None:
    """What seals a store's contact fields and keeps it to one region, if it does either
    (``keys`` must look like a :class:`~eduengine.service_layer.crypto.KeyProvider`)."""
    if keys is None and region is None:
        return None
    if keys is not None and not all(
        callable(getattr(keys, name, None)) for name in ("wrap", "unwrap", "index_key")
    ):
        raise InvalidSetting(f"keys must be a KeyProvider, got {keys!r}")
    return Sealer(keys, region=region)


class BeforeClose:
    """What a store runs before it closes: a school built on it applies the reactions it
    still defers and writes the audit rows it buffers (``School.close``), so a script
    that closes its store and exits loses none of them. Held weakly: a school dropped
    is not kept alive by its store.

    >>> calls = []
    >>> class Job:
    ...     def run(self):
    ...         calls.append("ran")
    >>> job = Job()
    >>> hooks = BeforeClose()
    >>> hooks.add(job.run)
    >>> hooks.run(); calls
    ['ran']
    """

    def __init__(self) -> None:
        self._hooks: list[weakref.WeakMethod[Callable[[], object]]] = []

    def add(self, hook: Callable[[], object]) -> None:
        """Run the bound method ``hook`` before the store closes (while its object lives)."""
        self._hooks = [h for h in self._hooks if h() is not None]
        self._hooks.append(weakref.WeakMethod(hook))

    def run(self) -> None:
        """Run each live hook once; one that raises is logged, the others still run."""
        hooks, self._hooks = self._hooks, []
        for ref in hooks:
            hook = ref()
            if hook is None:
                continue
            try:
                hook()
            except Exception:
                log.exception("a hook before the store closed failed")
