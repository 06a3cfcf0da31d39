"""Second views of an example for multi-view training.

    Reverse()(["the film was great"]) -> [["great was film the"]]    # reversed token order
Any other augmenter is also a view. The consistency loss over two views lives in lowdata.ssl.multiview.
"""
from __future__ import annotations


from .base import Augmenter, is_cjk
from .rng import Stream


class Reverse(Augmenter):
    name = "reverse"

    def __init__(self, n: int = 1, seed: int = 0):
        super().__init__(1, seed)

    def one(self, text: str, rng: Stream) -> str:
        if is_cjk(text) and " " not in text.strip():
            return text.strip()[::-1]
        return " ".join(reversed(text.split()))
