"""Search keys for the region's languages (see translit.py and stem.py)."""
from .translit import fold, words

__all__ = ["fold", "words"]
