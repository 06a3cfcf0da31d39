"""Run the `setfit` library (Tunstall et al. 2022) on one sample: the comparison arm of bench/backbones.py.

It runs inside its own virtual environment, so the library and its pins (sentence-transformers, evaluate, ...) never
touch lowdata's: `make bench-setfit` builds .venv-setfit (torch 2.13.0 CPU, setfit==1.2.0) and bench/backbones.py
`--methods setfit_lib` calls this file there with a JSON job on stdin:

    {"model": "<model folder>", "train": [[text, label], ...], "test": [text, ...], "seed": 0,
     "num_iterations": 20, "num_epochs": 1, "batch_size": 16, "max_length": 64}

and reads {"pred": [...], "setfit": "<version>", "seconds": ...} from stdout. The library's defaults otherwise
(CosineSimilarityLoss, logistic-regression head, pairs drawn by its sampler). No dev set: its evaluation is off.
"""
import json
import sys
import time


def main():
    job = json.load(sys.stdin)
    import setfit
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    t0 = time.time()
    texts, labels = zip(*job["train"])
    model = SetFitModel.from_pretrained(job["model"])
    model.model_body.max_seq_length = job.get("max_length", 64)
    args = TrainingArguments(batch_size=job.get("batch_size", 16), num_epochs=job.get("num_epochs", 1),
                             num_iterations=job.get("num_iterations", 20), seed=job["seed"], eval_strategy="no",
                             save_strategy="no", report_to="none", show_progress_bar=False)
    trainer = Trainer(model=model, args=args, train_dataset=Dataset.from_dict({"text": list(texts),
                                                                              "label": list(labels)}))
    trainer.train()
    pred = [str(p) for p in model.predict(job["test"], batch_size=64, as_numpy=True)]
    json.dump({"pred": pred, "setfit": setfit.__version__, "seconds": round(time.time() - t0, 1)}, sys.stdout)


if __name__ == "__main__":
    main()
