"""A study's results stay tied to the settings that made them: `output_dir/study.spec.json` records what every cell
and trajectory depends on (the resolved base config, by_budget, each method's overrides, the acquisition settings),
and a resumed study whose settings changed stops with the keys that differ instead of mixing old cells with new ones
(cells are stored by method, budget and seed only). Adding methods, budgets, seeds or strategies is an extension and
is allowed; changing what an existing method or the base means is not: use a new output_dir.

With a PostgreSQL store the record is per machine (each keeps its own output_dir): a machine whose study.yaml
differs from another's is not caught here.
"""
from __future__ import annotations

import json
import os

SPEC = "study.spec.json"


def spec_of(st, base: dict) -> dict:
    """base: the resolved base config as a dict (study.base_dict, what every cell starts from)."""
    base = {k: v for k, v in base.items() if k != "output_dir"}
    acq = {k: v for k, v in (st.acquisition or {}).items() if k != "strategies"} or None
    spec = {"base": base, "by_budget": {str(b): o for b, o in (st.by_budget or {}).items()}, "acquisition": acq,
            "methods": dict(st.methods)}
    return json.loads(json.dumps(spec, sort_keys=True, default=str))  # what the file will read back as


def differences(old, new, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two JSON-like values."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            out += differences(old.get(k), new.get(k), f"{prefix}{k}.")
        return out
    return [] if old == new else [prefix.rstrip(".") or "(the whole value)"]


def check_spec(st, base: dict) -> dict:
    """Raise ConfigError when the study in output_dir was run with other settings; else the spec to record (the
    recorded one extended by new methods) once the rest of the checks (check_trajectory) have passed."""
    from ..config import ConfigError

    path = os.path.join(st.output_dir, SPEC)
    new = spec_of(st, base)
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as f:
                old = json.load(f)
        except (OSError, ValueError) as e:
            raise ConfigError(f"{path}: unreadable study record ({e}); it says what this study's cells were run "
                              f"with: restore it, or use a new output_dir") from None
        changed = []
        for key in ("base", "by_budget", "acquisition"):
            changed += differences(old.get(key), new[key], f"{key}.")
        for m, o in new["methods"].items():
            if m in old.get("methods", {}):
                changed += differences(old["methods"][m], o, f"methods.{m}.")
        if changed:
            shown = ", ".join(changed[:8]) + (f" (+{len(changed) - 8} more)" if len(changed) > 8 else "")
            raise ConfigError(f"{st.output_dir}: this study's cells were run with other settings ({shown} changed; "
                              f"recorded in {path}); resuming would mix results: use a new output_dir, or rename "
                              f"a method whose settings changed")
        new["methods"] = {**old.get("methods", {}), **new["methods"]}
    return new


def record_spec(st, spec: dict) -> None:
    from ..runs import write_json

    os.makedirs(st.output_dir, exist_ok=True)
    write_json(os.path.join(st.output_dir, SPEC), spec)


def check_trajectory(path: str, acquisition: dict) -> None:
    """A stored trajectory bought under other acquisition settings (e.g. the cold-start default before it changed)
    must not be reused silently."""
    from ..config import ConfigError

    try:
        with open(path, encoding="utf-8") as f:
            tr = json.load(f)
        tr["chosen"]  # noqa: B018 - what a trajectory must hold
        used_cold_start = any(step["strategy"] != tr["strategy"] for step in tr.get("steps", []))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise ConfigError(f"{path}: unreadable trajectory ({type(e).__name__}: {e}); delete it to buy its labels "
                          f"again") from None
    # balance never applies to random, the control (simulate.py); a strategy that needs no labels never used its
    # cold start, so its rows are the same whatever the setting
    want = {"balance": (bool(acquisition["balance"]) and tr["strategy"] != "random", False),
            "buy_at": (sorted(acquisition.get("buy_at") or []), [])}  # other batch boundaries buy other rows
    if used_cold_start:
        want["cold_start"] = (acquisition["cold_start"], "random")  # (now, what a file without the key was bought with)
    for key, (now, default) in want.items():
        was = tr.get(key, default)
        if was != now:
            raise ConfigError(f"{path}: bought with acquisition.{key} {was!r}, the study now means {now!r}: "
                              f"use a new output_dir (or the settings it was bought with)")
