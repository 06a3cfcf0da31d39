"""Data: readers, validated schema, label maps, few-shot sampling."""
from .readers import FORMATS, from_hf, normalize_tags, read, to_hf
from .sampling import fraction, k_per_class, split
from .schema import DataError, LabelMap, TextData, TokenData

__all__ = ["FORMATS", "DataError", "LabelMap", "TextData", "TokenData", "read", "from_hf", "to_hf",
           "normalize_tags", "k_per_class", "fraction", "split"]
