"""How much of its runs a finding's evidence keeps (the counts beside them stay complete).

Kept apart from the metrics modules so that pages can read these caps without importing the
numerical code (numpy, scipy) into every process that serves URLs, the Celery worker included:
its start-up checks load the URL configuration.
"""

MAX_EVIDENCE_RUNS = 20  # evidence lists are for drill-down, the counts stay complete
# The runs an order-dependent finding keeps of each cell of its 2×2 table, the latest: two pages
# of the runs list, and at most about 3 KB of evidence for four full cells (the findings API
# returns evidence verbatim, 100 findings a page).
MAX_CELL_RUNS = 100
