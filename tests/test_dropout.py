"""lowdata.dropout: numpy-drawn dropout masks and the CPU attention with dropout used while training."""
import torch
from torch import nn

from lowdata import dropout as D


class _Attn(nn.Module):
    is_causal = False


def test_attention_matches_a_float64_reference_with_the_same_mask():
    torch.manual_seed(0)
    b, h, length, d = 3, 2, 6, 4
    q, k, v = [torch.randn(b, length, h, d).transpose(1, 2).requires_grad_() for _ in range(3)]
    mask = torch.ones(b, 1, length, length, dtype=torch.bool)
    mask[1, ..., 4:] = False  # padding of the second text
    torch.manual_seed(1)
    out, _ = D.attention(_Attn(), q, k, v, mask, dropout=0.3)
    g = torch.randn_like(out)
    out.backward(g)
    got = [t.grad.clone() for t in (q, k, v)]
    torch.manual_seed(1)  # the same draw of torch's generator seeds the same mask
    keep = D.keep_mask((b * h, length, length), 0.3).view(b, h, length, length).double() / 0.7
    assert 0 < (keep == 0).double().mean() < 0.6
    for t in (q, k, v):
        t.grad = None
    qd, kd, vd = (t.double() for t in (q, k, v))
    s = (qd @ kd.transpose(-1, -2) * d ** -0.5).masked_fill(~mask, -1e300)
    ref = ((s.softmax(-1) * keep) @ vd).transpose(1, 2)
    ref.backward(g.double())
    assert (out.double() - ref).abs().max() < 1e-5
    for a, t in zip(got, (q, k, v)):
        assert (a.double() - t.grad).abs().max() < 1e-5


def test_without_dropout_the_attention_is_sdpa_itself():
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    q, k, v = (torch.randn(2, 2, 5, 4) for _ in range(3))
    mask = torch.ones(2, 1, 5, 5, dtype=torch.bool)
    assert torch.equal(D.attention(_Attn(), q, k, v, mask, dropout=0.0)[0],
                       sdpa_attention_forward(_Attn(), q, k, v, mask, dropout=0.0)[0])


def test_masks_keep_one_minus_p_and_keep_the_mean():
    torch.manual_seed(0)
    x = torch.ones(1000, 1000)
    y = D.inverted_dropout(x, 0.1)
    kept = (y > 0).double().mean().item()
    assert abs(kept - 0.9) < 4 * (0.9 * 0.1 / 1e6) ** 0.5  # four standard deviations
    assert torch.allclose(y[y > 0], torch.tensor(1 / 0.9))
    xb = torch.ones(100, 100, dtype=torch.bfloat16)  # bf16: the scale applied as a number, not a bf16 mask value
    yb = D.inverted_dropout(xb, 0.1)
    assert yb.dtype == torch.bfloat16 and set(yb.unique().tolist()) == {0.0, torch.tensor(1 / 0.9).bfloat16().item()}
    torch.manual_seed(5)
    a = D.inverted_dropout(x, 0.5)
    torch.manual_seed(5)
    assert torch.equal(a, D.inverted_dropout(x, 0.5))  # seeded by torch's generator
    assert not torch.equal(a, D.inverted_dropout(x, 0.5))


def test_cpu_dropout_swaps_and_restores_and_leaves_eval_alone(tiny_model):
    from lowdata.backbone import TaskModel, load_encoder

    enc, tok = load_encoder(tiny_model)
    m = TaskModel(enc, 2).eval()
    b = tok(["good film", "a bad and not good movie"], padding=True, return_tensors="pt")
    ref = m(b["input_ids"], b["attention_mask"])
    with D.cpu_dropout(m):
        assert m.encoder.config._attn_implementation == D.NAME
        assert type(m.dropout) is D.Dropout and not m.dropout.training  # the swapped module keeps eval mode
        assert torch.equal(m(b["input_ids"], b["attention_mask"]), ref)
        m.train()
        torch.manual_seed(0)
        t1 = m(b["input_ids"], b["attention_mask"])
        torch.manual_seed(0)
        t2 = m(b["input_ids"], b["attention_mask"])
        assert torch.equal(t1, t2) and not torch.allclose(t1, ref)
        t1.sum().backward()
        assert m.encoder.encoder.layer[0].attention.self.query.weight.grad.abs().sum() > 0
    assert m.encoder.config._attn_implementation == "sdpa"
    assert not any(isinstance(x, D.Dropout) for x in m.modules())
    try:  # a run that fails inside the block (a diverged loss, a kill) leaves the model as it was
        with D.cpu_dropout(m):
            raise RuntimeError("diverged")
    except RuntimeError:
        pass
    assert m.encoder.config._attn_implementation == "sdpa" and type(m.dropout) is nn.Dropout
    with D.cpu_dropout(m, "cuda"):  # off CPU nothing is swapped
        assert type(m.dropout) is nn.Dropout and m.encoder.config._attn_implementation == "sdpa"
