"""GAN-BERT (Croce, Castellucci & Basili, ACL 2020): a generator of fake sentence vectors and a (k+1)-class
discriminator on the encoder output, trained jointly on labeled and unlabeled text.

    ssl = GanBert(hidden_size=384, noise_size=100, seed=0)
    run(cfg, splits, ssl=ssl)        # the saved model is an ordinary lowdata classifier

Discriminator: the model's own k-way head with the "fake" logit fixed at 0 (Salimans et al. 2016 show a k+1-way
softmax can be reduced this way without loss of generality), so p(fake|x) = 1 / (1 + sum_c exp(l_c)). That is a
deviation from the paper's separate k+1 MLP, chosen so save/load and inference work like any other model.
Losses as in the paper: D = -log p(y|x, labeled) over k+1 classes - log(1 - p(fake|x_u)) - log p(fake|G(z));
G = -log(1 - p(fake|G(z))) + ||mean f(x_u) - mean f(G(z))||^2 (feature matching on D's input features).
G has its own AdamW (lr 5e-5 as in the paper's code) and is stepped inside `loss`; its gradient never reaches D.
Resume restores the classifier exactly; the generator restarts (it is not part of the checkpoint).
"""
from __future__ import annotations

import torch
from torch import nn


class Generator(nn.Module):
    def __init__(self, noise_size: int, hidden_size: int, dropout: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(noise_size, hidden_size), nn.LeakyReLU(0.2), nn.Dropout(dropout),
                                 nn.Linear(hidden_size, hidden_size))

    def forward(self, z):
        return self.net(z)


def _log_fake(logits):  # log p(fake | x) with the fake logit fixed at 0
    zeros = torch.zeros_like(logits[:, :1])
    return -torch.logsumexp(torch.cat([logits, zeros], 1), 1)


def _log_real(logits):
    zeros = torch.zeros_like(logits[:, :1])
    return torch.logsumexp(logits, 1) - torch.logsumexp(torch.cat([logits, zeros], 1), 1)


class GanBert:
    uses_unlabeled = True
    includes_supervised = True

    def __init__(self, hidden_size: int | None = None, noise_size: int = 100, lr: float = 5e-5, mu: int = 1,
                 seed: int = 0):
        self.hidden_size, self.noise_size, self.lr, self.mu, self.seed = hidden_size, noise_size, lr, mu, seed
        self.G = self.opt = None

    def _setup(self, raw, device):
        if self.G is None:
            g = torch.Generator().manual_seed(self.seed)
            h = self.hidden_size or raw.encoder.config.hidden_size
            with torch.random.fork_rng():
                torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=g)))
                self.G = Generator(self.noise_size, h).to(device)
            self.opt = torch.optim.AdamW(self.G.parameters(), lr=self.lr)

    def loss(self, model, batch, unlabeled, step):
        raw = getattr(model, "module", model)
        dev = batch["input_ids"].device
        self._setup(raw, dev)
        f_l = raw.features(batch["input_ids"], batch["attention_mask"])  # (B, H)
        f_u = raw.features(unlabeled["input_ids"], unlabeled["attention_mask"])  # (U, H)
        z = torch.rand(f_u.shape[0], self.noise_size, device=dev)  # uniform noise, as in the paper's code
        f_g = self.G(z)  # (U, H)
        head = lambda f: raw.head(raw.dropout(f)).float()  # noqa: E731
        logits_l, logits_u, logits_g = head(f_l), head(f_u), head(f_g.detach())
        zeros = torch.zeros_like(logits_l[:, :1])
        log_p = logits_l.gather(1, batch["labels"][:, None]).squeeze(1) - torch.logsumexp(
            torch.cat([logits_l, zeros], 1), 1)
        sup = -log_p.mean()
        d_unsup = -_log_real(logits_u).mean() - _log_fake(logits_g).mean()
        # generator step: its loss flows through D's (frozen for this step) head into G only
        g_logits = head(f_g)
        g_loss = -_log_real(g_logits).mean() + (f_u.detach().mean(0) - f_g.mean(0)).pow(2).mean()
        grads = torch.autograd.grad(g_loss, list(self.G.parameters()))
        for p, g in zip(self.G.parameters(), grads):
            p.grad = g
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            p_fake_u = _log_fake(logits_u).exp().mean().item()
            p_fake_g = _log_fake(logits_g).exp().mean().item()
        return sup + d_unsup, {"ssl/sup_loss": sup.item(), "ssl/d_unsup": d_unsup.item(), "ssl/g_loss": g_loss.item(),
                               "ssl/p_fake_real": p_fake_u, "ssl/p_fake_gen": p_fake_g}
