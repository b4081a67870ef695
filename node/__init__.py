"""Qalqan: a node that records, signs and shares disinformation incidents over TAXII 2.1."""

__version__ = "0.2.0.dev0"
