"""The public face: __all__ is exactly what the package exports."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

import arque


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in vars(arque) if not name.startswith("_")}
    modules = {info.name for info in pkgutil.iter_modules(arque.__path__)}
    assert set(arque.__all__) == public - modules


@pytest.mark.parametrize(
    "module", sorted(info.name for info in pkgutil.iter_modules(arque.__path__))
)
def test_every_module_declares_all(module: str) -> None:
    if module in {"__main__"}:
        return
    mod = importlib.import_module(f"arque.{module}")
    assert isinstance(getattr(mod, "__all__", None), list), f"arque.{module} lacks __all__"


def test_errors_share_one_root() -> None:
    for name in arque.__all__:
        obj = getattr(arque, name)
        if isinstance(obj, type) and issubclass(obj, arque.WorkerSignal):
            continue  # Retry and Fail are raised by handlers to steer the worker, not errors
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, arque.ArqueError)
    assert issubclass(arque.InvalidArgument, ValueError)
    assert issubclass(arque.PayloadTooLarge, ValueError)


def test_the_runtime_does_not_import_what_starts_servers() -> None:
    # A fresh interpreter: this one has arque.testing already, from the fixtures.
    code = ("import sys, arque, arque.cli, arque.demo, arque.worker, arque.__main__; "
            "print('arque.testing' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "False", done.stderr
