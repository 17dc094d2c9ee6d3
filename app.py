"""MarketLens: marketing analytics on behaviour logs. Run with ``streamlit run app.py``."""

import logging

from ui.guard import user_errors
from ui.segmenting import warm_umap_in_background
from ui.shell import navigation

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

# Once per server process, in a background thread: the first map then never waits for UMAP's compiled code.
warm_umap_in_background()
page = navigation()
# The last line of defence: whatever a page did not foresee becomes a message, never a traceback.
with user_errors("This page"):
    page.run()
