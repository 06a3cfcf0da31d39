"""Semi-supervised learning: in-loop losses and pure math only. The losses plug into the loop's `ssl=` argument
(FixMatch, UDA, GAN-BERT, multi-view consistency, distillation from a teacher); graph propagation, pseudo-label
selection and cached sentence vectors are the math the methods use (the methods themselves, self-training and the
frozen-encoder classifiers, are lowdata.methods)."""


def build_ssl(sc, tokenizer, cfg):
    """An in-loop SSL object from the config's ssl section (None for no method / self-training)."""
    from ..augment import build

    seed, ml = cfg.train.seed, cfg.model.max_length
    view = lambda spec: build(spec, seed=seed, n=1) if spec else None  # noqa: E731
    m = sc.method
    if m in (None, "self_training"):
        return None
    if m in ("fixmatch", "flexmatch"):
        from .fixmatch import FixMatch

        tau = 0.95 if sc.threshold is None else sc.threshold  # FixMatch paper: 0.95
        return FixMatch(tokenizer, view(sc.weak), view(sc.strong), tau, sc.weight, sc.mu,
                        flex=m == "flexmatch", max_length=ml, seed=seed, warmup=sc.warmup, align=sc.align)
    if m == "uda":
        from .uda import UDA

        steps = cfg.train.max_steps or 0
        beta = 0.8 if sc.threshold is None else sc.threshold  # UDA paper: 0.8
        T = 0.4 if sc.T is None else sc.T  # UDA paper: 0.4
        return UDA(tokenizer, view(sc.strong), T, beta, sc.weight, sc.tsa, steps or 1000, sc.mu, ml, seed)
    if m == "distill":
        from .distill import Distill

        return Distill(sc.teacher, 1.0 if sc.T is None else sc.T, sc.weight, sc.mu, cfg.train.eval_batch_size,
                       bf16=cfg.model.embed_bf16)
    if m == "gan_bert":
        from .gan_bert import GanBert

        return GanBert(mu=sc.mu, seed=seed)
    from ..registry import SSL_METHODS

    SSL_METHODS.factory(m)  # raises with the list of valid names
