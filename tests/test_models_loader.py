"""Tiny real-architecture models -> single file -> load_base_model: same outputs, exact round trip."""

import json

import pytest
import torch

from trainer.errors import ModelError
from trainer.models.checkpoint_io import read_state_dict
from trainer.models.diffusers_to_ldm import save_state_dict
from trainer.models.loader import load_base_model
from trainer.models.tiny import make_tiny_checkpoint, make_tiny_models

FAMILIES = ["sd1", "sd2", "sdxl"]


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    return {f: make_tiny_checkpoint(d / f"{f}.safetensors", f, seed=0) for f in FAMILIES}


def _unet_out(unet, family, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 4, 8, 8, generator=g)
    ctx = torch.randn(2, 77, unet.config.cross_attention_dim, generator=g)
    kw = {}
    if family == "sdxl":
        pooled = unet.config.projection_class_embeddings_input_dim - 6 * unet.config.addition_time_embed_dim
        kw["added_cond_kwargs"] = {"text_embeds": torch.randn(2, pooled, generator=g),
                                   "time_ids": torch.tensor([[64.0, 64, 0, 0, 64, 64]] * 2)}
    with torch.no_grad():
        return unet(x, torch.tensor([10, 500]), ctx, **kw).sample


def _te_out(te, ids):
    with torch.no_grad():
        out = te(ids, output_hidden_states=True)
    res = list(out.hidden_states) + [out.last_hidden_state]
    if hasattr(out, "text_embeds"):
        res.append(out.text_embeds)
    return res


@pytest.mark.parametrize("family", FAMILIES)
def test_load_matches_original_models_and_round_trips(tiny_files, family):
    unet0, vae0, tes0 = make_tiny_models(family, seed=0)
    bm = load_base_model(tiny_files[family])
    assert bm.family == family and bm.spec.family == family
    assert bm.model_version == {"sd1": "sd_v1", "sd2": "sd_v2", "sdxl": "sdxl_base_v1-0"}[family]
    assert bm.prediction_type == "epsilon" and bm.noise_scheduler().config.beta_schedule == "scaled_linear"
    assert len(bm.text_encoders) == len(bm.tokenizers) == (2 if family == "sdxl" else 1)
    assert torch.equal(_unet_out(unet0, family), _unet_out(bm.unet, family))
    ids = bm.tokenizers[0](["a photo of a cat, masterpiece"], padding="max_length", max_length=77,
                           return_tensors="pt").input_ids
    for te0, te in zip(tes0, bm.text_encoders):
        assert type(te0) is type(te)
        for a, b in zip(_te_out(te0, ids), _te_out(te, ids)):
            assert torch.equal(a, b)
    img = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(3)) * 2 - 1
    with torch.no_grad():
        m0 = vae0.encode(img).latent_dist.mean
        m1 = bm.vae.encode(img).latent_dist.mean
    assert m1.shape == (1, 4, 8, 8) and torch.equal(m0, m1)
    assert bm.vae.config.scaling_factor == (0.13025 if family == "sdxl" else 0.18215)
    # LDM -> diffusers -> LDM is an identity (keys, dtypes and values)
    a = read_state_dict(tiny_files[family])
    b = bm.to_ldm_state_dict()
    assert set(a) == set(b)
    assert all(a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a)


def test_sd2_file_has_n_blocks_and_loads_n_minus_1(tiny_files):
    sd = read_state_dict(tiny_files["sd2"])
    blocks = {k.split(".")[4] for k in sd if ".resblocks." in k}
    assert blocks == {"0", "1", "2"}
    bm = load_base_model(tiny_files["sd2"], v2=True, v_parameterization=True)
    assert bm.text_encoders[0].config.num_hidden_layers == 2
    assert bm.model_version == "sd_v2_v" and bm.prediction_type == "v_prediction"
    assert bm.noise_scheduler().config.prediction_type == "v_prediction"
    # saving without the original extras writes a dummy last block, as sd-scripts does
    from trainer.models.diffusers_to_ldm import to_ldm_state_dict

    fresh = to_ldm_state_dict("sd2", bm.unet, bm.vae, bm.text_encoders)
    assert set(fresh) == set(sd)
    assert torch.equal(fresh["cond_stage_model.model.transformer.resblocks.2.ln_1.weight"],
                       fresh["cond_stage_model.model.transformer.resblocks.1.ln_1.weight"])


def test_module_names_of_loaded_text_encoders(tiny_files):
    bm = load_base_model(tiny_files["sdxl"])
    names1 = {n for n, _ in bm.text_encoders[0].named_modules()}
    names2 = {n for n, _ in bm.text_encoders[1].named_modules()}
    assert "encoder.layers.0.self_attn.q_proj" in names1  # CLIPTextModel: flat (transformers 5)
    assert "text_model.encoder.layers.0.self_attn.q_proj" in names2  # ...WithProjection keeps text_model.
    assert "text_projection" in names2
    unet_names = {n for n, _ in bm.unet.named_modules()}
    assert "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q" in unet_names
    assert "up_blocks.0.upsamplers.0.conv" in unet_names


def test_ckpt_fp16_and_old_sd1_layout(tmp_path, tiny_files):
    sd = read_state_dict(tiny_files["sd1"])
    old = {k.replace("cond_stage_model.transformer.text_model.", "cond_stage_model.transformer."): v.half()
           for k, v in sd.items()}
    old["cond_stage_model.transformer.embeddings.position_ids"] = torch.arange(77).unsqueeze(0)
    old["alphas_cumprod"] = torch.linspace(1, 0, 1000)
    old["model_ema.decay"] = torch.tensor(0.999)
    p = save_state_dict(tmp_path / "old.ckpt", old)
    assert torch.load(p, weights_only=True).keys() == {"state_dict"}
    bm = load_base_model(p, dtype=torch.float16)
    assert bm.unet.dtype == torch.float16 and bm.text_encoders[0].dtype == torch.float16
    assert not bm.spec.text_encoders[0].text_model_prefix
    back = bm.to_ldm_state_dict()
    del old["model_ema.decay"]
    assert set(back) == set(old) and all(torch.equal(back[k], old[k]) for k in old)
    bm32 = load_base_model(p)  # fp16 file, float32 wanted
    assert bm32.unet.dtype == torch.float32


def test_separate_vae_ldm_and_diffusers_layouts(tmp_path, tiny_files):
    _, vae_b, _ = make_tiny_models("sd1", seed=5)
    img = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        want = vae_b.encode(img).latent_dist.mean
    diff = save_state_dict(tmp_path / "vae_diffusers.safetensors", vae_b.state_dict())
    from trainer.models.diffusers_to_ldm import vae_to_ldm

    ldm = vae_to_ldm(vae_b.state_dict(), 4, 1)
    bare = save_state_dict(tmp_path / "vae_ldm.safetensors", dict(ldm, **{"loss.logvar": torch.zeros(())}))
    prefixed = save_state_dict(tmp_path / "vae_prefixed.ckpt", {"first_stage_model." + k: v for k, v in ldm.items()})
    for f in (diff, bare, prefixed):
        bm = load_base_model(tiny_files["sd1"], vae=f)
        with torch.no_grad():
            assert torch.equal(bm.vae.encode(img).latent_dist.mean, want), f


def test_diffusers_folder(tmp_path):
    unet, vae, tes = make_tiny_models("sdxl", seed=2)
    d = tmp_path / "xl"
    unet.save_pretrained(d / "unet")
    vae.save_pretrained(d / "vae")
    tes[0].save_pretrained(d / "text_encoder")
    tes[1].save_pretrained(d / "text_encoder_2")
    (d / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionXLPipeline"}))
    bm = load_base_model(d)
    assert bm.family == "sdxl" and len(bm.tokenizers) == 2 and bm.tokenizers[1].pad_token_id == 0
    assert torch.equal(_unet_out(unet, "sdxl"), _unet_out(bm.unet, "sdxl"))
    assert bm.spec.unet.transformer_depth == (0, 2) and bm.spec.text_encoders[1].projection_dim == 64
    # the folder's models also save to the original layout, which loads back to the same outputs
    out = tmp_path / "xl.safetensors"
    from trainer.models.diffusers_to_ldm import save_checkpoint

    save_checkpoint(out, "sdxl", bm.unet, bm.vae, bm.text_encoders, dtype=torch.float16, metadata={"a": 1})
    bm2 = load_base_model(out)
    assert bm2.unet.dtype == torch.float32
    assert torch.allclose(_unet_out(bm.unet, "sdxl"), _unet_out(bm2.unet, "sdxl"), atol=1e-2)


def test_bad_files(tmp_path, tiny_files):
    with pytest.raises(ModelError, match="does not exist"):
        load_base_model(tmp_path / "missing.safetensors")
    with pytest.raises(ModelError, match="looks like a LoRA"):
        load_base_model(save_state_dict(tmp_path / "l.safetensors",
                                        {"lora_te_text_model_encoder_layers_0_mlp_fc1.lora_up.weight": torch.zeros(4, 2)}))
    with pytest.raises(ModelError, match="not a Stable Diffusion checkpoint"):
        load_base_model(save_state_dict(tmp_path / "r.safetensors", {"foo.bar": torch.zeros(2)}))
    with pytest.raises(ModelError, match="is an SDXL model, but the setting v2"):
        load_base_model(tiny_files["sdxl"], v2=True)
    sd = read_state_dict(tiny_files["sd1"])
    sd["model.diffusion_model.input_blocks.0.0.weight"] = torch.zeros(32, 9, 3, 3)
    with pytest.raises(ModelError, match="inpainting"):
        load_base_model(save_state_dict(tmp_path / "inp.safetensors", sd))
    sd = read_state_dict(tiny_files["sd1"])
    sd["model.diffusion_model.input_blocks.1.1.stray.weight"] = torch.zeros(2)
    with pytest.raises(ModelError, match="stray"):
        load_base_model(save_state_dict(tmp_path / "stray.safetensors", sd))
    sd = read_state_dict(tiny_files["sd1"])
    del sd["model.diffusion_model.input_blocks.1.1.norm.bias"]
    with pytest.raises(ModelError, match="missing .*norm.bias"):
        load_base_model(save_state_dict(tmp_path / "miss.safetensors", sd))
    sd = read_state_dict(tiny_files["sd1"])
    novae = {k: v for k, v in sd.items() if not k.startswith("first_stage_model.")}
    with pytest.raises(ModelError, match="has no VAE"):
        load_base_model(save_state_dict(tmp_path / "novae.safetensors", novae))
