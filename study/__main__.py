"""`python -m study ...` is the `study` command (the console script of pyproject.toml)."""

import sys

from study.tools.cli import main

if __name__ == "__main__":
    sys.exit(main())
