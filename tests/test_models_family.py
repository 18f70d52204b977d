"""Family detection and config inference: real full-size shapes (meta tensors, cheap) and clear errors."""

import pytest
import torch

from trainer.errors import ModelError
from trainer.models.diffusers_to_ldm import to_ldm_state_dict
from trainer.models.family import detect, shapes_of

SD15_UNET = dict(
    block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, cross_attention_dim=768, attention_head_dim=8,
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
)
SD21_UNET = dict(SD15_UNET, cross_attention_dim=1024, attention_head_dim=[5, 10, 20, 20], use_linear_projection=True)
SDXL_UNET = dict(
    block_out_channels=(320, 640, 1280), layers_per_block=2, cross_attention_dim=2048, attention_head_dim=[5, 10, 20],
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    transformer_layers_per_block=[1, 2, 10], use_linear_projection=True, addition_embed_type="text_time",
    addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816,
)
VAE = dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
           down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)
CLIP_L = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, hidden_act="quick_gelu")
OPENCLIP_H = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=23, num_attention_heads=16, hidden_act="gelu")
OPENCLIP_G = dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20,
                  hidden_act="gelu", projection_dim=1280)


def _meta_models(unet_cfg, te_cfgs, scaling=0.18215):
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    with torch.device("meta"):
        unet = UNet2DConditionModel(**unet_cfg)
        vae = AutoencoderKL(**VAE, scaling_factor=scaling)
        tes = []
        for c in te_cfgs:
            cfg = CLIPTextConfig(vocab_size=49408, max_position_embeddings=77, **c)
            tes.append((CLIPTextModelWithProjection if "projection_dim" in c else CLIPTextModel)(cfg))
    return unet, vae, tes


def _shapes(family, unet, vae, tes):
    sd = to_ldm_state_dict(family, unet, vae, tes)
    return {k: (tuple(v.shape), str(v.dtype)) for k, v in sd.items()}


def _same_config(spec_cfg, unet):
    for k, v in spec_cfg.items():
        if k == "sample_size":
            continue
        got = unet.config[k]
        want = v
        if isinstance(got, (list, tuple)):
            got = list(got)
        if isinstance(want, (list, tuple)):
            want = list(want)
        assert got == want, (k, got, want)


def _check_with_diffusers_converter(shapes, unet, family):
    """Independent check of our LDM names: diffusers' own converter must map them onto the diffusers UNet."""
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    ckpt = {k: torch.empty(s, device="meta") for k, (s, _) in shapes.items()}
    conv = convert_ldm_unet_checkpoint(ckpt, dict(unet.config))
    want = {k: tuple(v.shape) for k, v in unet.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in conv.items()} == want


def test_sd15_real_shapes():
    unet, vae, tes = _meta_models(SD15_UNET, [CLIP_L])
    shapes = _shapes("sd1", unet, vae, tes)
    # names and shapes as in v1-5-pruned-emaonly.safetensors
    assert shapes["model.diffusion_model.input_blocks.1.1.proj_in.weight"][0] == (320, 320, 1, 1)
    assert "model.diffusion_model.output_blocks.2.1.conv.weight" in shapes
    assert "model.diffusion_model.output_blocks.5.2.conv.weight" in shapes
    assert "cond_stage_model.transformer.text_model.encoder.layers.11.mlp.fc2.weight" in shapes
    assert shapes["first_stage_model.encoder.mid.attn_1.q.weight"][0] == (512, 512, 1, 1)
    assert sum(k.startswith("model.diffusion_model.") for k in shapes) == 686
    spec = detect(shapes)
    assert spec.family == "sd1"
    u = spec.unet
    assert (u.block_out_channels, u.layers_per_block, u.cross_attention_dim) == ((320, 640, 1280, 1280), 2, 768)
    assert u.num_heads == (8, 8, 8, 8) and not u.use_linear_projection and u.transformer_depth == (1, 1, 1, 0)
    _same_config(u.diffusers_config(), unet)
    te = spec.text_encoders[0]
    assert (te.hidden_size, te.num_layers, te.num_heads, te.intermediate_size, te.layout) == (768, 12, 12, 3072, "clip")
    assert spec.vae.block_out_channels == (128, 256, 512, 512) and spec.vae.latent_channels == 4
    _check_with_diffusers_converter(shapes, unet, "sd1")


def test_sd21_real_shapes():
    unet, vae, tes = _meta_models(SD21_UNET, [OPENCLIP_H])
    shapes = _shapes("sd2", unet, vae, tes)
    assert shapes["model.diffusion_model.input_blocks.1.1.proj_in.weight"][0] == (320, 320)
    # 24 OpenCLIP blocks in the file (the 24th written as sd-scripts does), 23 used
    assert shapes["cond_stage_model.model.transformer.resblocks.23.attn.in_proj_weight"][0] == (3072, 1024)
    assert "cond_stage_model.model.transformer.resblocks.24.ln_1.weight" not in shapes
    assert shapes["cond_stage_model.model.positional_embedding"][0] == (77, 1024)
    spec = detect(shapes, v2=True)
    assert spec.family == "sd2"
    u = spec.unet
    assert u.use_linear_projection and u.cross_attention_dim == 1024 and u.num_heads == (5, 10, 20, 20)
    _same_config(u.diffusers_config(), unet)
    te = spec.text_encoders[0]
    assert (te.layout, te.file_layers, te.num_layers, te.num_heads, te.hidden_act) == ("open_clip", 24, 23, 16, "gelu")
    _check_with_diffusers_converter(shapes, unet, "sd2")


def test_sdxl_real_shapes():
    unet, vae, tes = _meta_models(SDXL_UNET, [CLIP_L, OPENCLIP_G], scaling=0.13025)
    shapes = _shapes("sdxl", unet, vae, tes)
    # the real SDXL upsampler positions (not diffusers' script's output_blocks.2.1.conv)
    assert "model.diffusion_model.output_blocks.2.2.conv.weight" in shapes
    assert "model.diffusion_model.output_blocks.5.2.conv.weight" in shapes
    assert "model.diffusion_model.output_blocks.2.1.conv.weight" not in shapes
    assert shapes["model.diffusion_model.label_emb.0.0.weight"][0] == (1280, 2816)
    assert shapes["conditioner.embedders.1.model.text_projection"][0] == (1280, 1280)
    assert shapes["conditioner.embedders.1.model.transformer.resblocks.31.attn.in_proj_weight"][0] == (3840, 1280)
    assert "conditioner.embedders.0.transformer.text_model.encoder.layers.11.self_attn.q_proj.weight" in shapes
    assert sum(k.startswith("model.diffusion_model.") for k in shapes) == 1680
    spec = detect(shapes)
    u = spec.unet
    assert spec.family == "sdxl" and u.transformer_depth == (0, 2, 10) and u.mid_transformer_depth == 10
    assert u.cross_attention_dim == 2048 and u.adm_in_channels == 2816 and u.addition_time_embed_dim == 256
    _same_config(u.diffusers_config(), unet)
    te1, te2 = spec.text_encoders
    assert (te1.hidden_size, te1.num_layers, te1.layout) == (768, 12, "clip")
    assert (te2.hidden_size, te2.num_layers, te2.num_heads, te2.projection_dim) == (1280, 32, 20, 1280)
    assert spec.vae.scaling_factor == 0.13025
    _check_with_diffusers_converter(shapes, unet, "sdxl")
    with pytest.raises(ModelError, match="is an SDXL model, but the setting v2"):
        detect(shapes, v2=True)


def _tiny_shapes(family):
    from trainer.models.tiny import make_tiny_models

    return _shapes(family, *make_tiny_models(family))


def test_errors_name_what_the_file_is():
    sd1 = _tiny_shapes("sd1")
    inpaint = dict(sd1)
    w = inpaint["model.diffusion_model.input_blocks.0.0.weight"]
    inpaint["model.diffusion_model.input_blocks.0.0.weight"] = ((w[0][0], 9, 3, 3), w[1])
    with pytest.raises(ModelError, match="is an inpainting model"):
        detect(inpaint)
    with pytest.raises(ModelError, match="SD 1.x model, but the setting v2"):
        detect(sd1, v2=True)

    lora = {"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": ((4, 32), "float32")}
    with pytest.raises(ModelError, match="looks like a LoRA"):
        detect(lora)
    vae_only = {k: v for k, v in sd1.items() if k.startswith("first_stage_model.")}
    with pytest.raises(ModelError, match="looks like a VAE only"):
        detect(vae_only)
    with pytest.raises(ModelError, match="SD3-like"):
        detect({"model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight": (1, 1)})
    with pytest.raises(ModelError, match="Flux-like"):
        detect({"double_blocks.0.img_attn.qkv.weight": (1, 1)})
    with pytest.raises(ModelError, match=r"not a Stable Diffusion checkpoint.*bert \(2\)"):
        detect({"bert.encoder.weight": (2, 2), "bert.pooler.bias": (2,)})

    xl = _tiny_shapes("sdxl")
    refiner = {k.replace("conditioner.embedders.1.", "conditioner.embedders.0."): v for k, v in xl.items()
               if not k.startswith("conditioner.embedders.0.")}
    with pytest.raises(ModelError, match="is an SDXL refiner"):
        detect(refiner)


def test_shapes_of_accepts_tensors_pairs_and_shapes():
    assert shapes_of({"a": torch.zeros(2, 3), "b": ((4,), "float16"), "c": (5, 6)}) == {"a": (2, 3), "b": (4,), "c": (5, 6)}


@pytest.mark.slow
def test_full_size_sd15_unet_random_weights(tmp_path):
    """The real SD 1.5 UNet (860 M parameters): write its LDM state dict, infer the exact config back."""
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from trainer.models.checkpoint_io import read_shapes
    from trainer.models.diffusers_to_ldm import save_state_dict
    from trainer.models.keymaps import UNetLayout
    from trainer.models.diffusers_to_ldm import unet_to_ldm

    unet = UNet2DConditionModel(**SD15_UNET)
    assert sum(p.numel() for p in unet.parameters()) > 850_000_000
    sd = {"model.diffusion_model." + k: v for k, v in unet_to_ldm(unet.state_dict(), UNetLayout.from_config(dict(unet.config))).items()}
    with torch.device("meta"):
        te = CLIPTextModel(CLIPTextConfig(vocab_size=49408, max_position_embeddings=77, **CLIP_L))
    shapes = {k: (tuple(v.shape), "float16") for k, v in sd.items()}
    shapes.update({"cond_stage_model.transformer.text_model." + k: (tuple(v.shape), "float16")
                   for k, v in te.state_dict().items()})
    path = save_state_dict(tmp_path / "unet.safetensors", {k: v.half() for k, v in list(sd.items())[:8]})
    assert read_shapes(path)  # header-only reading of a real-size tensor subset
    spec = detect(shapes)
    cfg = spec.unet.diffusers_config()
    assert cfg["block_out_channels"] == [320, 640, 1280, 1280] and cfg["layers_per_block"] == 2
    assert cfg["cross_attention_dim"] == 768 and cfg["attention_head_dim"] == 8 and cfg["use_linear_projection"] is False
    _same_config(cfg, unet)
    rebuilt = UNet2DConditionModel(**cfg)
    rebuilt.load_state_dict(unet.state_dict(), strict=True)
    x = torch.randn(1, 4, 8, 8)
    ctx = torch.randn(1, 77, 768)
    with torch.no_grad():
        assert torch.equal(unet(x, 10, ctx).sample, rebuilt(x, 10, ctx).sample)
