"""Self-supervised pretraining: masked LM (whole-word masking, jieba words for Chinese), NSP / SOP, continued or from
scratch, through the one training loop (`lowdata.loop.fit`). See run.py (`lowdata pretrain`), corpus.py, mlm.py."""
from .run import pretrain

__all__ = ["pretrain"]
