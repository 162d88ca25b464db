"""`python -m cds.cli` runs the console script."""

from . import main

raise SystemExit(main())
