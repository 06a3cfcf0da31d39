"""Augmentation: registered augmenters with one contract, `aug(texts) -> list[list[str]]`.

    from lowdata.augment import build
    aug = build("eda:alpha=0.1,n=4", seed=0)          # a spec string, as in configs and `lowdata augment --aug`
    aug(["a fine film"])
"""
from __future__ import annotations


def parse_spec(spec: str) -> tuple[str, dict]:
    """"eda:alpha=0.1,n=4" -> ("eda", {"alpha": 0.1, "n": 4}). Values: int, float, true/false, or text."""
    name, _, rest = spec.partition(":")
    kw = {}
    for part in filter(None, rest.split(",")):
        if "=" not in part:
            from ..registry import RegistryError

            raise RegistryError(f"augmenter spec {spec!r}: expected name:key=value,key=value")
        k, v = part.split("=", 1)
        kw[k.strip()] = _value(v.strip())
    return name.strip(), kw


def _value(v: str):
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(v.lower(), v)


def build(spec: str, seed: int | None = None, n: int | None = None, **defaults):
    """An augmenter from a spec string; `seed`/`n` fill in when the spec does not set them."""
    from ..registry import AUGMENTERS, NER_AUGMENTERS

    name, kw = parse_spec(spec)
    reg = NER_AUGMENTERS if name in NER_AUGMENTERS else AUGMENTERS
    import inspect

    params = inspect.signature(reg.factory(name)).parameters
    for k, v in (("seed", seed), ("n", n), *defaults.items()):
        if v is not None and k not in kw and k in params:
            kw[k] = v
    return reg.get(name, **kw)
