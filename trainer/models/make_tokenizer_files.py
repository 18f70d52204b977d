"""Derive the CLIP tokenizer files in ``resources/tokenizers/clip/`` from OpenAI's BPE data.

Run once by a developer (not by the app)::

    pip download --no-deps -d /tmp/oc open_clip_torch
    python -m trainer.models.make_tokenizer_files /tmp/oc/open_clip_torch-*.whl

The MIT-licensed merge list ``bpe_simple_vocab_16e6.txt.gz`` (OpenAI CLIP, redistributed by open_clip) is
read from the wheel (a zip) or from the ``.txt.gz`` itself. The output matches the ``vocab.json`` /
``merges.txt`` of the Hugging Face tokenizer of openai/clip-vit-large-patch14: 49408 tokens = 256 byte
characters, the same 256 with ``</w>``, 48894 merges, then ``<|startoftext|>`` and ``<|endoftext|>``.
open_clip is NOT a dependency of the app; only its data file is used here, once.
"""

from __future__ import annotations

import gzip
import json
import sys
import zipfile
from pathlib import Path

BPE_NAME = "open_clip/bpe_simple_vocab_16e6.txt.gz"
NUM_MERGES = 49152 - 256 - 2  # 48894, as OpenAI's SimpleTokenizer slices them


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character table (256 entries)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def read_bpe_lines(source: Path) -> list[str]:
    if source.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(source) as zf:
            data = zf.read(BPE_NAME)
    else:
        data = source.read_bytes()
    return gzip.decompress(data).decode("utf-8").split("\n")


def derive(lines: list[str]) -> tuple[dict[str, int], list[str]]:
    merges = lines[1 : NUM_MERGES + 1]
    if len(merges) != NUM_MERGES or any(len(m.split()) != 2 for m in merges):
        raise ValueError("unexpected BPE merge list")
    byte_chars = list(bytes_to_unicode().values())
    tokens = byte_chars + [c + "</w>" for c in byte_chars]
    tokens += ["".join(m.split()) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {tok: i for i, tok in enumerate(tokens)}
    if len(vocab) != 49408:
        raise ValueError(f"vocabulary has {len(vocab)} distinct tokens, expected 49408")
    return vocab, merges


def write(vocab: dict[str, int], merges: list[str], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (out_dir / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")


def main(argv: list[str]) -> int:
    if len(argv) < 1:
        print(__doc__)
        return 2
    out_dir = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[2] / "resources/tokenizers/clip"
    vocab, merges = derive(read_bpe_lines(Path(argv[0])))
    write(vocab, merges, out_dir)
    print(f"wrote {len(vocab)} tokens and {len(merges)} merges to {out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
