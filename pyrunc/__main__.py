"""`python -m pyrunc` is the same as the `pyrunc` command."""

from pyrunc.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
