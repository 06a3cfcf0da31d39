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


# parameters that are probabilities or rates in every augmenter that takes them
_UNIT = ("p", "alpha", "alpha_sr", "alpha_ri", "alpha_rs", "p_rd", "top_p")
_COUNT = ("n", "top_k", "max_words", "min_words", "size", "stride", "max_new_tokens")


def check_spec(spec, where: str = "augmenter spec") -> tuple[str, dict]:
    """Parse `spec` and check it without building the augmenter (no lexicon or model is loaded): a known name, known
    parameters, values of the parameter's type, probabilities in [0, 1] and counts >= 1. -> (name, kwargs)."""
    import inspect

    from ..registry import AUGMENTERS, NER_AUGMENTERS, RegistryError

    if not isinstance(spec, str) or not spec.strip():
        raise RegistryError(f"{where}: expected an augmenter spec such as eda:alpha=0.1, got {spec!r}")
    name, kw = parse_spec(spec)
    reg = NER_AUGMENTERS if name in NER_AUGMENTERS else AUGMENTERS
    params = inspect.signature(reg.factory(name)).parameters
    for k, v in kw.items():
        if k not in params or params[k].kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            valid = [p for p, q in params.items() if q.kind is q.POSITIONAL_OR_KEYWORD or q.kind is q.KEYWORD_ONLY]
            raise RegistryError(f"{where} {spec!r}: {name} has no parameter {k!r} (valid: {', '.join(valid)})")
        default = params[k].default
        numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
        if numeric and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise RegistryError(f"{where} {spec!r}: {k} expected a number, got {v!r}")
        if isinstance(default, int) and not isinstance(default, bool) and isinstance(v, float):
            raise RegistryError(f"{where} {spec!r}: {k} expected an integer, got {v!r}")
        if isinstance(default, bool) and not isinstance(v, bool):
            raise RegistryError(f"{where} {spec!r}: {k} expected true or false, got {v!r}")
        if k in _UNIT + _COUNT and (isinstance(v, bool) or not isinstance(v, (int, float))) and v is not None:
            raise RegistryError(f"{where} {spec!r}: {k} expected a number, got {v!r}")
        if k in _UNIT and isinstance(v, (int, float)) and not 0 <= v <= 1:
            raise RegistryError(f"{where} {spec!r}: {k} expected a number in [0, 1], got {v!r}")
        if k in _COUNT and isinstance(v, int) and v < 1:
            raise RegistryError(f"{where} {spec!r}: {k} expected an integer >= 1, got {v!r}")
    return name, kw


def build(spec: str, seed: int | None = None, n: int | None = None, **defaults):
    """An augmenter from a spec string; `seed`/`n` fill in when the spec does not set them."""
    from ..registry import AUGMENTERS, NER_AUGMENTERS

    name, kw = check_spec(spec)
    reg = NER_AUGMENTERS if name in NER_AUGMENTERS else AUGMENTERS
    import inspect

    params = inspect.signature(reg.factory(name)).parameters
    for k, v in (("seed", seed), ("n", n), *defaults.items()):
        if v is not None and k not in kw and k in params:
            kw[k] = v
    return reg.get(name, **kw)
