"""The full-size random-weight checkpoint writer: every tensor's bytes, scalars included."""
import torch

from trainer.models.fullsize import tensor_bytes


def test_tensor_bytes_of_scalars_and_shaped_tensors():
    """SDXL's second text encoder has a 0-dimensional logit_scale; viewing it as bytes used to raise."""
    tensors = {"logit_scale": torch.tensor(4.6052, dtype=torch.float16),
               "w": torch.randn(3, 5).half().t(),  # not contiguous
               "ids": torch.arange(7, dtype=torch.int64), "empty": torch.zeros(0, 4, dtype=torch.float16)}
    for name, t in tensors.items():
        assert tensor_bytes(t) == t.contiguous().numpy().tobytes(), name


def test_random_weight_sdxl_file_with_a_scalar_reads_back(tmp_path, monkeypatch):
    """The writer's weights=True path on the SDXL layout (tiny modules stand in for the 7 GB full-size ones):
    the file holds the 0-dimensional logit_scale and loads as a model."""
    from safetensors.torch import load_file

    from trainer.models import fullsize
    from trainer.models.loader import load_base_model
    from trainer.models.tiny import make_tiny_models

    monkeypatch.setattr(fullsize, "full_size_models", lambda family: make_tiny_models(family))
    path = fullsize.write_full_size_checkpoint(tmp_path / "xl.safetensors", "sdxl", weights=True)
    sd = load_file(path)
    scalars = [k for k, v in sd.items() if v.dim() == 0]
    assert scalars and all(torch.isfinite(sd[k]) for k in scalars)
    assert all(v.dtype in (torch.float16, torch.int64) for v in sd.values())
    base = load_base_model(path)
    assert base.family == "sdxl" and len(base.text_encoders) == 2


def test_real_sd2_shapes_come_from_the_full_size_models():
    """check/merge without a checkpoint assume the real model's shapes: SD 2.x is built by full_size_models and
    written by to_ldm_state_dict, with sd-scripts' dummy 24th text encoder block, which is no LoRA target."""
    from trainer.tools.targets import real_model_shapes, real_model_spec, target_map

    shapes = real_model_shapes("sd2")
    assert shapes["cond_stage_model.model.transformer.resblocks.23.attn.in_proj_weight"] == (3072, 1024)
    assert shapes["model.diffusion_model.input_blocks.1.1.proj_in.weight"] == (320, 320)  # linear projection
    spec = real_model_spec("sd2")
    te = spec.text_encoders[0]
    assert (spec.family, te.layout, te.hidden_size, te.num_layers, te.file_layers) == ("sd2", "open_clip", 1024,
                                                                                       23, 24)
    names = target_map(shapes, spec)
    assert "lora_te_text_model_encoder_layers_22_self_attn_q_proj" in names
    assert not any("_layers_23_" in n for n in names)
    assert len([n for n in names if n.startswith("lora_te_")]) == 23 * 6
