"""WordPiece tokenizers for pretraining from scratch: from a vocab file, or trained on the corpus.

    tok = from_vocab("../shared/data/bert-vocab-zh/vocab.txt")        # a fast BertTokenizerFast
    tok = train_wordpiece(iter_of_texts, vocab_size=8000)              # `tokenizers` WordPieceTrainer

Both build the fast tokenizer with the `tokenizers` library directly: in transformers 5,
`BertTokenizerFast(vocab_file=...)` silently builds a 5-token vocabulary. The pipeline is BERT's (BertNormalizer
with Chinese characters split apart, BertPreTokenizer, [CLS] A [SEP] B [SEP] template, WordPiece decoder), so the
saved tokenizer loads with AutoTokenizer like bert-base-chinese's.
"""
from __future__ import annotations

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _wrap(tk, lowercase: bool):
    from tokenizers import decoders, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizerFast

    tk.normalizer = normalizers.BertNormalizer(lowercase=lowercase, handle_chinese_chars=True)
    tk.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls, sep = tk.token_to_id("[CLS]"), tk.token_to_id("[SEP]")
    if cls is None or sep is None or tk.token_to_id("[MASK]") is None or tk.token_to_id("[PAD]") is None:
        raise ValueError("the vocabulary lacks one of the special tokens " + " ".join(SPECIALS))
    tk.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tk.decoder = decoders.WordPiece()
    return BertTokenizerFast(tokenizer_object=tk, unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]",
                             cls_token="[CLS]", mask_token="[MASK]", do_lower_case=lowercase)


def from_vocab(vocab, lowercase: bool = True):
    """A WordPiece vocab (path to vocab.txt, one token per line, or a token -> id dict) -> BertTokenizerFast."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordPiece

    if isinstance(vocab, dict):
        model = WordPiece(vocab, unk_token="[UNK]")
    else:
        import glob
        import os

        if os.path.isdir(vocab):  # a folder holding one *vocab*.txt
            found = sorted(glob.glob(os.path.join(vocab, "*vocab*.txt")))
            vocab = found[0] if found else os.path.join(vocab, "vocab.txt")
        if not os.path.isfile(vocab):
            raise FileNotFoundError(f"{vocab}: vocabulary file not found (expected a WordPiece vocab.txt)")
        model = WordPiece.from_file(str(vocab), unk_token="[UNK]")
    return _wrap(Tokenizer(model), lowercase)


def train_wordpiece(texts, vocab_size: int = 8000, lowercase: bool = True, min_frequency: int = 2):
    """Train a WordPiece vocabulary on an iterator of texts (streamed: the corpus is not held in memory)."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, trainers
    from tokenizers.models import WordPiece

    tk = Tokenizer(WordPiece(unk_token="[UNK]"))
    tk.normalizer = normalizers.BertNormalizer(lowercase=lowercase, handle_chinese_chars=True)
    tk.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=SPECIALS,
                                        show_progress=False)
    tk.train_from_iterator(texts, trainer=trainer)
    return _wrap(tk, lowercase)
