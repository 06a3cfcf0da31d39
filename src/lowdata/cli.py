"""lowdata command line. Verbs: train, auto, select, merge, pretrain, eval, predict, augment, synth, attack, curve, ls,
demo.

    lowdata train -c configs/sst2-16shot.yaml train.lr=3e-5 output_dir=runs/x [--resume]
    lowdata auto --train labeled.tsv --unlabeled pool.txt --test test.tsv --budget 30 -o runs/auto
    lowdata select --pool pool.txt --labeled labeled.tsv --n 40 --strategy margin -o to_label.csv
    lowdata merge --annotated to_label.csv --labeled labeled.tsv -o labeled_v2.tsv
    lowdata pretrain -c configs/pretrain-sst2-mr.yaml output_dir=runs/pt [--resume]
    lowdata eval  --model runs/x/model --data test.tsv
    echo "great film" | lowdata predict --model runs/x/model
    lowdata demo

Heavy libraries are imported inside the verbs, so `lowdata --help` stays fast.
Bad input (data, config, flags) prints one error line naming the file and line, and exits with code 2 (the traceback
only with --debug); exit code 1 means a bug in lowdata. No verb writes over one of its inputs, nor over an existing
output without --overwrite.
"""
from __future__ import annotations

import argparse
import os
import sys


def _typed(cast, ok, expected: str):
    """An argparse type: `cast` the text, then `ok(value)` or the error "expected <expected>, got <text>"."""
    def parse(text: str):
        try:
            v = cast(text)
        except ValueError:
            v = None
        if v is None or not ok(v):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return v
    return parse


_count = _typed(int, lambda v: v >= 1, "an integer >= 1")
_natural = _typed(int, lambda v: v >= 0, "an integer >= 0")
_rate = _typed(float, lambda v: 0 < v <= 1, "a number in (0, 1]")


def _config_run(verb: argparse.ArgumentParser, config_help: str, overrides_help: str) -> None:
    """The arguments of a verb that runs from a config into an output_dir (train, pretrain)."""
    verb.add_argument("-c", "--config", help=config_help)
    verb.add_argument("overrides", nargs="*", help=overrides_help)
    verb.add_argument("--resume", action="store_true", help="continue an interrupted run in output_dir")
    verb.add_argument("--overwrite", action="store_true", help="replace a finished run in output_dir")
    verb.add_argument("--allow-config-change", action="store_true",
                      help="with --resume: continue although the config differs from the run's (recorded)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lowdata", description="Strong language models from little labeled data.")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = p.add_subparsers(dest="verb", metavar="VERB")

    _config_run(sub.add_parser("train", help="fine-tune a classifier or NER tagger from a config"),
                "YAML config (see configs/)", "key.sub=value overrides, e.g. train.lr=3e-5")

    au = sub.add_parser("auto", help="choose the recipe by cross-validation on the labels, then train it on all")
    au.add_argument("--train", required=True, help="the labeled file: every label there is (no dev split is used)")
    au.add_argument("--unlabeled", help="unlabeled texts (default with data.k_per_class: the rest of --train)")
    au.add_argument("--test", help="a labeled test file, scored once at the end, never used for a choice")
    au.add_argument("-o", "--output-dir", required=True)
    au.add_argument("--budget", type=_typed(float, lambda v: v > 0, "minutes > 0"), default=30.0,
                    help="minutes for the whole search and the final training (default 30)")
    au.add_argument("--backbones", nargs="+", help="e.g. minilm e5-small mpnet (lowdata ls; default: model.name, "
                    "itself minilm unless set)")
    au.add_argument("--folds", type=_typed(int, lambda v: v >= 2, "an integer >= 2"), default=4)
    au.add_argument("--repeats", type=_count, default=3, help="repeats of the k-fold split (successive halving)")
    au.add_argument("--max-pool", type=_natural, default=5000,
                    help="use at most this many unlabeled texts, a seeded sample (default 5000; 0 = all)")
    au.add_argument("--rule", default="prior_se", choices=["prior_se", "one_se", "argmax"],
                    help="prior_se (default): setfit+pl (SetFit-style without a pool), the design sets' best "
                    "recipe, unless a candidate's mean CV accuracy is ahead by more than one standard error (then the "
                    "one-SE rule's choice); one_se: the cheapest candidate within one standard error of the best "
                    "mean; argmax: the best mean")
    au.add_argument("--no-worth", action="store_true",
                    help="skip the worth in labels versus plain fine-tuning (extra fine-tuning folds)")
    au.add_argument("--distill-to", metavar="BACKBONE",
                    help="then teach the chosen model to this backbone over the pool: a smaller one for serving, or "
                    "its own (self-distillation): student/, with a bound on its accuracy from its agreement with the "
                    "chosen model (no label used; outside --budget)")
    au.add_argument("--seed", type=_natural, default=0)
    au.add_argument("--resume", action="store_true")
    au.add_argument("--overwrite", action="store_true")
    au.add_argument("--no-progress", action="store_true")
    au.add_argument("overrides", nargs="*", help="key.sub=value settings of the base config, e.g. "
                    "model.max_length=64 data.format=tsv data.k_per_class=16")

    se = sub.add_parser("select", help="the pool texts to label next (active learning), written for annotation")
    se.add_argument("--pool", required=True, help="unlabeled texts (one per line, or a csv/tsv/jsonl text column)")
    se.add_argument("--labeled", help="the labels so far (their texts are left out of the pool)")
    se.add_argument("--model", help="a lowdata model folder: its features and probabilities drive the strategy")
    se.add_argument("--n", type=_count, required=True, help="how many texts to select")
    se.add_argument("--strategy", default="auto", help="auto (default: typiclust while nothing is labeled, then "
                    "wkmeans), random, kmeans, typiclust, probcover, least_confidence, margin, entropy, committee, "
                    "mc_dropout, coreset, badge, wkmeans")
    se.add_argument("--classes", type=_count, help="number of classes (probcover without --labeled or --model)")
    se.add_argument("--balance", action="store_true", help="spread the batch over the predicted classes")
    se.add_argument("--backbone", default="minilm", help="encoder of the pool vectors without --model (lowdata ls)")
    se.add_argument("--max-length", type=_count, default=128)
    se.add_argument("--bf16", action="store_true", help="embed the pool under bf16 autocast where the hardware runs "
                    "it natively (2.4-3.3x faster on an AVX512-BF16 CPU; cosine >= 0.9999 to float32's vectors; "
                    "cached apart)")
    se.add_argument("--format", help="the pool's format (default: guessed)")
    se.add_argument("--seed", type=_natural, default=0)
    se.add_argument("-o", "--output", required=True, help="to_label.csv | .jsonl | .json (Label Studio tasks)")
    se.add_argument("--history", help="stabilising predictions across rounds: a file kept from call to call (created "
                    "on first use; each call with new labels adds a round; Bloodgood & Vijay-Shanker 2009)")
    se.add_argument("--overwrite", action="store_true")
    se.add_argument("--no-progress", action="store_true")

    mg = sub.add_parser("merge", help="read an annotated batch back: the labeled file + the new labels, as a new file")
    mg.add_argument("--annotated", required=True, help="the batch once labeled (csv/jsonl, or a Label Studio export)")
    mg.add_argument("--labeled", help="the labeled file so far (every row is kept, none relabeled)")
    mg.add_argument("--batch", help="the file lowdata select wrote (default: --annotated, if it is that file)")
    mg.add_argument("-o", "--output", required=True, help="the new labeled file (.tsv, .csv or .jsonl)")
    mg.add_argument("--partial", action="store_true", help="merge the labeled rows although some are left unlabeled")
    mg.add_argument("--new-labels", action="store_true", help="accept labels that no labeled example has yet")
    mg.add_argument("--overwrite", action="store_true")

    _config_run(sub.add_parser("pretrain", help="masked-LM (+ NSP/SOP) pretraining, continued or from scratch"),
                "YAML config (see configs/pretrain-*.yaml)", "key.sub=value overrides, e.g. corpus.paths=[a.txt,b.txt]")

    e = sub.add_parser("eval", help="evaluate a trained model on a labeled file")
    e.add_argument("--model", required=True, help="a model directory written by train (…/model)")
    e.add_argument("--data", required=True, help="labeled file")
    e.add_argument("--format", help="data format (default: guessed)")
    e.add_argument("--out", help="write metrics.json and report.md here")
    e.add_argument("--overwrite", action="store_true", help="replace metrics.json / report.md in --out")

    pr = sub.add_parser("predict", help="predict labels (or tags) for a file or stdin, one JSON line each")
    pr.add_argument("--model", required=True)
    pr.add_argument("-i", "--input", help="input file (default: stdin, one text per line)")
    pr.add_argument("--format", help="input format (default: guessed; stdin: one text per line)")
    pr.add_argument("-o", "--output", help="output JSONL (default: stdout)")
    pr.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    pr.add_argument("--onnx", action="store_true", help="run an exported folder (lowdata export) on onnxruntime "
                    "(a folder with model.onnx is run so anyway)")
    pr.add_argument("--int8", action="store_true", help="with an exported folder: its int8 graph")
    pr.add_argument("--batch-size", type=_count, default=64, help="texts per model call (sorted by length)")
    pr.add_argument("--chunk", type=_count, default=4096, help="texts read, predicted and written at a time "
                    "(bounds memory)")
    pr.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    pr.add_argument("--engine", choices=["local", "ray"], default="local", help="ray: Ray Data (lowdata[ray]); -o "
                    "is then a new folder of JSONL shards, in input order")
    pr.add_argument("--workers", type=_count, default=1, help="with --engine ray: model replicas (actors)")

    ex = sub.add_parser("export", help="export a trained model to ONNX (checked against PyTorch)")
    ex.add_argument("--model", required=True, help="a model directory written by train (…/model)")
    ex.add_argument("--format", default="onnx", choices=["onnx"])
    ex.add_argument("--quantize", choices=["int8"], help="also write model.int8.onnx (dynamic int8 quantization)")
    ex.add_argument("--check", help="texts (one per line) to compare PyTorch and ONNX on (default: the run's own "
                    "predictions.jsonl texts)")
    ex.add_argument("-o", "--output", required=True, help="output folder")
    ex.add_argument("--overwrite", action="store_true", help="replace an existing output folder")

    sv = sub.add_parser("serve", help="an HTTP JSON prediction server (FastAPI + uvicorn, micro-batching)")
    sv.add_argument("--model", required=True, help="a model directory, or an exported ONNX folder")
    sv.add_argument("--onnx", action="store_true", help="require an exported folder and run it on onnxruntime")
    sv.add_argument("--int8", action="store_true", help="with an exported folder: its int8 graph")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=_natural, default=8000)
    sv.add_argument("--max-batch", type=_count, default=32, help="texts per model call")
    sv.add_argument("--max-wait-ms", type=float, default=5.0, help="how long a batch waits for more requests")
    sv.add_argument("--max-texts", type=_count, default=256, help="texts per request")
    sv.add_argument("--max-chars", type=_count, default=10000, help="characters per text")
    sv.add_argument("--max-body", type=_count, default=2_000_000, help="bytes per request body")

    ag = sub.add_parser("augment", help="augment a labeled file (label kept; NER tags re-aligned)")
    ag.add_argument("-i", "--input", required=True)
    ag.add_argument("-o", "--output", required=True, help=".tsv, .csv or .jsonl (.conll for NER)")
    ag.add_argument("--aug", required=True, help="augmenter spec, e.g. eda:alpha=0.1 (see `lowdata ls`)")
    ag.add_argument("--n", type=_count, help="variants per example (default: the augmenter's)")
    ag.add_argument("--seed", type=_natural, default=0)
    ag.add_argument("--format", help="input format (default: guessed)")
    ag.add_argument("--task", default="classify", choices=["classify", "ner", "multilabel"])
    ag.add_argument("--workers", type=_count, default=1, help="processes on this machine")
    ag.add_argument("--engine", default="local", choices=["local", "ray"])
    ag.add_argument("--no-original", action="store_true", help="write only the augmented rows")
    ag.add_argument("--overwrite", action="store_true")

    sy = sub.add_parser("synth", help="synthesize labeled examples (LM generation or an augmenter), then filter them")
    sy.add_argument("-i", "--input", required=True, help="labeled file: the labels, and the examples in the prompt")
    sy.add_argument("-o", "--output", required=True, help=".tsv, .csv or .jsonl: the synthetic rows only")
    src = sy.add_mutually_exclusive_group(required=True)
    src.add_argument("--generate", metavar="MODEL", help="a causal LM (local folder or hub name): label-conditioned "
                                                         "generation")
    src.add_argument("--aug", metavar="SPEC", help="an augmenter spec, e.g. mlm_refill:p=0.3 (see `lowdata ls`)")
    sy.add_argument("--n-per-label", type=_count, default=20, help="--generate: new examples per label")
    sy.add_argument("--shots", type=_natural, default=8, help="--generate: input examples per label in the prompt")
    sy.add_argument("--max-new-tokens", type=_count, default=48)
    sy.add_argument("--n", type=_count, help="--aug: variants per input text (default: the augmenter's)")
    sy.add_argument("--against", nargs="*", default=[], help="dev/test files: drop synthetic texts that leak into them")
    sy.add_argument("--judge", help="a trained classifier (…/model): drop examples it does not give their label")
    sy.add_argument("--threshold", type=float, default=0.5, help="--judge: least probability of the example's label")
    sy.add_argument("--near", type=float, default=0.9, help="near-duplicate cosine (char 3-gram TF-IDF)")
    sy.add_argument("--seed", type=_natural, default=0)
    sy.add_argument("--format", help="input format (default: guessed)")
    sy.add_argument("--overwrite", action="store_true")

    at = sub.add_parser("attack", help="adversarial examples against a trained classifier: robustness report")
    at.add_argument("--model", required=True, help="a classification model directory written by train (…/model)")
    at.add_argument("--data", required=True, help="labeled file to attack")
    at.add_argument("--format", help="data format (default: guessed)")
    at.add_argument("--recipe", default="synonym", choices=["synonym", "typo"])
    at.add_argument("--max-rate", type=_rate, default=0.2, help="most words changed, as a fraction (default 0.2)")
    at.add_argument("--n", type=_count, help="attack a random sample of n texts (seeded; default: all)")
    at.add_argument("--seed", type=_natural, default=0)
    at.add_argument("-o", "--out", required=True, help="output folder: summary.json, report.md, adversarial.jsonl")
    at.add_argument("--overwrite", action="store_true")

    cv = sub.add_parser("curve", help="learning-curve study: budgets x methods x seeds, fits, label equivalence")
    cv.add_argument("-c", "--config", required=True, help="study YAML (see lowdata.studies.study)")
    cv.add_argument("--workers", type=_count, default=1)
    cv.add_argument("--store", help="postgresql://... to share the study's cells between machines (default: the "
                                    "study's store, or SQLite in its output_dir)")

    sub.add_parser("ls", help="list backbones, data formats and registries")

    d = sub.add_parser("demo", help="lowdata auto on a built-in intent task, then an NER tagger, with reports")
    d.add_argument("--output-dir", default="runs/demo")
    d.add_argument("--model", default="minilm", help="backbone (default: the packaged MiniLM)")
    d.add_argument("--epochs", type=_count, default=10)
    d.add_argument("--overwrite", action="store_true")
    d.add_argument("--no-progress", action="store_true")
    d.add_argument("--budget", type=_typed(float, lambda v: v > 0, "minutes > 0"), default=3.0,
                   help="minutes for lowdata auto on the intent task (default 3)")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.verb is None:
        _parser().print_help()
        return 0
    import warnings

    from .errors import LowdataError, LowdataWarning

    plain = warnings.formatwarning

    def one_line(message, category, filename, lineno, line=None):  # lowdata's own warnings: one line, no source
        if issubclass(category, LowdataWarning):
            return f"lowdata: warning: {message}\n"
        return plain(message, category, filename, lineno, line)

    warnings.formatwarning = one_line
    try:
        verbs = {"train": _train, "auto": _auto, "select": _select, "merge": _merge, "pretrain": _pretrain,
                 "eval": _eval, "predict": _predict, "augment": _augment,
                 "attack": _attack, "curve": _curve, "ls": _ls, "demo": _demo, "synth": _synth,
                 "export": _export, "serve": _serve}
        return verbs[args.verb](args)
    except (LowdataError, FileExistsError, FileNotFoundError, PermissionError, IsADirectoryError,
            NotADirectoryError) as e:
        if args.debug:
            raise
        msg = " ".join(str(e).split()) if not isinstance(e, OSError) or not e.filename else \
            f"{e.filename}: {e.strerror}"
        print(f"lowdata {args.verb}: error: {msg}", file=sys.stderr)
        return 2


def _train(args) -> int:
    from .config import load_config
    from .methods import train as train_config

    cfg = load_config(args.config, args.overrides)
    m = train_config(cfg, resume=args.resume, overwrite=args.overwrite, allow_changes=args.allow_config_change)
    _summary(m, cfg.output_dir)
    return 0


def _auto(args) -> int:
    from .config import ConfigError, load_config
    from .data.splits import load_splits
    from .methods.auto import auto

    over = [f"data.train={args.train}", *([f"data.unlabeled={args.unlabeled}"] if args.unlabeled else []),
            *([f"data.test={args.test}"] if args.test else []), f"train.seed={args.seed}",
            f"train.progress={'false' if args.no_progress else 'true'}", "train.report_to=[]", *args.overrides]
    cfg = load_config(None, over)
    if cfg.data.dev or cfg.data.dev_fraction:
        raise ConfigError("lowdata auto uses no dev split: every label is in --train and the choice is made by "
                          "cross-validation inside it (join a labeled dev file into --train)")
    named = [o.split("=", 1)[1] for o in args.overrides if o.startswith("model.name=")]
    if args.backbones and named and named[-1] not in args.backbones:
        raise ConfigError(f"model.name={named[-1]} and --backbones {' '.join(args.backbones)} disagree: auto runs "
                          f"every candidate on --backbones (give the model there)")
    splits = load_splits(cfg.data, seed=args.seed)
    backbones = tuple(args.backbones or [cfg.model.name])
    r = auto(cfg, splits, args.output_dir, backbones=backbones, budget_s=60 * args.budget, k=args.folds,
             repeats=args.repeats, seed=args.seed, resume=args.resume, overwrite=args.overwrite,
             progress=not args.no_progress, max_pool=args.max_pool, rule=args.rule,
             worth=not args.no_worth, distill_to=args.distill_to)
    ch, est = r["chosen"], r["estimate"]
    print(f"chosen: {ch['recipe']} on {ch['backbone']}; CV accuracy {est['accuracy']:.4f} "
          f"[{est['interval'][0]:.3f}, {est['interval'][1]:.3f}] from {r['labels']} labels")
    if r.get("test"):
        print(f"test: accuracy {r['test']['accuracy']:.4f}")
    st = r.get("student")
    if st and "skipped" not in st:
        print(f"student on {st['backbone']}: accuracy within [{st['interval'][0]:.3f}, {st['interval'][1]:.3f}] "
              f"(disagrees with the chosen model on {100 * st['disagreement']:.1f}% of {st['held_out']} held-out "
              f"pool texts)" + (f"; test accuracy {st['test']['accuracy']:.4f}" if st.get("test") else ""))
    elif st:
        print(f"distillation into {st['backbone']} skipped: {st['skipped']}")
    print(f"written: {args.output_dir}/report.md, report.html, auto.json, final/"
          + (", student/" if st and "skipped" not in st else ""))
    return 0


def _select(args) -> int:
    from .active.run import select_file

    r = select_file(args.pool, args.output, args.strategy, args.n, labeled=args.labeled, model=args.model,
                    backbone=args.backbone, max_length=args.max_length, seed=args.seed, balance=args.balance,
                    overwrite=args.overwrite, progress=not args.no_progress, fmt=args.format, classes=args.classes,
                    history=args.history, bf16=args.bf16)
    print(f"{args.output}: {r['n']} of {r['pool_size']} pool texts by {r['strategy']}"
          f"{' (auto)' if args.strategy == 'auto' else ''}"
          f"{' (balanced)' if args.balance else ''} in {r['seconds']:.1f}s"
          + (f"; {r['left_out']} left out (already labeled or repeated)" if r["left_out"] else ""))
    g = r.get("next_batch")
    if g and "gain" in g:
        print(f"expected from the labels alone (CV curve of a frozen-LR surrogate, random labels, extrapolated): "
              f"accuracy {g['accuracy_now']:.3f} now -> {g['accuracy_after']:.3f} after {g['batch']} more "
              f"({100 * g['gain']:+.1f} points" + (f", 95% interval {100 * g['gain_ci'][0]:+.1f} to "
                                                    f"{100 * g['gain_ci'][1]:+.1f}" if "gain_ci" in g else "")
              + f"; ceiling {g['ceiling']:.3f})")
        if r["strategy"] in ("least_confidence", "margin", "entropy", "committee", "mc_dropout", "badge", "wkmeans"):
            print("if the labels so far were bought by an uncertainty strategy, this estimate reads too high: on AG "
                  "News with margin batches it stayed above 1 point a doubling where the curve had levelled off, "
                  "and stabilising predictions between rounds stopped better (docs/active.md)")
        if not g.get("learning", True):
            print(f"the surrogate is not above chance yet (CV accuracy {g['cv_accuracy_full_fold']:.3f} vs the "
                  f"majority class {g['chance']:.3f}, p = {g['above_chance_p']:.2f}): a flat curve here means it has "
                  "not started, not that it has levelled off")
    _print_stopping(r.get("stopping"))
    print(f"label them, then: lowdata merge --annotated {args.output}" +
          (f" --labeled {args.labeled}" if args.labeled else "") + " -o NEW_LABELED_FILE")
    return 0


def _print_stopping(s) -> None:
    if not s:
        return
    from .active.history import THRESHOLD, WINDOW

    where = f"stop set of {s['stop_set']} pool texts in {s['history']}"
    if s["round"] == 0:
        print(f"{where}: fixed; rounds are recorded once there are labels (--labeled) or a model (--model)")
    elif not s["added"]:
        print(f"{where}: the same labels (or model) as round {s['round']}, so no new round (label the batch, merge, "
              "then select)")
    elif s["kappa"] is None:
        print(f"{where}: round 1 recorded; agreement between rounds is read from round 2 on")
    else:
        print(f"{where}: round {s['round']}, kappa {s['kappa']:.3f} with round {s['round'] - 1}; {s['stable']} "
              f"round(s) in a row at >= {THRESHOLD} (stabilising predictions stop at {WINDOW})"
              + ("; predictions have stabilised: more labels are unlikely to change this model much" if s["stop"]
                 else ""))


def _merge(args) -> int:
    from .active.roundtrip import merge

    r = merge(args.annotated, args.labeled, args.output, batch=args.batch, partial=args.partial,
              new_labels=args.new_labels, overwrite=args.overwrite)
    print(f"{args.output}: {r['total']} labeled examples ({r['kept']} kept, {r['added']} added"
          + (f", {r['already_labeled']} already labeled the same" if r["already_labeled"] else "")
          + (f", {r['left_unlabeled']} of the batch left unlabeled" if r["left_unlabeled"] else "") + ")")
    return 0


def _pretrain(args) -> int:
    from .config import PretrainConfig, load_config
    from .pretrain import pretrain

    pc = load_config(args.config, args.overrides, cls=PretrainConfig)
    m = pretrain(pc, resume=args.resume, overwrite=args.overwrite, allow_changes=args.allow_config_change)
    b, a = m["heldout_before"], m["heldout_after"]
    if a:
        print(f"held-out perplexity {b['perplexity']:.2f} -> {a['perplexity']:.2f} (MLM loss {b['mlm_loss']:.4f} -> "
              f"{a['mlm_loss']:.4f}), {m['steps']} steps, {m['tokens_per_second']:.0f} tokens/s")
    print(f"model: {pc.output_dir}/model (use it as model.name in a train config)")
    return 0


def _summary(m: dict, out: str) -> None:
    for split in ("dev", "test"):
        r = m.get(split)
        if r:
            score = f"accuracy {r['accuracy']:.4f}" if r["task"] == "classify" else f"entity F1 {r['f1']:.4f}"
            print(f"{split}: {score}")
    student = {k: v for k, v in (m.get("student") or {}).items() if v}  # ssl.graph_predict: scores above = both
    for split, r in student.items():
        print(f"{split}, the final student alone: accuracy {r['accuracy']:.4f}")
    final = m.get("final_run")  # a method that trains several runs (self-training) names the final model's one
    has_model = os.path.isdir(os.path.join(out, "model"))  # frozen-encoder runs have no trained weights
    where = f"{out} (report.md, metrics.json, predictions.jsonl" + (", model/)" if has_model else ")")
    if final:
        chosen = " (best dev accuracy)" if m.get("selected_round", -1) != len(m.get("self_training", [])) - 1 else ""
        where += f"; the final model: {os.path.join(out, final, 'model')}{chosen}"
    print(f"run written to {where}")
    if m.get("scores_from"):
        print(f"student + graph scores written to {os.path.join(out, m['scores_from'])} (report.md, metrics.json, "
              f"predictions.jsonl)")


def _load_model(path):
    from .backbone import TaskModel
    from .data import LabelMap

    model, tok, meta = TaskModel.load(path)
    return model, tok, meta, LabelMap(meta["labels"])


def _eval(args) -> int:
    from .data import read
    from .evaluate.decode import model_decode
    from .evaluate.metrics import render_markdown
    from .evaluate.report import evaluate_split
    from .runs import output_file, write_json, write_text

    if args.out:
        if os.path.exists(args.out) and not os.path.isdir(args.out):
            from .errors import RunError

            raise RunError(f"{args.out}: --out is a file (expected a folder for metrics.json and report.md)")
        if os.path.isdir(args.out):
            for name in ("metrics.json", "report.md"):
                output_file(os.path.join(args.out, name), [args.data], args.overwrite)
    model, tok, meta, labels = _load_model(args.model)
    if meta.get("multilabel"):  # label sets: a delimited column ("a,b"), JSON lists (lowdata.data.multilabel)
        from .data.multilabel import read_multilabel

        data = read_multilabel(args.data, format=args.format)
        data.multi_hot(labels.names)  # a label the model does not know: DataError with its line
    else:
        data = read(args.data, format=args.format, task=meta["task"])
        labels.check(data, "eval")
    rep, _ = evaluate_split(model, tok, data, labels, meta["max_length"],
                            multilabel=meta if meta.get("multilabel") else None,
                            decode=model_decode(meta, os.path.join(args.model, "lowdata.json")))
    md = render_markdown(rep, f"eval ({args.data})")
    print(md)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        write_json(os.path.join(args.out, "metrics.json"), rep)
        write_text(os.path.join(args.out, "report.md"), md)
    return 0


def _predict(args) -> int:
    import json
    import tempfile

    from .predict import load_predictor, predict_stream, stream_file
    from .runs import output_file

    if args.engine == "ray":
        from .predict import predict_ray

        if not args.input or not args.output:
            from .errors import ConfigError

            raise ConfigError("--engine ray needs -i FILE and -o FOLDER")
        n = predict_ray(args.model, args.input, args.output, args.onnx, args.int8, args.batch_size, args.chunk,
                        args.workers)
        print(f"{n} predictions written to {args.output}/ (JSONL shards, in input order)", file=sys.stderr)
        return 0
    output_file(args.output, [args.input, args.model], args.overwrite)  # before any work: never over an input
    model, tok, meta = load_predictor(args.model, args.onnx, args.int8)
    chunks = stream_file(args.input, meta["task"], args.format, args.chunk, progress=not args.no_progress)
    recs = predict_stream(model, tok, meta, chunks, args.batch_size)
    if not args.output:
        n = 0
        for r in recs:
            sys.stdout.write(json.dumps(r, ensure_ascii=False) + "\n")
            n += 1
        if n == 0 and args.input is None:
            from .data import DataError

            raise DataError("no input (expected one text per line)", "<stdin>")
        return 0
    out = os.path.abspath(args.output)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(out), prefix=".lowdata-predict-")
    try:  # streamed into a file beside the output, renamed into place at the end: never half-written
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for r in recs:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise
    return 0


def _export(args) -> int:
    from .export import export

    rec = export(args.model, args.output, args.quantize, args.check, args.overwrite)
    for name, g in rec["graphs"].items():
        print(f"{os.path.join(args.output, name)}: {g['bytes'] / 1e6:.1f} MB, vs PyTorch on {g['compared']} "
              f"{'texts' if rec['task'] == 'classify' else 'words'}: max abs diff in probabilities "
              f"{g['max_abs_diff']:.2e}, argmax agreement {g['argmax_agreement']:.4f}")
    return 0


def _serve(args) -> int:
    from .serve import serve

    serve(args.model, args.host, args.port, args.onnx, args.int8, max_batch=args.max_batch,
          max_wait_ms=args.max_wait_ms, max_texts=args.max_texts, max_chars=args.max_chars, max_body=args.max_body)
    return 0


def _augment(args) -> int:
    import time

    from .augment.run import augment_file

    t0 = time.time()
    r = augment_file(args.input, args.output, args.aug, n=args.n, seed=args.seed, workers=args.workers,
                     engine=args.engine, fmt=args.format, task=args.task, keep_original=not args.no_original,
                     overwrite=args.overwrite)
    extra = f", {r['dropped_empty']} empty variants dropped" if r.get("dropped_empty") else ""
    print(f"{args.output}: {r['output']} rows from {r['input']} examples{extra} in {time.time() - t0:.1f}s")
    return 0


def _synth(args) -> int:
    from .synth.run import synth_file

    r = synth_file(args.input, args.output, generate=args.generate, aug=args.aug, n_per_label=args.n_per_label,
                   shots=args.shots, n=args.n, against=args.against, judge=args.judge, threshold=args.threshold,
                   near=args.near, seed=args.seed, fmt=args.format, overwrite=args.overwrite,
                   max_new_tokens=args.max_new_tokens)
    why = ", ".join(f"{k} {v}" for k, v in r["dropped"].items()) or "none"
    print(f"{args.output}: kept {r['kept']} of {r['generated']} synthetic examples ({r['source']}); dropped: {why}; "
          f"per label: {r['per_label']}; report: {args.output}.report.json")
    return 0


def _attack(args) -> int:
    import json
    import os
    import random

    from .data import read
    from .robust.attack import Victim, attack, render_markdown

    from .errors import RunError, RunExistsError

    names = ("summary.json", "report.md", "adversarial.jsonl")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise RunError(f"{args.out}: -o is a file (expected a folder for {', '.join(names)})")
    for n in names:
        if os.path.realpath(os.path.join(args.out, n)) == os.path.realpath(args.data):
            raise RunError(f"{args.data}: the input lies where the attack writes its report; choose another -o")
    if not args.overwrite and any(os.path.exists(os.path.join(args.out, n)) for n in names):
        raise RunExistsError(f"{args.out} already holds an attack report; pass --overwrite to replace it")
    victim = Victim.load(args.model)
    data = read(args.data, format=args.format, task="classify")
    victim.labels.check(data, "attack")
    idx = list(range(len(data.texts)))
    if args.n is not None and args.n < len(idx):
        idx = sorted(random.Random(args.seed).sample(idx, args.n))
    res = attack(victim, [data.texts[i] for i in idx], [data.labels[i] for i in idx], args.recipe, args.max_rate,
                 args.seed)
    title = f"attack ({args.data}" + (f", {len(idx)} of {len(data.texts)} texts sampled" if len(idx) < len(data.texts)
                                      else "") + ")"
    md = render_markdown(res["summary"], title)
    os.makedirs(args.out, exist_ok=True)
    for name, body in (("summary.json", json.dumps(res["summary"], indent=2)), ("report.md", md),
                       ("adversarial.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n"
                                                     for r in res["records"]))):
        tmp = os.path.join(args.out, name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(body)
        os.replace(tmp, os.path.join(args.out, name))
    print(md)
    return 0


def _curve(args) -> int:
    from .studies.study import load_study, run_study, write_report

    st = load_study(args.config)
    if args.store:
        st.store = args.store
    res = run_study(st, workers=args.workers)
    md, _ = write_report(st, res)
    print(md)
    print(f"written: {st.output_dir}/curve.json, report.md, report.html")
    return 0


def _ls(args) -> int:
    from .backbone import DEFAULT
    from .data.readers import FORMATS
    from .packaged import PACKAGED, status

    print("backbones (aliases; any Hugging Face encoder name or local folder also works):")
    for k, p in PACKAGED.items():
        print(f"  {k:9s} {p.full_name:40s} {p.params:>22s}  {p.languages:30s} {status(k)}"
              + ("   [default]" if k == DEFAULT else ""))
    from .methods import METHODS
    from .registry import ADVERSARIAL, AUGMENTERS, NER_AUGMENTERS, SSL_METHODS

    print("methods (the config picks one: data.task, ssl.method, contrastive.pairs, a pretrain: section): "
          + ", ".join(METHODS.names()))
    print("augmenters: " + ", ".join(AUGMENTERS.names()))
    print("NER augmenters: " + ", ".join(NER_AUGMENTERS.names()))
    print("ssl methods: " + ", ".join(SSL_METHODS.names()))
    print("adversarial training: " + ", ".join(ADVERSARIAL.names()))
    from .active import STRATEGIES

    print("query strategies (lowdata select, curve acquisition): " + ", ".join(STRATEGIES.names()))
    print("data formats: " + ", ".join(FORMATS))
    print("tasks: classify, ner, multilabel (data.task; label sets: a delimited column, JSON lists, one-hot columns)")
    return 0


def _demo(args) -> int:
    from .demo import run_demo

    run_demo(args.output_dir, args.model, args.epochs, overwrite=args.overwrite, progress=not args.no_progress,
             budget_min=args.budget)
    return 0


if __name__ == "__main__":
    sys.exit(main())
