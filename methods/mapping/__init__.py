"""Feature-mapping blocks (Section 3.2, Appendix B.3); importing this package registers them."""

from methods.mapping import cross_attention, linear, qpmapper, resampler, rrand  # noqa: F401  (registration)
from methods.mapping.base import MappingBlock

__all__ = ["MappingBlock"]
