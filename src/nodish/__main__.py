"""``python -m nodish``: the command line."""

from .cli import main

raise SystemExit(main())
