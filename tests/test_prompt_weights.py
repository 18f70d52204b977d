"""AUTOMATIC1111's prompt emphasis in sample images: the parser against the WebUI's rules, token layout equal
to the training tokenization when nothing is emphasised, and the weights reaching the embeddings."""
import pytest
import torch

from trainer.tools.prompt_weights import apply_weights, has_emphasis, parse_emphasis, weighted_tokens


def approx(runs):
    return [(t, pytest.approx(w)) for t, w in runs]


@pytest.mark.parametrize("text, runs", [
    ("a red circle", [("a red circle", 1.0)]),
    ("a (red) circle", [("a ", 1.0), ("red", 1.1), (" circle", 1.0)]),
    ("((red))", [("red", 1.21)]),
    ("[red]", [("red", 1 / 1.1)]),
    ("(red:1.5), blue", [("red", 1.5), (", blue", 1.0)]),
    ("( red : 0.5 )", [(" red ", 0.5)]),
    ("(a (b:2))", [("a ", 1.1), ("b", 2.2)]),
    ("\\(literal\\) brackets", [("(literal) brackets", 1.0)]),
    ("(unclosed", [("unclosed", 1.1)]),
    ("stray) bracket", [("stray) bracket", 1.0)]),
    ("time 12:30", [("time 12:30", 1.0)]),
    ("", [("", 1.0)]),
])
def test_parse_follows_the_webui(text, runs):
    assert parse_emphasis(text) == approx(runs)


def test_has_emphasis():
    assert not has_emphasis("1girl, solo, red hair")
    assert has_emphasis("1girl, (red hair:1.2)") and has_emphasis("[blurry]") and has_emphasis("\\(x\\)")


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
@pytest.mark.parametrize("max_tokens", [None, 150])
def test_unweighted_layout_equals_the_training_tokenization(family, max_tokens):
    from trainer.models.tokenizers import load_tokenizers
    from trainer.run.text import tokenize

    text = ", ".join(f"tag{i} word{i}" for i in range(60))  # longer than one chunk
    for tok in load_tokenizers(family):  # SDXL: CLIP-L padding and OpenCLIP padding
        for t in (text, "a short prompt"):
            ids, weights = weighted_tokens(tok, t, max_tokens)
            assert torch.equal(ids, tokenize(tok, [t], max_tokens))
            assert ids.shape == weights.shape and bool((weights == 1).all())


def test_weights_sit_on_their_tokens():
    from trainer.models.tokenizers import load_tokenizers

    tok = load_tokenizers("sd1")[0]
    ids, weights = weighted_tokens(tok, "a (red:1.5) circle", None)
    red = tok("red", add_special_tokens=False).input_ids
    assert len(red) == 1
    row_ids, row_w = ids[0, 0], weights[0, 0]
    assert row_w[row_ids == red[0]].tolist() == [1.5]
    assert float(row_w.sum()) == pytest.approx(77 + 0.5)


def test_apply_weights_scales_tokens_and_keeps_the_mean():
    torch.manual_seed(0)
    states = torch.randn(2, 77, 8) + 0.3
    ones = torch.ones(2, 1, 77)
    assert torch.allclose(apply_weights(states, ones), states, atol=1e-6)
    w = ones.clone()
    w[0, 0, 3] = 1.5
    out = apply_weights(states, w)
    assert out[0].mean().item() == pytest.approx(states[0].mean().item(), rel=1e-5)
    ratio = (out[0, 3] / out[0, 2]) / (states[0, 3] / states[0, 2])
    assert torch.allclose(ratio, torch.full_like(ratio, 1.5), rtol=1e-4)
    assert torch.equal(out[1], states[1])


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
def test_sample_prompt_embeddings_follow_the_emphasis(tiny_ckpt, family):
    from trainer.models.loader import load_base_model
    from trainer.tools.sample import _scheduler, build_pipeline, encode_prompts

    base = load_base_model(tiny_ckpt(family))
    pipe = build_pipeline(base, _scheduler("euler", base.scheduler_config)[0])
    plain = encode_prompts(pipe, family, "a red circle", "blurry", None, None)
    same = encode_prompts(pipe, family, "a red circle", "(blurry:1.0)", None, None)
    strong = encode_prompts(pipe, family, "a (red:1.6) circle", "blurry", None, None)
    assert torch.allclose(same["prompt_embeds"], plain["prompt_embeds"], atol=1e-5)
    assert torch.allclose(same["negative_prompt_embeds"], plain["negative_prompt_embeds"], atol=1e-5)
    assert not torch.allclose(strong["prompt_embeds"], plain["prompt_embeds"], atol=1e-3)
    assert torch.allclose(strong["negative_prompt_embeds"], plain["negative_prompt_embeds"], atol=1e-5)
    if family == "sdxl":  # the pooled embedding is not weighted (as in the WebUI)
        assert torch.allclose(strong["pooled_prompt_embeds"], plain["pooled_prompt_embeds"], atol=1e-5)
