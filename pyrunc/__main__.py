"""`python -m pyrunc` is the same as the `pyrunc` command (its entry point: cli/entry.py)."""

from pyrunc.cli.entry import main

if __name__ == "__main__":
    raise SystemExit(main())
