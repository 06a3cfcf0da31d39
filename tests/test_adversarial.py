"""Adversarial training in embedding space (FGM, PGD, FreeLB): perturbation geometry, gradients, the loop."""
import pytest
import torch

from lowdata.config import AdversarialConfig, ConfigError
from lowdata.registry import RegistryError
from lowdata.robust.adversarial import FGM, PGD, FreeLB, build_adversarial
from lowdata.loop import loss_fn
from lowdata.methods.finetune import run

from .conftest import tiny_cfg


@pytest.fixture
def model_and_batch(tiny_model):
    from lowdata.backbone import TaskModel, load_encoder

    torch.manual_seed(0)
    enc, tok = load_encoder(tiny_model)
    model = TaskModel(enc, 2, dropout=0.0).eval()  # eval: no dropout, so every pass sees the same function
    b = tok(["good movie", "an awful , poor and bad movie"], padding=True, return_tensors="pt")
    batch = {"input_ids": b["input_ids"], "attention_mask": b["attention_mask"], "labels": torch.tensor([1, 0])}
    return model, batch


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _clean_backward(model, batch):
    model.zero_grad()
    loss = loss_fn(model, batch)
    loss.backward()
    return loss.item()


def _seen_deltas(adv):
    seen = []
    orig = adv._perturbed

    def spy(delta):
        seen.append(delta.detach().clone())
        return orig(delta)
    adv._perturbed = spy
    return seen


def test_fgm_perturbation_has_norm_eps_on_real_tokens_and_raises_the_loss(model_and_batch):
    model, batch = model_and_batch
    adv = FGM(eps=0.5)
    clean = _clean_backward(model, batch)  # first step: the clean gradient comes from one extra pass
    seen = _seen_deltas(adv)
    logs = adv.step(model, batch, loss_fn, lambda x: x.backward())
    r = seen[-1]
    norms = r.flatten(1).norm(dim=1)
    assert torch.allclose(norms, torch.full_like(norms, 0.5), atol=1e-5)
    pad = batch["attention_mask"] == 0
    assert pad.any() and r[pad].abs().max() == 0  # padding never perturbed
    assert logs["adv/loss"] > clean  # a step up the gradient raises the loss


def test_clean_gradient_from_the_loop_forward_equals_the_extra_pass(model_and_batch):
    model, batch = model_and_batch
    adv = FGM(eps=0.5)
    _clean_backward(model, batch)
    adv.step(model, batch, loss_fn, lambda x: x.backward())  # attaches the hook
    _clean_backward(model, batch)  # this forward is captured by the hook
    captured = adv._clean_grad(model, batch, loss_fn)
    assert adv._clean is None
    extra = adv._clean_grad(model, batch, loss_fn)  # nothing captured now: computed by an extra pass
    assert torch.allclose(captured, extra, atol=1e-6)


def test_fgm_gradient_is_clean_plus_adversarial(model_and_batch):
    model, batch = model_and_batch
    adv = FGM(eps=0.5)
    _clean_backward(model, batch)
    clean_g = _grads(model)
    seen = _seen_deltas(adv)
    adv.step(model, batch, loss_fn, lambda x: x.backward())
    total = _grads(model)
    model.zero_grad()
    with _fixed(adv, seen[-1]):
        loss_fn(model, batch).backward()
    adv_g = _grads(model)
    for n in clean_g:
        assert torch.allclose(total[n], clean_g[n] + adv_g[n], atol=1e-5), n


class _fixed:
    def __init__(self, adv, delta):
        self.adv, self.delta = adv, delta

    def __enter__(self):
        self.adv._delta = self.delta

    def __exit__(self, *a):
        self.adv._delta = None


def test_pgd_stays_in_the_ball_and_climbs(model_and_batch):
    model, batch = model_and_batch
    clean = _clean_backward(model, batch)
    adv = PGD(eps=0.5, alpha=0.3, steps=4)
    seen = _seen_deltas(adv)
    logs = adv.step(model, batch, loss_fn, lambda x: x.backward())
    # the extra clean pass (first step: nothing captured yet), 3 gradients inside the ascent, the final pass
    assert len(seen) == 5 and seen[0].abs().max() == 0
    final = seen[-1].flatten(1).norm(dim=1)
    assert (final <= 0.5 + 1e-5).all() and (final > 0.45).all()  # 4 steps of 0.3 reach the radius
    assert logs["adv/loss"] > clean
    fgm = FGM(eps=0.5)
    _clean_backward(model, batch)
    assert logs["adv/loss"] >= fgm.step(model, batch, loss_fn, lambda x: x.backward())["adv/loss"] - 1e-6


def test_freelb_averages_the_k_gradients(model_and_batch):
    model, batch = model_and_batch
    _clean_backward(model, batch)
    clean_g = _grads(model)
    FreeLB(alpha=0.0, steps=3).step(model, batch, loss_fn, lambda x: x.backward())  # alpha 0: every delta is 0
    for n, g in _grads(model).items():
        assert torch.allclose(g, clean_g[n], atol=1e-6), n  # (1/3) g + 2 * (1/3) g
    _clean_backward(model, batch)
    logs = FreeLB(alpha=0.3, steps=3).step(model, batch, loss_fn, lambda x: x.backward())
    moved = _grads(model)
    assert logs["adv/loss"] > 0 and any(not torch.allclose(moved[n], clean_g[n], atol=1e-6) for n in clean_g)


def test_build_defaults_and_errors():
    assert build_adversarial(AdversarialConfig()) is None
    p = build_adversarial(AdversarialConfig(method="pgd", eps=2.0))
    assert isinstance(p, PGD) and (p.eps, p.alpha, p.steps) == (2.0, 0.3, 3)
    f = build_adversarial(AdversarialConfig(method="freelb"))
    assert (f.alpha, f.steps, f.max_norm) == (0.1, 3, 0.0)
    with pytest.raises(RegistryError, match="fgm, freelb, pgd"):
        build_adversarial(AdversarialConfig(method="fgsm"))


@pytest.mark.parametrize("method", ["fgm", "pgd", "freelb"])
def test_loop_trains_with_each_method(tiny_model, toy_files, tmp_path, method):
    # the tiny model's token vectors have norm ~0.11 (MiniLM's ~1.1), so the radii are a tenth of the defaults
    scale = {"fgm": dict(eps=0.1), "pgd": dict(eps=0.1, alpha=0.03), "freelb": dict(alpha=0.01)}[method]
    runs = []
    for name in ("a", "b") if method == "pgd" else ("a",):  # same seed, same metrics (checked once)
        c = tiny_cfg(tiny_model, toy_files, tmp_path / name, epochs=6, save_every=0)
        c.adversarial = AdversarialConfig(method=method, **scale)
        runs.append(run(c))
    assert runs[0]["test"]["accuracy"] >= 0.9, runs[0]["history"]
    assert all(r["history"] == runs[0]["history"] and r["test"] == runs[0]["test"] for r in runs)


def test_unknown_method_in_config_is_a_config_error(tiny_model, toy_files, tmp_path):
    c = tiny_cfg(tiny_model, toy_files, tmp_path / "x", epochs=1)
    c.adversarial = AdversarialConfig(method="fast")
    with pytest.raises(ConfigError, match="adversarial.method: expected null or one of fgm, freelb, pgd"):
        run(c)
