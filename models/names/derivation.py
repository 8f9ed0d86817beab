"""Old name of ``handwritten_backprop`` (docs/tutorial.md and tests/test_vocabulary.py still import it)."""
import sys

from . import handwritten_backprop

sys.modules[__name__] = handwritten_backprop
