"""Load the splits a run config names: train (optionally few-shot sampled), dev, test, unlabeled rest.

    splits = load_splits(cfg.data, seed=0)   # {"train", "dev", "test", "unlabeled", "unlabeled_truth"}
"unlabeled_truth" holds the hidden labels of the unlabeled rest (k_per_class only), used for nothing but logging
pseudo-label accuracy; missing splits are None.
"""
from __future__ import annotations

from .readers import read
from .sampling import fraction, k_per_class, sample, split
from .schema import DataError


def load_splits(dc, seed: int = 0) -> dict:
    if dc.task == "multilabel":  # label sets: lowdata.data.multilabel (k_per_class = at least k per label)
        from .multilabel import load_multilabel_splits

        return load_multilabel_splits(dc, seed)
    if not dc.train:
        raise DataError("no training data: set data.train (a file path, or a dataset name with data.format=hf)")
    kw = dict(format=dc.format, task=dc.task, text_column=dc.text_column, label_column=dc.label_column,
              header=dc.header, encoding=dc.encoding)
    train = read(dc.train, split="train", **kw)
    dev = read(dc.dev, split="validation", **kw) if dc.dev else None
    test = read(dc.test, split="test", **kw) if dc.test else None
    if train.targets is None:
        raise DataError("training data has no labels", dc.train)
    s = seed if dc.sample_seed is None else dc.sample_seed
    unlabeled = None
    truth = None
    if dc.k_per_class:
        full = train
        train, unlabeled = k_per_class(train, dc.k_per_class, seed=s)
        # the hidden labels of the rest, kept apart: only for logging pseudo-label accuracy, never for training
        row = {ln: i for i, ln in enumerate(full.lines)}
        truth = [full.targets[row[ln]] for ln in unlabeled.lines]
    elif dc.fraction:
        full = train
        train = fraction(train, dc.fraction, seed=s)
        lost = sorted(set(full.labels) - set(train.labels)) if dc.task == "classify" else []
        if lost:  # else the run trained without the class, or failed later blaming the dev file
            raise DataError(f"data.fraction={dc.fraction} keeps {len(train)} of {len(full)} examples and no example "
                            f"of {', '.join(map(repr, lost))} (raise data.fraction, or use data.k_per_class)",
                            dc.train)
    if dc.unlabeled:
        ukw = {**kw, "text_column": dc.unlabeled_column if dc.unlabeled_column is not None else dc.text_column}
        unlabeled = read(dc.unlabeled, split="unlabeled", labeled=False, **ukw)
    if test is not None and dc.test_sample and dc.test_sample < len(test):
        # a fixed draw (seed 0, not the run's seed): every cell of a study is scored on the same test examples
        test = sample(test, dc.test_sample, seed=0)
    if dev is None and dc.dev_fraction:
        train, dev = split(train, (1 - dc.dev_fraction, dc.dev_fraction), seed=s)
    return {"train": train, "dev": dev, "test": test, "unlabeled": unlabeled, "unlabeled_truth": truth}
