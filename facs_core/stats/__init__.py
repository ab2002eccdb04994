"""Statistics: AU-score associations, multiple-comparison correction, repeated visits.

``facs_core.stats`` never imports streamlit; the dashboard and the CLI call it.
"""

from facs_core.stats.multicomp import adjust_pvalues
from facs_core.stats.partial_corr import RESULT_COLUMNS, associate, partial_correlations, prepare

__all__ = ["RESULT_COLUMNS", "adjust_pvalues", "associate", "partial_correlations", "prepare"]
