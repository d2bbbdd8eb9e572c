"""``python -m somkit``: the same as the ``somkit`` command."""

from somkit.cli import main

if __name__ == "__main__":
    main()
