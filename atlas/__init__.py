"""Feature Atlas: attribution graphs over prompt corpora, stored so they can be queried."""

__version__ = "0.1.0"
