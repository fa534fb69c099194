"""``python -m blurwatch``: the same as the ``blurwatch`` command."""

from blurwatch.cli import main

if __name__ == "__main__":  # worker processes import this module again; only the parent runs
    raise SystemExit(main())
