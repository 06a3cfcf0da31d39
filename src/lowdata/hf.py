"""Hugging Face classes for lowdata's sentence classifiers (mean or [CLS] pooling + a linear head).

    import lowdata.hf                      # registers model_type "lowdata" with the Auto classes (no remote code)
    from transformers import pipeline
    clf = pipeline("text-classification", model="runs/x/model")           # same probabilities as lowdata predict
    # or, without lowdata installed: pipeline(..., trust_remote_code=True) runs modeling_lowdata.py from the folder

Transformers' own XForSequenceClassification classes pool differently (BERT: a dense + tanh "pooler" over [CLS]),
so a lowdata classifier, trained on the mean of the token vectors as sentence encoders are, needs this class. It is
the Hub's way for custom architectures: the saved folder's config.json names `model_type: lowdata` and an `auto_map`
pointing at `modeling_lowdata.py`, a verbatim copy of this file (it imports only torch and transformers). NER models
need no code of ours: they are saved as the encoder's own XForTokenClassification (see lowdata.backbone).
"""
from __future__ import annotations

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput


class LowdataConfig(PretrainedConfig):
    """encoder_config: the encoder's own config as a dict (with its model_type); pooling "mean" | "cls"; normalize:
    L2-normalise the pooled vector before the head (frozen-encoder logistic regression)."""
    model_type = "lowdata"

    def __init__(self, encoder_config: dict | None = None, pooling: str = "mean", normalize: bool = False,
                 classifier_dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.encoder_config = dict(encoder_config or {})
        self.pooling, self.normalize, self.classifier_dropout = pooling, normalize, classifier_dropout


def encoder_from_config(encoder_config: dict):
    """The bare encoder (random weights) its config dict describes, without a pooler (lowdata never uses one)."""
    d = dict(encoder_config)
    cfg = AutoConfig.for_model(d.pop("model_type"), **d)
    enc = AutoModel.from_config(cfg)
    if getattr(enc, "pooler", None) is not None:
        enc.pooler = None
    return enc


class LowdataForSequenceClassification(PreTrainedModel):
    """encoder -> pooled sentence vector (B, H) -> dropout -> linear head (B, C). Parameter names (`encoder.*`,
    `head.*`) are lowdata.backbone.TaskModel's, so the two load each other's weights."""
    config_class = LowdataConfig
    base_model_prefix = "lowdata"  # no attribute has this name: no prefix games when loading

    def __init__(self, config: LowdataConfig):
        super().__init__(config)
        self.encoder = encoder_from_config(config.encoder_config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.head = nn.Linear(self.encoder.config.hidden_size, config.num_labels)
        self.post_init()

    def _init_weights(self, module):  # the encoder is built initialised; only the head needs it (overwritten on load)
        if module is getattr(self, "head", None):
            module.weight.data.normal_(0.0, 0.02)
            module.bias.data.zero_()

    def forward(self, input_ids=None, attention_mask=None, labels=None, return_dict=None, **_):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
        if self.config.pooling == "cls":
            v = h[:, 0]
        else:
            m = attention_mask.unsqueeze(-1).to(h.dtype)  # (B, T, 1)
            v = (h * m).sum(1) / m.sum(1).clamp(min=1)
        if self.config.normalize:
            v = nn.functional.normalize(v, dim=-1)
        logits = self.head(self.dropout(v))  # (B, C)
        loss = None
        if labels is not None:
            if self.config.problem_type == "multi_label_classification":
                loss = nn.functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
            else:
                loss = nn.functional.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)


def register() -> None:
    """Make AutoConfig / AutoModelForSequenceClassification / pipeline() know model_type "lowdata" (idempotent)."""
    try:
        AutoConfig.register("lowdata", LowdataConfig)
    except ValueError:  # already registered
        pass
    try:
        AutoModelForSequenceClassification.register(LowdataConfig, LowdataForSequenceClassification)
    except ValueError:
        pass


if __name__ != "modeling_lowdata" and not __name__.startswith("transformers_modules"):
    register()  # `import lowdata.hf`; the copy loaded by trust_remote_code is found through auto_map instead
