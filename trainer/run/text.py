"""Captions to text-encoder conditioning, the way sd-scripts does it.

Long captions (max_token_length 150/225) are tokenized to 152/227 tokens, cut into chunks of
<BOS> + 75 tokens + <EOS>, encoded chunk by chunk and joined again without the inner <BOS>/<EOS>.
clip_skip takes an earlier hidden layer and applies the final layer norm (SD 1.x/2.x). SDXL uses the
penultimate layer of both encoders (no final norm) and the pooled, projected output of the second."""
from __future__ import annotations

import torch

CHUNK = 77  # CLIP's context: <BOS> + 75 tokens + <EOS>


def tokenize(tokenizer, captions: list[str], max_token_length: int | None) -> torch.Tensor:
    """-> LongTensor [batch, chunks, 77]."""
    total = (max_token_length or 75) + 2
    ids = tokenizer(captions, padding="max_length", truncation=True, max_length=total,
                    return_tensors="pt").input_ids
    return split_chunks(ids, tokenizer.eos_token_id, tokenizer.pad_token_id)


def split_chunks(ids: torch.Tensor, eos: int, pad: int) -> torch.Tensor:
    """Padded sequences [batch, 2 + 75*n] (<BOS> tokens <EOS> <PAD>...) -> [batch, n, 77] chunks."""
    total = ids.shape[1]
    if total == CHUNK:
        return ids.unsqueeze(1)
    chunks = []
    for i in range(1, total - CHUNK + 2, CHUNK - 2):
        chunk = torch.cat([ids[:, :1], ids[:, i:i + CHUNK - 2], ids[:, -1:]], dim=1)
        if pad != eos:  # OpenCLIP padding (SD 2.x, SDXL te2): keep every chunk ending in <EOS> or <PAD>
            for row in chunk:
                if row[-2] not in (eos, pad):
                    row[-1] = eos
                if row[1] == pad:
                    row[1] = eos
        chunks.append(chunk)
    return torch.stack(chunks, dim=1)


def _final_norm(te):
    inner = te.text_model if hasattr(te, "text_model") else te
    return inner.final_layer_norm


def join_chunks(states: torch.Tensor, batch: int, n_chunks: int) -> torch.Tensor:
    """[batch*chunks, 77, d] -> [batch, 1 + 75*chunks + 1, d] (inner BOS/EOS dropped)."""
    states = states.reshape(batch, n_chunks * CHUNK, states.shape[-1])
    if n_chunks == 1:
        return states
    parts = [states[:, :1]]
    for c in range(n_chunks):
        parts.append(states[:, c * CHUNK + 1:(c + 1) * CHUNK - 1])
    parts.append(states[:, -1:])
    return torch.cat(parts, dim=1)


def encode_sd(te, input_ids: torch.Tensor, clip_skip: int | None) -> torch.Tensor:
    """SD 1.x/2.x: input_ids [B, chunks, 77] -> hidden states [B, tokens, d]."""
    b, n, _ = input_ids.shape
    flat = input_ids.reshape(b * n, CHUNK).to(te.device)
    if not clip_skip or clip_skip <= 1:
        states = te(flat)[0]
    else:
        out = te(flat, output_hidden_states=True, return_dict=True)
        states = _final_norm(te)(out.hidden_states[-clip_skip])
    return join_chunks(states, b, n)


def encode_sdxl(te1, te2, ids1: torch.Tensor, ids2: torch.Tensor, eos_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """SDXL: penultimate states of both encoders concatenated, and te2's pooled projection."""
    b, n, _ = ids1.shape
    out1 = te1(ids1.reshape(b * n, CHUNK).to(te1.device), output_hidden_states=True, return_dict=True)
    flat2 = ids2.reshape(b * n, CHUNK).to(te2.device)
    out2 = te2(flat2, output_hidden_states=True, return_dict=True)
    h1 = join_chunks(out1.hidden_states[-2], b, n)
    h2 = join_chunks(out2.hidden_states[-2], b, n)
    # pooled output: te2's final-norm state at the first <EOS> of the first chunk, projected (as sd-scripts)
    last = out2.last_hidden_state
    eos_pos = (flat2 == eos_id).int().argmax(dim=-1)
    pooled = last[torch.arange(last.shape[0], device=last.device), eos_pos]
    pooled = te2.text_projection(pooled.to(te2.text_projection.weight.dtype))
    pooled = pooled.reshape(b, n, -1)[:, 0]
    return torch.cat([h1, h2.to(h1.dtype)], dim=-1), pooled


def tokenize_weighted(tokenizer, captions: list[str], max_token_length: int | None):
    """weighted_captions: -> (ids [batch, chunks, 77], weights [batch, chunks, 77]), the emphasis syntax
    ((word), (word:1.3), [word]) read as sd-scripts and AUTOMATIC1111 read it and removed from the text."""
    from trainer.tools.prompt_weights import weighted_tokens

    pairs = [weighted_tokens(tokenizer, c, max_token_length) for c in captions]
    return torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs])


def scale_tokens(states: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Hidden states [B, tokens, d] times the chunked weights [B, chunks, 77] (<BOS>/<EOS> weigh 1)."""
    b, n, _ = weights.shape
    w = join_chunks(weights.reshape(b * n, CHUNK, 1), b, n).to(states.device, states.dtype)
    return states * w
