"""``python -m arque`` and the ``arque`` script: the command line of :mod:`arque.cli`."""

from __future__ import annotations

import sys


def main() -> None:
    """Run the ``arque`` command; without click, say how to get it and exit 2."""
    try:
        from .cli import arque
    except ModuleNotFoundError as exc:
        if exc.name != "click":
            raise
        print("arque: the command line needs click: pip install 'arque[cli]'", file=sys.stderr)
        sys.exit(2)
    arque(prog_name="arque")


if __name__ == "__main__":
    main()
