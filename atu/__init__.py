"""atu: Adapt-then-Unlearn for pre-trained GANs (Tiwary et al., arXiv 2309.14054)."""
__version__ = "0.1.0"

from .models import load_generator, load_model  # noqa: E402,F401
from .sampling import before_after_grid, generate, sample_grid  # noqa: E402,F401
