"""Modules that moved into packages keep their old import paths until 0.4: each old path
gives the very objects of the new home, so a host's imports and isinstance checks hold."""

from __future__ import annotations

import ast
import importlib
import inspect
import types

import pytest

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
