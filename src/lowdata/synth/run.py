"""`lowdata synth`: new labeled examples, then the filters, in one command.

    lowdata synth -i train.tsv -o synth.tsv --generate gpt2 --n-per-label 50 --against dev.tsv test.tsv
    lowdata synth -i train.tsv -o synth.tsv --aug mlm_refill:p=0.3,n=4 --judge runs/x/model --threshold 0.6

Sources (one of):
  --generate MODEL   label-conditioned generation with a causal LM (augment.generate.synthesize): the prompt holds up
                     to --shots of the input's examples of that label, then asks for a new one (Anaby-Tavor et al.
                     2020, "Do Not Have Enough Data? Deep Learning to the Rescue!", LAMBADA; deviation: no fine-tuning
                     of the LM on the labeled data, the examples are in-context only);
  --aug SPEC         any augmenter from `lowdata ls` applied to every input text, each variant keeping its label
                     (mask-and-refill with a masked LM: mlm_refill, Kobayashi 2018 / Wu et al. 2019).
Filters, in this order (synth.filters): exact and near duplicates (char 3-gram TF-IDF cosine >= --near), texts that
duplicate the input itself, leakage into --against files (dev/test), and, with --judge, label consistency: a trained
classifier must give the example's label probability >= --threshold (the filter of LAMBADA). The output holds only
the synthetic rows (text, label, source), written atomically; the report (counts by reason) goes to stdout and to
OUTPUT.report.json. Never writes over an input, nor over an existing output without --overwrite.
"""
from __future__ import annotations



def synth_file(inp: str, out: str, *, generate: str | None = None, aug: str | None = None, n_per_label: int = 20,
               shots: int = 8, n: int | None = None, against=(), judge: str | None = None, threshold: float = 0.5,
               near: float | None = 0.9, seed: int = 0, fmt: str | None = None, overwrite: bool = False,
               max_new_tokens: int = 48) -> dict:
    from .. import runs
    from ..augment.run import augment_texts, check_output_ext, write_rows
    from ..data import DataError, TextData, read
    from ..errors import ConfigError
    from .filters import filter_synthetic

    if (generate is None) == (aug is None):
        raise ConfigError("lowdata synth: give exactly one source, --generate MODEL or --aug SPEC")
    if not 0 <= threshold <= 1:
        raise ConfigError(f"--threshold: expected a number in [0, 1], got {threshold}")
    if near is not None and not 0 < near <= 1:
        raise ConfigError(f"--near: expected a number in (0, 1], got {near}")
    report_path = out + ".report.json"
    inputs = [inp, *against] + ([judge] if judge else [])
    runs.output_file(out, inputs, overwrite)
    runs.output_file(report_path, inputs, overwrite)
    check_output_ext(out)
    data = read(inp, format=fmt, task="classify")
    if data.labels is None:
        raise DataError("input has no labels (synth makes labeled examples)", inp)
    refs = [read(p, task="classify", labeled=False) for p in against]
    judge_model = None
    if judge:
        from ..backbone import TaskModel

        judge_model = TaskModel.load(judge)  # before any generation: a bad --judge fails fast
        if judge_model[2]["task"] != "classify":
            raise ConfigError(f"--judge {judge}: a classification model is needed, this one is "
                              f"{judge_model[2]['task']}")
    if aug is not None:
        from ..augment import check_spec

        check_spec(aug, "--aug")
        variants = augment_texts(data.texts, aug, seed, n)
        pairs = [(v, y) for vs, y in zip(variants, data.labels) for v in vs if v.strip()]
        source = aug
    else:
        from ..augment.generate import synthesize

        import random

        rng = random.Random(seed)
        by_label = {}
        for t, y in zip(data.texts, data.labels):
            by_label.setdefault(y, []).append(t)
        examples = {y: rng.sample(ts, min(shots, len(ts))) for y, ts in sorted(by_label.items())}
        gen, _ = synthesize(sorted(by_label), n_per_label, model=generate, examples=examples, seed=seed,
                            max_new_tokens=max_new_tokens)
        pairs = list(zip(gen.texts, gen.labels)) if gen is not None else []
        source = f"generate({generate})"
    made = len(pairs)
    if not pairs:
        raise DataError(f"the source produced no text ({source}); nothing to filter", inp)
    syn = TextData([t for t, _ in pairs], [y for _, y in pairs], source=source)
    probs, names = None, None
    if judge_model is not None:
        from ..batching import predict_probs

        model, tok, meta = judge_model
        names = meta["labels"]
        unknown = sorted(set(syn.labels) - set(names))
        if unknown:
            raise DataError(f"labels {unknown} are unknown to the --judge model (its labels: {names})", inp)
        probs = predict_probs(model, tok, syn.texts, meta["max_length"])
    kept, rep = filter_synthetic(syn, against=refs, near=near, probs=probs, label_names=names, threshold=threshold,
                                 source=data)
    rows = [(t, y, source) for t, y in zip(kept.texts, kept.labels)]
    runs.write_text(out, _rows_text(write_rows, out, rows))
    report = {"input": inp, "source": source, "generated": made, "kept": rep.kept, "dropped": rep.dropped,
              "per_label": {y: kept.labels.count(y) for y in sorted(set(kept.labels))}, "seed": seed}
    runs.write_json(report_path, report)
    return report


def _rows_text(write_rows, path, rows) -> str:
    import io

    buf = io.StringIO(newline="")
    write_rows(buf, path, rows)
    return buf.getvalue()

