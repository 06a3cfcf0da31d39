"""The main job on built-in data: `lowdata auto` on a 10-intent BANKING77 task (its 160 labels, 16 per intent, and
nothing else: the recipe is chosen by cross-validation inside them; the 100 dev texts serve as unlabeled pool, their
labels unread) and a WNUT-17 NER tagger (600 sentences, fine-tuned, its dev split for early stopping), each with a
full report. Data: lowdata/demo_data (CC BY 4.0, see LICENSE.md there).

    lowdata demo --output-dir runs/demo
"""
from __future__ import annotations

import os
import time
from importlib import resources


def demo_file(name: str) -> str:
    return str(resources.files("lowdata") / "demo_data" / name)


def run_demo(out: str = "runs/demo", model: str = "minilm", epochs: int = 10, overwrite: bool = False,
             progress: bool = True, budget_min: float = 3.0) -> dict:
    from .config import Config, DataConfig, ModelConfig, TrainConfig
    from .methods.finetune import run

    from .data import TextData
    from .data.splits import load_splits
    from .methods.auto import auto

    results = {}
    t0 = time.time()
    intent = DataConfig(train=demo_file("banking10_train.csv"), unlabeled=demo_file("banking10_dev.csv"),
                        test=demo_file("banking10_test.csv"), task="classify")
    base = Config(data=intent, model=ModelConfig(name=model, max_length=64),
                  train=TrainConfig(batch_size=16, lr=5e-5, head_lr=1e-3, progress=progress, report_to=[]))
    print(f"== demo: intent, lowdata auto ({intent.train}: 160 labels; budget {budget_min:g} min)")
    splits = load_splits(intent, seed=0)
    splits["unlabeled"] = TextData(splits["unlabeled"].texts, source=splits["unlabeled"].source)
    r = auto(base, splits, os.path.join(out, "intent"), backbones=(model,), budget_s=60 * budget_min,
             overwrite=overwrite, progress=progress)
    print(f"== demo: intent: chose {r['chosen']['recipe']} (CV accuracy {r['estimate']['accuracy']:.4f}), test "
          f"accuracy {r['test']['accuracy']:.4f} in {time.time() - t0:.0f}s; report: {out}/intent/report.md")
    results["intent"] = r
    dc = DataConfig(train=demo_file("wnut17_train.conll"), dev=demo_file("wnut17_dev.conll"),
                    test=demo_file("wnut17_test.conll"), task="ner")
    cfg = Config(data=dc, model=ModelConfig(name=model, max_length=64),
                 train=TrainConfig(epochs=epochs, batch_size=16, lr=1e-4, head_lr=1e-3, patience=3,
                                   progress=progress),
                 output_dir=os.path.join(out, "ner"))
    t0 = time.time()
    print(f"== demo: ner ({dc.train})")
    m = run(cfg, overwrite=overwrite)
    print(f"== demo: ner: test entity F1 {m['test']['f1']:.4f} in {time.time() - t0:.0f}s; report: "
          f"{cfg.output_dir}/report.md")
    results["ner"] = m
    return results
