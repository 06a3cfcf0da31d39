"""The main job on built-in data: a 10-intent BANKING77 classifier (16 labels per intent) and a WNUT-17 NER
tagger (600 sentences), each with a full report. Data: lowdata/demo_data (CC BY 4.0, see LICENSE.md there).

    lowdata demo --output-dir runs/demo
"""
from __future__ import annotations

import os
import time
from importlib import resources


def demo_file(name: str) -> str:
    return str(resources.files("lowdata") / "demo_data" / name)


def run_demo(out: str = "runs/demo", model: str = "minilm", epochs: int = 10, overwrite: bool = False,
             progress: bool = True) -> dict:
    from .config import Config, DataConfig, ModelConfig, TrainConfig
    from .methods.finetune import run

    jobs = {
        "intent": DataConfig(train=demo_file("banking10_train.csv"), dev=demo_file("banking10_dev.csv"),
                             test=demo_file("banking10_test.csv"), task="classify"),
        "ner": DataConfig(train=demo_file("wnut17_train.conll"), dev=demo_file("wnut17_dev.conll"),
                          test=demo_file("wnut17_test.conll"), task="ner"),
    }
    results = {}
    for name, dc in jobs.items():
        lr, head_lr = (5e-5, 1e-3) if name == "intent" else (1e-4, 1e-3)
        cfg = Config(data=dc, model=ModelConfig(name=model, max_length=64),
                     train=TrainConfig(epochs=epochs, batch_size=16, lr=lr, head_lr=head_lr, patience=3,
                                       progress=progress),
                     output_dir=os.path.join(out, name))
        t0 = time.time()
        print(f"== demo: {name} ({dc.train})")
        m = run(cfg, overwrite=overwrite)
        r = m["test"]
        score = f"test accuracy {r['accuracy']:.4f}" if r["task"] == "classify" else f"test entity F1 {r['f1']:.4f}"
        print(f"== demo: {name}: {score} in {time.time() - t0:.0f}s; report: {cfg.output_dir}/report.md")
        results[name] = m
    return results
