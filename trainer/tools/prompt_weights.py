"""AUTOMATIC1111's prompt emphasis for sample images: ``(tag)`` x1.1, ``((tag))`` x1.21, ``[tag]`` /1.1,
``(tag:1.4)`` x1.4, ``\\(`` for a literal bracket. Without it a prompt copied from the WebUI would feed its
brackets to the text encoder as words, and samples would not match what users see there.

``parse_emphasis`` splits a prompt into (text, weight) runs; ``weighted_tokens`` tokenizes them into the same
77-token chunks as ``trainer.run.text.tokenize`` with a weight per token; ``apply_weights`` scales the encoder's
hidden states token by token and restores their overall mean, as the WebUI does, so emphasis shifts attention
between words without changing the conditioning's overall scale.
"""
from __future__ import annotations

import re

ROUND, SQUARE = 1.1, 1 / 1.1
_TOKEN = re.compile(r"\\.|:\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*\)|[()\[\]]|[^\\()\[\]:]+|:", re.S)


def parse_emphasis(text: str) -> list[tuple[str, float]]:
    """Runs of text with their weight; neighbouring runs of equal weight are joined. Unclosed brackets count as
    closed at the end; a closing bracket without its opening one is kept as text."""
    runs: list[list] = []
    open_round: list[int] = []
    open_square: list[int] = []

    def scale(start: int, factor: float) -> None:
        for run in runs[start:]:
            run[1] *= factor

    for m in _TOKEN.finditer(text):
        piece, explicit = m.group(0), m.group(1)
        if piece.startswith("\\") and len(piece) == 2:
            runs.append([piece[1], 1.0])
        elif piece == "(":
            open_round.append(len(runs))
        elif piece == "[":
            open_square.append(len(runs))
        elif explicit is not None and open_round:
            scale(open_round.pop(), float(explicit))
        elif piece == ")" and open_round:
            scale(open_round.pop(), ROUND)
        elif piece == "]" and open_square:
            scale(open_square.pop(), SQUARE)
        else:
            runs.append([piece, 1.0])
    for start in open_round:
        scale(start, ROUND)
    for start in open_square:
        scale(start, SQUARE)
    joined: list[list] = []
    for piece, weight in runs:
        if joined and joined[-1][1] == weight:
            joined[-1][0] += piece
        else:
            joined.append([piece, weight])
    return [(t, w) for t, w in joined] or [("", 1.0)]


def has_emphasis(text: str) -> bool:
    """True when the emphasis syntax changes anything: a weight, or brackets/escapes to drop from the text."""
    runs = parse_emphasis(text)
    return any(w != 1.0 for _, w in runs) or "".join(t for t, _ in runs) != text


def weighted_tokens(tokenizer, text: str, max_token_length: int | None):
    """-> (ids LongTensor [1, chunks, 77], weights FloatTensor [1, chunks, 77]) laid out like
    ``trainer.run.text.tokenize`` (BOS + 75 tokens + EOS per chunk, padded); special tokens weigh 1."""
    import torch

    from trainer.run.text import CHUNK, split_chunks

    body = CHUNK - 2
    limit = max_token_length or body
    ids, weights = [], []
    for piece, weight in parse_emphasis(text):
        toks = tokenizer(piece, add_special_tokens=False).input_ids if piece.strip() else []
        ids += toks
        weights += [weight] * len(toks)
    ids, weights = ids[:limit], weights[:limit]
    bos, eos, pad = tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
    # one sequence as the tokenizer pads it (<BOS> tokens <EOS> <PAD>...), cut into chunks as captions are
    seq = torch.tensor([[bos] + ids + [eos] + [pad] * (limit - len(ids))])
    wseq = torch.tensor([[1.0] + weights + [1.0] * (limit - len(ids) + 1)])
    one = torch.ones(1, 1)
    wchunks = [torch.cat([one, wseq[:, i:i + body], one], dim=1) for i in range(1, limit + 1, body)]
    return split_chunks(seq, eos, pad), torch.stack(wchunks, dim=1)


def apply_weights(states, weights):
    """Scale hidden states [B, tokens, d] (chunks joined by ``trainer.run.text``) by the chunked weights
    [B, chunks, 77] of ``weighted_tokens`` and restore each row's mean."""
    from trainer.run.text import CHUNK, join_chunks

    b, n, _ = weights.shape
    w = join_chunks(weights.reshape(b * n, CHUNK, 1), b, n).to(states.device, states.dtype)
    before = states.float().mean(dim=(1, 2), keepdim=True)
    scaled = states * w
    after = scaled.float().mean(dim=(1, 2), keepdim=True)
    return (scaled.float() * (before / after)).to(states.dtype)
