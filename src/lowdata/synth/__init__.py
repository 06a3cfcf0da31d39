"""Synthetic data: generation (lowdata.augment.generate.synthesize) and filters."""
from .filters import FilterReport, dedup, filter_synthetic, label_consistency, leakage

__all__ = ["FilterReport", "dedup", "leakage", "label_consistency", "filter_synthetic"]
