"""``python -m analytics ...``: the MarketLens pipeline without the browser."""

from analytics.cli import main

raise SystemExit(main())
