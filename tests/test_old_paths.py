"""Modules that moved into packages keep their old import paths until 0.4: each old path
gives the very objects of the new home, so a host's imports and isinstance checks hold.
The top-level ones say so with a ``DeprecationWarning`` that names the importing line."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
import types

import pytest

# the old paths warn on import; the test of the warning itself is below
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MOVED = [
    ("eduengine.intents", "eduengine.payments.intents"),
    ("eduengine.payment_service", "eduengine.payments.service"),
    ("eduengine.cli", "eduengine.ops.cli"),
    ("eduengine.stores", "eduengine.ops.stores"),
    ("eduengine.aio", "eduengine.web.aio"),
    ("eduengine.live", "eduengine.web.live"),
    ("eduengine.ical", "eduengine.booking.ical"),
    ("eduengine.rooms", "eduengine.booking.rooms"),
    ("eduengine.erasure", "eduengine.service_layer.erasure"),
]

#: names of the old modules ``payments.py``, ``ops.py`` and ``referrals.py``, whose paths
#: are now packages
KEPT = {
    "eduengine.payments": {
        "eduengine.payments.gateway": [
            "Charge", "Refund", "PaymentState", "PaymentOutcome", "PaymentGateway"
        ],
        "eduengine.payments.fake": ["Fault", "FakePaymentGateway"],
    },
    "eduengine.ops": {
        "eduengine.ops.jobs": [
            "CONNECT_TIMEOUT", "check_reachable", "migrate", "pending", "status", "run_due",
            "reminder_json", "JsonLinesNotifier", "WebhookNotifier", "post_json",
        ],
        "eduengine.ops.backup": ["backup"],
        "eduengine.ops.report": ["report_period", "report"],
    },
    "eduengine.referrals": {
        "eduengine.pricing.events": ["ReferralRewarded"],
        "eduengine.pricing.referrals": [
            "CUSTOMERS", "REFERRALS", "ReferralReward", "DEFAULT_REFERRAL_REWARD",
            "referral_reward", "register", "order_paid",
        ],
    },
}


def _defined(module: types.ModuleType) -> list[str]:
    """The public names a module defines at its top (not what it imports)."""
    names: list[str] = []
    for node in ast.parse(inspect.getsource(module)).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    # loggers and type variables are the module's own business
    return [n for n in names if not n.startswith("_") and n not in {"log", "P", "T"}]


@pytest.mark.parametrize(("old", "new"), MOVED, ids=[old for old, _ in MOVED])
def test_an_old_path_gives_every_public_name_of_its_new_home(old: str, new: str) -> None:
    home = importlib.import_module(new)
    shim = importlib.import_module(old)
    defined = _defined(home)
    assert defined
    assert sorted(shim.__all__) == sorted(defined)
    for name in defined:
        assert getattr(shim, name) is getattr(home, name), name


def test_the_old_django_path_gives_the_same_functions() -> None:
    pytest.importorskip("django")
    old = importlib.import_module("eduengine.contrib.django")
    new = importlib.import_module("eduengine.web.django")
    assert old.school_transaction is new.school_transaction
    assert old.store_for_django is new.store_for_django


@pytest.mark.parametrize("package", sorted(KEPT))
def test_a_module_that_became_a_package_keeps_its_names(package: str) -> None:
    top = importlib.import_module(package)
    for home, names in KEPT[package].items():
        module = importlib.import_module(home)
        for name in names:
            assert getattr(top, name) is getattr(module, name), f"{package}.{name}"
        assert set(names) <= set(top.__all__)


def test_referrals_is_still_usable_as_a_module() -> None:
    from eduengine import referrals

    assert callable(referrals.register) and callable(referrals.order_paid)
    assert referrals.ReferralRewarded.__module__ == "eduengine.pricing.events"
    from eduengine.referrals import events

    assert events.ReferralRewarded is referrals.ReferralRewarded


#: every deprecated top-level module (and ``contrib.django``) with its new home(s)
DEPRECATED = [
    *MOVED,
    ("eduengine.clock", "eduengine.kernel.clock"),
    ("eduengine.codec", "eduengine.kernel.codec"),
    ("eduengine.ports", "eduengine.service_layer.ports"),
    ("eduengine.messagebus", "eduengine.service_layer.messagebus"),
    ("eduengine.service", "eduengine.service_layer.runner"),
]


@pytest.mark.parametrize(("old", "new"), DEPRECATED, ids=[old for old, _ in DEPRECATED])
def test_old_paths_still_import_the_same_objects_with_a_deprecation_warning(
    old: str, new: str
) -> None:
    home = importlib.import_module(new)
    # import the old path afresh, as a host's first import of it would
    sys.modules.pop(old, None)
    message = rf"{old} is deprecated .* 0\.4: import {new}"
    with pytest.warns(DeprecationWarning, match=message) as seen:
        shim = importlib.import_module(old)
    # the warning points at the line that imported the old path, not at the import system
    assert [w.filename for w in seen if old in str(w.message)] == [__file__]
    for name in shim.__all__:
        if hasattr(home, name):
            assert getattr(shim, name) is getattr(home, name), name


def test_the_old_django_path_warns() -> None:
    pytest.importorskip("django")
    sys.modules.pop("eduengine.contrib.django", None)
    with pytest.warns(DeprecationWarning, match="eduengine.web.django"):
        importlib.import_module("eduengine.contrib.django")


def test_the_unreleased_inputs_path_is_gone() -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("eduengine.inputs")


def test_the_library_itself_imports_no_deprecated_path() -> None:
    """Every module but the deprecated ones imports without a DeprecationWarning (a fresh
    interpreter, so nothing is imported yet)."""
    deprecated = [old for old, _ in DEPRECATED] + ["eduengine.contrib.django"]
    code = (
        "import importlib, pkgutil, eduengine\n"
        "for m in pkgutil.walk_packages(eduengine.__path__, 'eduengine.'):\n"
        f"    if m.name not in {deprecated!r} and not m.name.endswith(('postgres', 'django')):\n"
        "        importlib.import_module(m.name)\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", code],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


#: reminders are notices (issue #22): ``eduengine.reminders`` stays, as the compatibility
#: layer above the notices, and gives their very objects without a warning
REMINDERS = [
    ("eduengine.reminders.model", "eduengine.notices.plan"),
    ("eduengine.reminders.events", "eduengine.notices.events"),
]


@pytest.mark.parametrize(("old", "new"), REMINDERS, ids=[old for old, _ in REMINDERS])
def test_the_reminders_layer_gives_the_notices_objects(old: str, new: str) -> None:
    home = importlib.import_module(new)
    layer = importlib.import_module(old)
    defined = _defined(home)
    assert sorted(layer.__all__) == sorted(defined)
    for name in defined:
        assert getattr(layer, name) is getattr(home, name), name


def test_the_reminders_package_warns_nothing_on_import() -> None:
    # a fresh interpreter: this module's marker ignores DeprecationWarning here
    code = "import eduengine.reminders, eduengine.reminders.handlers, eduengine.reminders.service"
    result = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
