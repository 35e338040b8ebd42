"""Deprecations: every deprecated form of the library warns with
:class:`EduEngineDeprecationWarning` (a ``DeprecationWarning``), so a host's test suite can
make the library's deprecations errors without failing on other packages' (pytest:
``filterwarnings = ["error::eduengine.kernel.deprecation.EduEngineDeprecationWarning"]``).
A module that moved warns whoever still imports it by its old name (the shims at the top
of the package, removed in 0.4).

The warning points at the importing line, not at the import machinery, so ``python -W
error::DeprecationWarning`` and pytest's summary name the host's own file:

>>> import warnings
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     warn_moved("eduengine.old", "eduengine.kernel.new")
>>> print(caught[0].message)
eduengine.old is deprecated and will be removed in 0.4: import eduengine.kernel.new instead
"""

from __future__ import annotations

import sys
import warnings
from types import FrameType


class EduEngineDeprecationWarning(DeprecationWarning):
    """A deprecated form of eduengine was used: its message names the current form.

    >>> issubclass(EduEngineDeprecationWarning, DeprecationWarning)
    True
    """


def warn_moved(old: str, new: str) -> None:
    """Warn, from the body of the module ``old``, that it moved to ``new``."""
    # warnings counts this function as level 1 and the shim's body as level 2, and skips
    # the import system's frozen frames by itself; importlib.import_module is one more
    # frame it does count, and the importer is the caller of that
    level, frame = 3, _above_the_import_system(sys._getframe(2))
    while frame is not None and frame.f_globals.get("__name__") == "importlib":
        level, frame = level + 1, _above_the_import_system(frame.f_back)
    warnings.warn(
        f"{old} is deprecated and will be removed in 0.4: import {new} instead",
        EduEngineDeprecationWarning,
        stacklevel=level,
    )


def _above_the_import_system(frame: FrameType | None) -> FrameType | None:
    while frame is not None and _is_import_system(frame):
        frame = frame.f_back
    return frame


def _is_import_system(frame: FrameType) -> bool:
    # the test warnings.warn itself applies to skip a frame
    name = frame.f_code.co_filename
    return "importlib" in name and "_bootstrap" in name
