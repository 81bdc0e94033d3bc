"""A module that fails on import, for ``arque worker tests.cli_broken_app:handler``."""

from __future__ import annotations

raise RuntimeError("this module is broken on purpose")
