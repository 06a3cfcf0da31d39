"""Small name -> factory registries with lazy imports.

    from lowdata.registry import AUGMENTERS
    aug = AUGMENTERS.get("eda", alpha=0.1, n=4, seed=0)     # unknown names fail with the list of valid ones
    AUGMENTERS.names()

Entries are "module:attribute" strings inside lowdata (never taken from user input), imported on first use.
"""
from __future__ import annotations

import importlib

from .errors import RegistryError  # noqa: F401  (re-exported)


class Registry:
    def __init__(self, kind: str, entries: dict[str, str]):
        self.kind, self._entries = kind, dict(entries)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def factory(self, name: str):
        if name not in self._entries:
            raise RegistryError(f"unknown {self.kind} {name!r} (valid: {', '.join(self.names())})")
        mod, attr = self._entries[name].split(":")
        return getattr(importlib.import_module(mod), attr)

    def get(self, name: str, **kwargs):
        f = self.factory(name)
        try:
            return f(**kwargs)
        except (TypeError, ValueError) as e:
            raise RegistryError(f"{self.kind} {name!r}: {e}") from None

    def __contains__(self, name: str) -> bool:
        return name in self._entries


_A = "lowdata.augment."
AUGMENTERS = Registry("augmenter", {
    "eda": _A + "eda:EDA",
    "synonym": _A + "eda:SynonymReplace",
    "insert": _A + "eda:RandomInsert",
    "swap": _A + "eda:RandomSwap",
    "delete": _A + "eda:RandomDelete",
    "keyboard": _A + "noise:KeyboardNoise",
    "char": _A + "noise:CharNoise",
    "ocr": _A + "noise:OCRNoise",
    "grammar": _A + "noise:GrammarNoise",
    "split_sentences": _A + "split:SentenceSplit",
    "split_window": _A + "split:WindowSplit",
    "random_crop": _A + "split:RandomCrop",
    "reverse": _A + "views:Reverse",
    "mlm_refill": _A + "mlm_refill:MLMRefill",
    "generate": _A + "generate:Paraphrase",
    "zh_synonym": _A + "zh:ZhSynonym",
    "zh_homophone": _A + "zh:ZhHomophone",
    "zh_shape": _A + "zh:ZhShape",
})
NER_AUGMENTERS = Registry("NER augmenter", {
    "mention_replace": _A + "ner:MentionReplace",
    "context_synonym": _A + "ner:ContextSynonym",
    "segment_shuffle": _A + "ner:SegmentShuffle",
})
SSL_METHODS = Registry("ssl method", {
    "fixmatch": "lowdata.ssl.fixmatch:FixMatch",
    "flexmatch": "lowdata.ssl.fixmatch:FixMatch",
    "uda": "lowdata.ssl.uda:UDA",
    "gan_bert": "lowdata.ssl.gan_bert:GanBert",
    "distill": "lowdata.ssl.distill:Distill",
    "self_training": "lowdata.methods.self_training:run",     # a method around the loop
    "frozen_lr": "lowdata.methods.frozen:run",                # frozen encoder methods (no fine-tuning)
    "label_spreading": "lowdata.methods.frozen:run",
    "gcn": "lowdata.methods.frozen:run",
})
ADVERSARIAL = Registry("adversarial method", {
    "fgm": "lowdata.robust.adversarial:FGM",
    "pgd": "lowdata.robust.adversarial:PGD",
    "freelb": "lowdata.robust.adversarial:FreeLB",
})
