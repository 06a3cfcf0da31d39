"""Typed run configuration <-> YAML, with "a.b=value" overrides.

    cfg = load_config("configs/sst2-16shot.yaml", ["train.lr=3e-5", "data.k_per_class=16"])
    dump_config(cfg, "runs/x/config.yaml")      # the resolved config, written with every run

Unknown keys fail with the list of valid ones.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from .errors import ConfigError  # noqa: F401  (re-exported: `from lowdata.config import ConfigError`)


@dataclass
class DataConfig:
    train: Optional[str] = None          # path (or HF dataset name with format: hf)
    dev: Optional[str] = None
    test: Optional[str] = None
    format: Optional[str] = None         # csv tsv jsonl label_text text conll hf; None = guess from name/content
    task: str = "classify"               # classify | ner | multilabel
    text_column: Union[str, int, None] = None
    label_column: Union[str, int, None] = None
    header: Optional[bool] = None        # None = auto-detect
    encoding: str = "utf-8"
    k_per_class: Optional[int] = None    # few-shot: k labeled per class from train (NER: k sentences)
    fraction: Optional[float] = None     # or a seeded fraction of train
    dev_fraction: float = 0.0            # carve a dev split off train when no dev file is given
    sample_seed: Optional[int] = None    # seed of the few-shot draw (default: train.seed)
    unlabeled: Optional[str] = None      # unlabeled text file (default with k_per_class: the rest of train)
    unlabeled_column: Union[str, int, None] = None  # its text column (default: text_column)
    test_sample: int = 0                 # >0: score on this many test examples, the same seeded draw for every run
    label_sep: str = ","                 # multilabel: separator of the label names in a label column ("joy,fear")
    label_names: Optional[str] = None    # multilabel: file of label names, one per line; integer labels index it
    label_columns: Optional[list] = None  # multilabel: one 0/1 column per label (CSV/TSV with a header)


@dataclass
class ModelConfig:
    name: str = "minilm"                 # alias, local path, or hub name
    pooling: str = "mean"                # mean | cls (classification)
    max_length: int = 128
    dropout: float = 0.1
    embed_bf16: bool = False             # sentence vectors (frozen methods, graphs, pools, the frozen path's SetFit
                                         # head) under bf16 autocast where the hardware runs bf16 natively: 2.4-3.3x
                                         # faster on a 2-core AVX512-BF16 CPU, cosine >= 0.9999 to float32's, cached
                                         # apart (lowdata.ssl.embedding; bench/embed_speed.py); also distillation's
                                         # teacher pass over the pool (ssl.method=distill; bench/teacher_pass.py:
                                         # 2.09x for mpnet, the same label on 99.9% of texts)
    ner_decode: str = "auto"             # NER: auto | viterbi | argmax. viterbi: the most probable tag sequence
                                         # the IOB2 / IOBES / BILOU scheme allows (lowdata.evaluate.decode; Lester
                                         # et al. 2020); auto: viterbi unless the tags follow no scheme or the
                                         # training tags break it (IOB1, IO); argmax: each word alone


@dataclass
class TrainConfig:
    epochs: int = 10
    max_steps: int = 0                   # >0 caps the number of optimizer steps
    batch_size: int = 16
    eval_batch_size: int = 64
    lr: float = 5e-5
    head_lr: Optional[float] = None      # default: lr
    lp_init: bool = False                # LP-FT: fit the head by logistic regression on frozen features first
    gce_q: Optional[float] = None        # generalized cross-entropy L_q for noisy labels (Zhang & Sabuncu 2018;
                                         # 0.7 in the paper); None = cross-entropy
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    patience: int = 3                    # early stopping: evaluations without dev improvement
    eval_every: int = 0                  # steps between dev evaluations; 0 = once per epoch
    save_every: int = 50                 # steps between resumable checkpoints (and at epoch ends); 0 = none
    seed: int = 0
    progress: bool = True
    report_to: list = field(default_factory=lambda: ["tensorboard"])  # tensorboard, mlflow, wandb, none
    bf16: bool = True                    # bf16 autocast in training where it is fast (GPU; CPU with AVX512-BF16/AMX)
    fast_dropout: bool = True            # CPU: dropout masks drawn by numpy and attention with dropout by lowdata's
                                         # own kernel (lowdata.dropout), the same dropout, MiniLM training 1.1-1.2x
                                         # faster; false: torch's own dropout
    cpu: bool = False                    # force CPU


@dataclass
class AugmentConfig:
    specs: list = field(default_factory=list)  # e.g. ["eda:alpha=0.05,n=8"]: each adds its variants as labeled copies
    seed: Optional[int] = None               # default: train.seed
    multiview: Optional[str] = None          # second view + consistency loss, e.g. "reverse" or "keyboard:p=0.05"
    multiview_weight: float = 1.0


@dataclass(slots=True)  # slots: setting a key that moved (cfg.ssl.rounds) fails instead of being ignored
class SSLConfig:
    method: Optional[str] = None             # fixmatch | flexmatch | uda | gan_bert | distill (in-loop), self_training,
                                             # frozen_lr | label_spreading | gcn (see `lowdata ls`)
    threshold: Optional[float] = None        # FixMatch / UDA confidence threshold (default: the paper's value)
    weight: float = 1.0                      # lambda_u
    mu: int = 2                              # unlabeled / labeled batch size
    weak: Optional[str] = None               # FixMatch weak view (augmenter spec)
    strong: Optional[str] = None             # FixMatch strong view / UDA augmentation (augmenter spec)
    T: Optional[float] = None                # UDA's sharpening temperature (default 0.4) | distill's (default 1)
    teacher: Optional[str] = None            # distill: a trained lowdata classifier folder over the same labels
    tsa: Optional[str] = "linear"            # UDA training-signal annealing: linear | log | exp | null
    warmup: int = 0                          # FixMatch: supervised-only steps before the unlabeled loss starts
    align: bool = False                      # FixMatch: distribution alignment toward a uniform class prior


@dataclass
class SelfTrainingConfig:
    """Self-training's own settings (lowdata.methods.self_training; ssl.method: self_training). The old spellings
    ssl.<key> (and ssl.threshold with ssl.method: self_training) are still read, with a note."""
    rounds: int = 3                          # teacher-student rounds
    threshold: float = 0.9                   # keep pool predictions at least this confident
    balance: bool = True                     # the same number of pseudo-labels per class
    max_per_class: Optional[int] = None      # at most this many pseudo-labels per class and round
    seed_graph: Optional[str] = None         # first pseudo-labels from gcn | label_spreading over the frozen
                                             # encoder's kNN graph instead of a few-shot model; auto: round 0 with
                                             # and without the GCN's, dev keeps the better (needs dev)
    graph_ensemble: bool = False             # later rounds' teacher = mean of the model's and the seed graph's class
                                             # probabilities (needs seed_graph)
    graph_refresh: bool = False              # after each round, rebuild the graph over the student's embeddings and
                                             # take pseudo-labels from it (Iscen et al. 2019)
    graph_predict: bool = False              # final dev/test predictions = mean of the final student's and the seed
                                             # graph's probabilities (transductive; needs seed_graph)
    portion: Optional[float] = None          # class-balanced (CBST, Zou et al. 2018): keep the top portion of each
                                             # predicted class instead of a global threshold (0.2)
    portion_step: float = 0.05               # CBST: the portion grows by this much each round
    select_round: str = "dev"                # the final model: the round with the best dev accuracy (dev; the last
                                             # round when there is no dev split) | the last (last)


@dataclass
class AdversarialConfig:
    """Adversarial training in embedding space (lowdata.robust.adversarial); unset values take the paper defaults."""
    method: Optional[str] = None             # fgm | pgd | freelb
    eps: Optional[float] = None              # FGM/PGD perturbation radius (1.0)
    alpha: Optional[float] = None            # PGD/FreeLB ascent step (0.3 / 0.1)
    steps: Optional[int] = None              # PGD/FreeLB ascent steps K (3)
    max_norm: Optional[float] = None         # FreeLB projection radius, 0 = unbounded


@dataclass
class FusionConfig:
    """The `pretrain:` section of a train config: continued MLM on the run's own text (train + unlabeled) first."""
    epochs: int = 0                          # 0 and max_steps 0 = off
    max_steps: int = 0
    lr: float = 1e-4
    batch_size: int = 32
    max_length: int = 128
    whole_word: bool = True


@dataclass
class ContrastiveConfig:
    """SetFit's contrastive stage (lowdata.contrastive): pairs of training texts tune the encoder before the head."""
    pairs: int = 0                           # R: positive and negative pairs per text (SetFit: 20); 0 = off
    sampling: str = "per_text"               # per_text: each round, a random partner of each kind per text | unique:
    # the setfit library's (every unordered pair, self-pairs included, once in a seeded order, cycled; contrastive.py)
    # | auto: unique for more than two classes, per_text for two
    epochs: int = 1
    max_steps: int = 0                       # >0: this many steps instead of epochs
    batch_size: int = 16
    lr: float = 2e-5
    bucket: bool = True                      # length-bucketed pair batches (the loop's); false: random batches, as
    # sentence-transformers draws them (slower: more padding)
    reuse_dir: Optional[str] = None          # frozen methods: keep tuned encoders here, keyed by what tuned them (the
    # model, contrastive and train settings, the labeled texts), so runs on the same labels share one tuning
    # (lowdata auto sets it for its folds; methods/frozen.py tune_encoder)


@dataclass
class FrozenConfig:
    """The frozen-encoder method's settings (lowdata.methods.frozen; ssl.method frozen_lr | label_spreading | gcn)."""
    k: int = 10                              # neighbours of each point in the kNN graph (label_spreading, gcn)
    alpha: float = 0.99                      # label spreading's clamping (Zhou et al. 2003: 0.99)
    C: float = 1.0                           # frozen_lr: inverse L2 strength of the logistic regression
    save_model: bool = True                  # frozen_lr: write model/ (encoder + the regression as its head)
    pseudo_labels: Optional[str] = None      # frozen_lr: gcn | label_spreading = one round of self-training of the
    # regression on the pool's graph pseudo-labels (the labels + data.unlabeled only; methods/frozen.py)
    pseudo_portion: float = 0.2              # their share: the most confident of each predicted class, balanced
    pseudo_weighting: str = "certainty"      # top: that share, weight 1 | certainty: every pool text, weighted by
    # the graph's certainty 1 - H/log C and its class's inverse size (Iscen et al. 2019); pseudo_portion unused
    pseudo_max_pool: int = 2000              # a seeded sample of the pool this large at most joins the graph


@dataclass
class MultiLabelConfig:
    """Multi-label classification (data.task=multilabel; lowdata.methods.multilabel)."""
    thresholds: str = "auto"                 # per-label decision thresholds: auto = dev when there is one, else
    # cross-validated inside the labels where the method allows it cheaply (frozen_lr, setfit), else fixed
    threshold: float = 0.5                   # the fixed threshold (thresholds=fixed, or fine-tuning with no dev)
    at_least_one: bool = True                # a text with no label over its threshold gets its most probable one
    cv_folds: int = 5


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    ssl: SSLConfig = field(default_factory=SSLConfig)
    self_training: SelfTrainingConfig = field(default_factory=SelfTrainingConfig)
    pretrain: FusionConfig = field(default_factory=FusionConfig)
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)
    contrastive: ContrastiveConfig = field(default_factory=ContrastiveConfig)
    frozen: FrozenConfig = field(default_factory=FrozenConfig)
    multilabel: MultiLabelConfig = field(default_factory=MultiLabelConfig)
    output_dir: str = "runs/default"


@dataclass
class CorpusConfig:
    paths: list = field(default_factory=list)  # .txt (blank line or one line = one document), .jsonl, hf:<name|path>
    format: Optional[str] = None         # text | jsonl | hf (default: guessed from the name)
    text_field: str = "text"             # jsonl / hf column
    encoding: str = "utf-8"
    documents: str = "auto"              # text files: "blank_line" (BERT's convention), "line", or auto (peek)
    language: str = "auto"               # en | zh | auto: zh when most letters are CJK (word boundaries from jieba)
    dedup: bool = True                   # drop exact duplicate documents (whitespace- and case-normalised)
    heldout: float = 0.02                # share of documents held out for MLM loss / perplexity (by hash: stable)
    max_heldout: int = 2000              # at most this many held-out sequences
    max_documents: int = 0               # 0 = all


@dataclass
class PretrainModelConfig:
    name: Optional[str] = "minilm"       # continued pretraining of this encoder; null = from scratch (below)
    tokenizer: Optional[str] = None      # from scratch: a vocab.txt (WordPiece) or "train" (WordPiece on the corpus)
    vocab_size: int = 8000               # tokenizer training
    lowercase: bool = True
    layers: int = 4                      # from scratch: size
    hidden: int = 256
    heads: int = 4
    intermediate: int = 0                # 0 = 4 x hidden
    max_length: int = 128                # packed sequence length (tokens, specials included)
    freeze_encoder: bool = False         # train the MLM head only (a control: what a fitted head alone achieves)


@dataclass
class ObjectiveConfig:
    mlm_probability: float = 0.15
    mask_replace: float = 0.8            # of the chosen tokens: [MASK] / random token / unchanged = 80/10/10
    random_replace: float = 0.1
    whole_word: bool = True              # mask whole words (WordPiece ## pieces; Chinese: jieba words)
    sentence: Optional[str] = None       # null | nsp (Devlin et al. 2019) | sop (Lan et al. 2020)


@dataclass
class PretrainConfig:
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    model: PretrainModelConfig = field(default_factory=PretrainModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=3, batch_size=32, lr=1e-4, patience=0,
                                                                   eval_every=200, save_every=200))
    output_dir: str = "runs/pretrain"


_MOVED = ("rounds", "balance", "max_per_class", "seed_graph", "graph_ensemble", "graph_refresh", "graph_predict",
          "portion", "portion_step", "select_round")  # ssl.<key> -> self_training.<key>


def migrate(values: dict, note=None) -> dict:
    """Old spellings -> the current layout: self-training's settings moved from ssl: to self_training: (and
    ssl.threshold with ssl.method: self_training). Returns a new dict; `note(text)` hears what was moved."""
    ssl = values.get("ssl")
    if not isinstance(ssl, dict):
        return values
    moved = [k for k in _MOVED if k in ssl]
    if ssl.get("method") == "self_training" and ssl.get("threshold") is not None:
        moved.append("threshold")
    if not moved:
        return values
    st = dict(values.get("self_training") or {})  # the old spelling wins: a dumped config holds every new key
    ssl = dict(ssl)
    st.update({k: ssl.pop(k) for k in moved})
    if note is not None:
        note(f"ssl.{', ssl.'.join(moved)}: read as self_training.{', self_training.'.join(moved)} (their place now)")
    return {**values, "ssl": ssl, "self_training": st}


def _note(text: str) -> None:
    import sys

    print(f"lowdata: note: {text}", file=sys.stderr, flush=True)


def _build(cls, values: dict, where: str, base=None):
    """values over `base` (an instance whose fields are the defaults; default: cls())."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(values).__name__}")
    if cls is Config:
        values = migrate(values, _note)
    import typing

    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for k, v in values.items():
        if k not in fields:
            raise ConfigError(f"{where or 'config'}: unknown key {k!r} (valid: {', '.join(fields)})")
        sub = fields[k].default_factory if fields[k].default_factory is not dataclasses.MISSING else None
        if sub is not None and (dataclasses.is_dataclass(sub) or dataclasses.is_dataclass(hints[k])):
            kwargs[k] = _build(hints[k], v, f"{where}.{k}" if where else k, base=sub())
        else:
            kwargs[k] = _coerce(v, hints[k], f"{where}.{k}" if where else k)
    return dataclasses.replace(base, **kwargs) if base is not None else cls(**kwargs)


def _coerce(v, hint, where: str):
    """YAML reads '5e-5' as a string and '1' for a float field as an int: convert to the field's type."""
    import typing

    args = [a for a in typing.get_args(hint) if a is not type(None)] if typing.get_origin(hint) is Union else [hint]
    if v is None or any(a is typing.Any for a in args):
        return v
    for a in args:
        if a in (str, list) and isinstance(v, a):
            return v
        if a is bool and isinstance(v, bool):
            return v
        if a is int and isinstance(v, int) and not isinstance(v, bool):
            return v
        if a is float and isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    for a in args:
        try:
            if a is float and isinstance(v, str):
                return float(v)
            if a is int and isinstance(v, str):
                return int(v)
            if a is list and isinstance(v, str):
                return [x for x in v.split(",") if x]
        except ValueError:
            pass
    names = " or ".join(getattr(a, "__name__", str(a)) for a in args)
    raise ConfigError(f"{where}: expected {names}, got {v!r}")


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(d: dict, where: str = "config", cls=Config):
    """A validated `cls` from a nested dict (unknown keys, wrong types and out-of-range values raise ConfigError)."""
    cfg = _build(cls, d, where)
    validate(cfg)
    return cfg


def apply_overrides(d: dict, overrides: list[str]) -> dict:
    """["train.lr=3e-5", "data.train=x.tsv"] applied to a nested dict; values parsed as YAML scalars."""
    import yaml

    for ov in overrides or []:
        if "=" not in ov:
            raise ConfigError(f"override {ov!r}: expected key.sub=value")
        key, val = ov.split("=", 1)
        parts = key.strip().split(".")
        node = d
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {ov!r}: {p!r} is not a section")
        try:
            node[parts[-1]] = yaml.safe_load(val) if val != "" else None
        except yaml.YAMLError:
            raise ConfigError(f"override {ov!r}: the value is not a valid YAML scalar or list") from None
    return d


def read_yaml(path: str):
    """A YAML file's content ({} when empty); ConfigError naming the file (and line) when missing, not UTF-8, invalid,
    or holding a key twice in one mapping (PyYAML keeps the last silently: `train:` written twice lost the first)."""
    import yaml

    def no_key_twice(node, done=None):  # on the composed nodes (yaml.compose constructs no object), then safe_load
        done = set() if done is None else done
        if id(node) in done:  # an alias: its anchor's node was checked (and a billion-laughs file stays linear)
            return
        done.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":  # `<<:` may re-set keys
                    if k.value in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"key {k.value!r} appears twice in one mapping (first at line "
                            f"{seen[k.value]})", k.start_mark)
                    seen[k.value] = k.start_mark.line + 1
                no_key_twice(v, done)
        elif isinstance(node, yaml.SequenceNode):
            for v in node.value:
                no_key_twice(v, done)

    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        no_key_twice(yaml.compose(text, Loader=yaml.SafeLoader))
        return yaml.safe_load(text) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason}); expected a YAML config") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: invalid YAML ({getattr(e, 'problem', e)})") from None


def load_config(path: Optional[str] = None, overrides: Optional[list[str]] = None, cls=Config):
    """YAML file + overrides -> `cls` (Config for train, PretrainConfig for pretrain)."""
    d: dict[str, Any] = read_yaml(path) if path else {}
    if not isinstance(d, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (data:, model:, train: ...) at the top level, "
                          f"got a {type(d).__name__}")
    apply_overrides(d, overrides or [])
    try:
        cfg = _build(cls, d, "")
        validate(cfg)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}" if path else str(e)) from None
    return cfg


def dump_config(cfg: Config, path: str) -> None:
    import yaml

    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(to_dict(cfg), f, sort_keys=False)


# ---- validation: every field's range or choices, checked when a config is built (load_config, from_dict) and
# again by the runs (a Config built in Python). Messages name the key, the valid range and the value.

def _num(lo=None, hi=None, lo_open=False, hi_open=False, optional=False, integer=False):
    def check(v):
        if v is None:
            return optional
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not isinstance(v, int)):
            return False
        if not math.isfinite(v):  # NaN, and inf (train.lr=inf trained until the loss was nan)
            return False
        if lo is not None and (v <= lo if lo_open else v < lo):
            return False
        return hi is None or (v < hi if hi_open else v <= hi)
    kind = "an integer" if integer else "a number"
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {lo}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '<='} {hi}")
    check.text = f"{kind} {' and '.join(parts)}".strip() + (" (or null)" if optional else "")
    return check


def _one_of(*choices):
    def check(v):
        return v in choices
    check.text = "one of " + ", ".join("null" if c is None else str(c) for c in choices)
    return check


def _registered(registry: str):
    """null or a name of a lowdata.registry registry (the registry is the one list of valid names)."""
    from . import registry as reg

    names = getattr(reg, registry).names()

    def check(v):
        return v is None or v in names
    check.text = "null or one of " + ", ".join(names)
    return check


def _int(lo, optional=False):
    return _num(lo, integer=True, optional=optional)


def _unit(optional=False, lo_open=False, hi_open=False):
    return _num(0, 1, lo_open=lo_open, hi_open=hi_open, optional=optional)


def _positive(optional=False):
    return _num(0, lo_open=True, optional=optional)


_FORMATS = (None, "csv", "tsv", "jsonl", "label_text", "text", "conll", "hf")  # = lowdata.data.readers.FORMATS
RULES = {
    DataConfig: {"format": _one_of(*_FORMATS), "task": _one_of("classify", "ner", "multilabel"),
                 "k_per_class": _int(1, True),
                 "fraction": _num(0, 1, lo_open=True, optional=True), "dev_fraction": _unit(hi_open=True),
                 "sample_seed": _int(0, True), "test_sample": _int(0)},
    ModelConfig: {"pooling": _one_of("mean", "cls"), "max_length": _num(8, 8192, integer=True),
                  "dropout": _unit(hi_open=True), "ner_decode": _one_of("auto", "viterbi", "argmax")},
    TrainConfig: {"epochs": _int(0), "max_steps": _int(0), "batch_size": _int(1), "eval_batch_size": _int(1),
                  "lr": _num(0), "head_lr": _num(0, optional=True), "gce_q": _num(0, 1, lo_open=True, optional=True),
                  "weight_decay": _num(0), "warmup_ratio": _unit(hi_open=True), "max_grad_norm": _num(0),
                  "patience": _int(0), "eval_every": _int(0), "save_every": _int(0), "seed": _int(0)},
    SSLConfig: {"method": _registered("SSL_METHODS"), "threshold": _unit(True), "weight": _num(0), "mu": _int(1),
                "T": _positive(True), "tsa": _one_of(None, "linear", "log", "exp"), "warmup": _int(0)},
    SelfTrainingConfig: {"rounds": _int(1), "threshold": _unit(), "max_per_class": _int(1, True),
                         "seed_graph": _one_of(None, "gcn", "label_spreading", "auto"),
                         "portion": _num(0, 1, lo_open=True, optional=True), "portion_step": _unit(),
                         "select_round": _one_of("dev", "last")},
    AugmentConfig: {"seed": _int(0, True), "multiview_weight": _num(0)},
    AdversarialConfig: {"method": _registered("ADVERSARIAL"), "eps": _positive(True),
                        "alpha": _positive(True), "steps": _int(1, True), "max_norm": _num(0, optional=True)},
    FusionConfig: {"epochs": _int(0), "max_steps": _int(0), "lr": _positive(), "batch_size": _int(1),
                   "max_length": _num(8, 8192, integer=True)},
    ContrastiveConfig: {"pairs": _int(0), "sampling": _one_of("per_text", "unique", "auto"), "epochs": _int(0),
                        "max_steps": _int(0), "batch_size": _int(2), "lr": _positive()},
    MultiLabelConfig: {"thresholds": _one_of("auto", "dev", "cv", "fixed"), "threshold": _unit(lo_open=True,
                                                                                              hi_open=True),
                       "cv_folds": _int(2)},
    FrozenConfig: {"k": _int(1), "alpha": _num(0, 1, lo_open=True, hi_open=True), "C": _positive(),
                   "pseudo_labels": _one_of(None, "gcn", "label_spreading"), "pseudo_portion": _unit(lo_open=True),
                   "pseudo_weighting": _one_of("top", "certainty"), "pseudo_max_pool": _int(1)},
    CorpusConfig: {"format": _one_of(None, "text", "jsonl", "hf"), "documents": _one_of("auto", "blank_line", "line"),
                   "language": _one_of("auto", "en", "zh"), "heldout": _unit(hi_open=True), "max_heldout": _int(0),
                   "max_documents": _int(0)},
    PretrainModelConfig: {"vocab_size": _int(10), "layers": _int(1), "hidden": _int(1), "heads": _int(1),
                          "intermediate": _int(0), "max_length": _num(8, 8192, integer=True)},
    ObjectiveConfig: {"mlm_probability": _unit(lo_open=True, hi_open=True), "mask_replace": _unit(),
                      "random_replace": _unit(), "sentence": _one_of(None, "nsp", "sop")},
}
_REPORTERS = ("tensorboard", "mlflow", "wandb", "none")


def validate(cfg, where: str = "") -> None:
    """Raise ConfigError naming the first field out of its range (see RULES) or a bad combination of fields."""
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        key = f"{where}{f.name}"
        if dataclasses.is_dataclass(v):
            validate(v, key + ".")
            continue
        rule = RULES.get(type(cfg), {}).get(f.name)
        if rule is not None and not rule(v):
            raise ConfigError(f"{key}: expected {rule.text}, got {v!r}")
    if isinstance(cfg, TrainConfig):
        bad = [r for r in cfg.report_to if r not in _REPORTERS]
        if bad:
            raise ConfigError(f"{where}report_to: unknown logger {bad[0]!r} (valid: {', '.join(_REPORTERS)})")
    if isinstance(cfg, ObjectiveConfig) and cfg.mask_replace + cfg.random_replace > 1:
        raise ConfigError(f"{where}mask_replace + random_replace: expected a sum <= 1, got "
                          f"{cfg.mask_replace + cfg.random_replace}")
    if isinstance(cfg, AugmentConfig):
        from .augment import check_spec

        for i, s in enumerate(cfg.specs):
            check_spec(s, f"{where}specs[{i}]")
        if cfg.multiview:
            check_spec(cfg.multiview, f"{where}multiview")
    if isinstance(cfg, SSLConfig):
        from .augment import check_spec

        for name in ("weak", "strong"):
            if getattr(cfg, name):
                check_spec(getattr(cfg, name), f"{where}{name}")
    if isinstance(cfg, Config):
        t = cfg.train
        frozen = cfg.ssl.method in ("frozen_lr", "label_spreading", "gcn")
        if t.epochs == 0 and t.max_steps == 0 and not cfg.contrastive.pairs and not frozen:
            raise ConfigError("train.epochs: expected an integer >= 1 (or train.max_steps >= 1), got 0: the run "
                              "would train nothing (0 is valid only with contrastive.pairs > 0, where the head is "
                              "fitted by logistic regression, or a frozen ssl.method)")
        if cfg.frozen.pseudo_labels and cfg.ssl.method != "frozen_lr":
            raise ConfigError(f"frozen.pseudo_labels: self-trains frozen_lr's regression; ssl.method is "
                              f"{cfg.ssl.method!r} (set ssl.method=frozen_lr, or frozen.pseudo_labels=null)")
        if not isinstance(cfg.output_dir, str) or not cfg.output_dir.strip():
            raise ConfigError(f"output_dir: expected a folder path, got {cfg.output_dir!r}")
    if isinstance(cfg, PretrainConfig):
        t = cfg.train
        if t.epochs == 0 and t.max_steps == 0:
            raise ConfigError("train.epochs: expected an integer >= 1 (or train.max_steps >= 1), got 0")
