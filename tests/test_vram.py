"""The VRAM estimate (trainer/vram.py): exact trainable-parameter and optimizer-state parts against the real
network and optimizers on tiny models; the direction of every setting's effect and rough published magnitudes
on full-size SD 1.5 / SDXL shapes (header-only files, no weights); speed; and that it imports no torch."""
from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from trainer import vram
from trainer.config.fields import TrainConfig
from trainer.models.fullsize import write_full_size_checkpoint

ROOT = Path(__file__).resolve().parent.parent
GiB = 1024 ** 3


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """family -> header-only full-size checkpoint (SD 1.5: 2.13 GB, SDXL: 6.94 GB on paper, sparse on disk)."""
    d = tmp_path_factory.mktemp("fullsize")
    return {fam: write_full_size_checkpoint(d / f"{fam}.safetensors", fam) for fam in ("sd1", "sdxl")}


def sd15(path, **kw) -> TrainConfig:
    base = dict(pretrained_model_name_or_path=str(path), resolution="512,512", train_batch_size=1,
                network_module="networks.lora", network_dim=32, network_alpha=16, optimizer_type="AdamW8bit",
                mixed_precision="fp16", gradient_checkpointing=True, cache_latents=True)
    base.update(kw)
    return TrainConfig(**base)


def sdxl(path, **kw) -> TrainConfig:
    base = dict(pretrained_model_name_or_path=str(path), resolution="1024,1024", train_batch_size=1,
                network_module="networks.lora", network_dim=16, network_alpha=8, network_train_unet_only=True,
                optimizer_type="AdaFactor", mixed_precision="bf16", fp8_base=True, gradient_checkpointing=True,
                cache_latents=True, cache_text_encoder_outputs=True)
    base.update(kw)
    return TrainConfig(**base)


def part(est, key) -> int:
    return next((p.bytes for p in est.parts + est.not_added if p.key == key), 0)


# ------------------------------------------------------------------------------------------------ tiny models:
# the parameter count and the weights + optimizer state against the real network and optimizers

NETWORKS = [
    dict(network_module="networks.lora"),
    dict(network_module="networks.lora", network_args=["conv_dim=4", "conv_alpha=1"]),
    dict(network_module="networks.lora", network_train_unet_only=True),
    dict(network_module="networks.dylora", network_dim=8),
    dict(network_module="lycoris.kohya", network_args=["algo=locon"]),
    dict(network_module="lycoris.kohya", network_args=["algo=locon", "use_tucker=True", "conv_dim=4"]),
    dict(network_module="lycoris.kohya", network_args=["algo=loha", "conv_dim=2"]),
    dict(network_module="lycoris.kohya", network_args=["algo=lokr"]),
    dict(network_module="lycoris.kohya", network_args=["algo=lokr", "factor=4", "decompose_both=True"]),
    dict(network_module="lycoris.kohya", network_args=["algo=locon", "dora_wd=True", "preset=attn-mlp"]),
    dict(network_module="lycoris.kohya", network_args=["algo=ia3", "preset=attn-only"]),
    dict(network_module="lycoris.kohya", network_args=["algo=full", "preset=unet-transformer-only"]),
]


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    from trainer.models.loader import load_base_model
    from trainer.models.tiny import make_tiny_checkpoint

    made = {}

    def get(family):
        """(path, freshly loaded model): building a network hooks into the model, so never share one."""
        if family not in made:
            made[family] = make_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / f"{family}.safetensors", family)
        return made[family], load_base_model(made[family])

    return get


def _real_network(cfg, base):
    from trainer.network.build import build_network

    return build_network(cfg, base.unet, base.text_encoders)


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
@pytest.mark.parametrize("net", NETWORKS, ids=lambda n: n["network_module"].split(".")[-1] + ":" + ",".join(
    n.get("network_args", [])) + (":unet" if n.get("network_train_unet_only") else ""))
def test_trainable_tensors_match_the_real_network(tiny_base, family, net):
    path, base = tiny_base(family)
    cfg = TrainConfig(pretrained_model_name_or_path=str(path), **{"network_dim": 4, **net})
    network = _real_network(cfg, base)
    real = Counter(tuple(p.shape) for p in network.parameters())
    est = vram.estimate(cfg)
    shapes, modules, _ = vram.network_tensors(vram.analyze_model(str(path)), cfg, True,
                                              not cfg.network_train_unet_only)
    assert Counter(tuple(s) for s in shapes) == real
    assert modules == est.lora_modules == len(network.net.loras)
    assert est.trainable_params == sum(p.numel() for p in network.parameters())


def _step_and_measure_state(opt_type, params, optimizer_args=()) -> int:
    """Real optimizer state bytes after one step (shared tensors counted once)."""
    import torch

    from trainer.optim import build_optimizer

    built = build_optimizer(opt_type, [{"params": params}], 1e-3, optimizer_args=list(optimizer_args))
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    built.optimizer.step()
    seen, total = set(), 0
    for p in params:
        for v in built.optimizer.state[p].values():
            if isinstance(v, torch.Tensor) and v.dim() > 0 and v.data_ptr() not in seen:
                seen.add(v.data_ptr())
                total += v.numel() * v.element_size()
    return total


@pytest.mark.parametrize("opt_type,args", [
    ("AdamW", ()), ("AdamW8bit", ()), ("Lion8bit", ()), ("SGDNesterov8bit", ()), ("AdaFactor", ()),
    ("AdaFactor", ("beta1=0.9", "relative_step=False", "scale_parameter=False", "warmup_init=False")),
    ("Prodigy", ()), ("Lion", ()),
])
def test_optimizer_state_matches_the_real_optimizer(tiny_base, opt_type, args):
    """8-bit optimizers: bitsandbytes' CPU kernels; small LoRA tensors keep 32-bit state (min_8bit_size)."""
    import torch

    path, base = tiny_base("sd1")
    cfg = TrainConfig(pretrained_model_name_or_path=str(path), network_dim=64, optimizer_type=opt_type,
                      optimizer_args=list(args), network_args=["conv_dim=16"])
    network = _real_network(cfg, base)
    params = [torch.nn.Parameter(p.detach().clone()) for p in network.parameters()]
    assert any(p.numel() >= vram.MIN_8BIT_SIZE for p in params) and any(p.numel() < vram.MIN_8BIT_SIZE for p in params)
    real = _step_and_measure_state(opt_type, params, args)
    est = vram.estimate(cfg)
    assert part(est, "optimizer_state") == pytest.approx(real, rel=0.01, abs=64)


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
def test_weights_and_optimizer_state_match_a_hand_calculation(tiny_base, family):
    """UNet fp16, text encoder trained (fp32), VAE fp32, LoRA fp32 + fp32 grads + AdamW's two fp32 moments."""
    import torch

    path, base = tiny_base(family)
    cfg = TrainConfig(pretrained_model_name_or_path=str(path), network_dim=4, optimizer_type="AdamW",
                      mixed_precision="fp16")
    network = _real_network(cfg, base)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    n_unet, n_vae = count(base.unet), count(base.vae)
    n_te = sum(count(te) for te in base.text_encoders)
    n_lora = sum(p.numel() for p in network.parameters())
    est = vram.estimate(cfg)
    assert part(est, "unet_weights") == 2 * n_unet
    assert part(est, "text_encoder_weights") == 4 * n_te
    assert part(est, "vae_weights") == 4 * n_vae
    assert part(est, "lora_weights") == part(est, "lora_grads") == 4 * n_lora
    assert part(est, "optimizer_state") == 8 * n_lora
    hand = 2 * n_unet + 4 * n_te + 4 * n_vae + (4 + 4 + 8) * n_lora
    weights_and_state = sum(part(est, k) for k in ("unet_weights", "text_encoder_weights", "vae_weights",
                                                   "lora_weights", "lora_grads", "optimizer_state"))
    assert weights_and_state == hand
    # cached text-encoder outputs and latents: encoders and VAE leave the GPU; fp8 halves the UNet;
    # full_bf16 halves the LoRA, its gradients and AdamW's state
    est2 = vram.estimate(cfg.replace(cache_text_encoder_outputs=True, cache_latents=True, fp8_base=True,
                                     full_bf16=True, mixed_precision="bf16", network_train_unet_only=True))
    _, fresh = tiny_base(family)
    n_lora_unet = sum(p.numel() for p in _real_network(cfg.replace(network_train_unet_only=True), fresh).parameters())
    from trainer.models.fp8 import cast_to_fp8

    _, fresh_fp8 = tiny_base(family)
    assert part(est2, "unet_weights") == cast_to_fp8(fresh_fp8.unet, torch.bfloat16)
    assert n_unet < part(est2, "unet_weights") < 1.01 * n_unet
    assert part(est2, "text_encoder_weights") == part(est2, "vae_weights") == 0
    assert part(est2, "lora_weights") == 2 * n_lora_unet
    assert part(est2, "optimizer_state") == 4 * n_lora_unet


def test_parts_sum_to_the_peak_and_the_table_agrees_with_the_optimizer_catalogue(tiny_ckpt):
    from trainer.config.fields import OPTIMIZER_CHOICES
    from trainer.optim.optimizers import OPTIMIZERS

    for name, info in OPTIMIZERS.items():
        per, is8, _ = vram.OPTIMIZER_STATE[name]
        assert per == pytest.approx(info.state_bytes_per_param) and is8 == info.is_8bit, name
    assert set(vram.OPTIMIZER_STATE) == set(OPTIMIZERS)
    assert set(OPTIMIZER_CHOICES) <= set(vram.OPTIMIZER_STATE)
    assert vram.optimizer_key("bitsandbytes.optim.AdamW8bit") == "AdamW8bit"
    assert vram.optimizer_key("adafactor") == "AdaFactor"
    est = vram.estimate(TrainConfig(pretrained_model_name_or_path=str(tiny_ckpt("sd1"))))
    assert est.training_peak_bytes == sum(p.bytes for p in est.parts)
    assert est.peak_bytes == max(est.training_peak_bytes, est.caching_peak_bytes or 0)


def test_network_settings_mirror_the_builder(tiny_ckpt):
    from trainer.network.build import network_spec

    for net in NETWORKS:
        cfg = TrainConfig(**{"network_dim": 8, **net})
        mine, real = vram.net_settings(cfg), network_spec(cfg)
        assert (mine.algo, mine.dim, mine.conv_dim, mine.preset) == (real.algo, real.dim, real.conv_dim, real.preset)


def test_factorization_is_lycoris(tiny_ckpt):
    from lycoris.functional import factorization

    for dim in (1, 7, 32, 96, 127, 128, 250, 320, 360, 512, 640, 768, 1024, 1280, 2048, 5120, 10240):
        for factor in (-1, 2, 4, 8, 16):
            assert vram.factorization(dim, factor) == factorization(dim, factor), (dim, factor)


# ------------------------------------------------------------------------------------------------ full-size shapes


def test_detection_subset_gives_the_same_spec(full, tiny_ckpt):
    from trainer.models.family import detect

    for path in [full["sd1"], full["sdxl"]] + [tiny_ckpt(f) for f in ("sd1", "sd2", "sdxl")]:
        shapes = {k: v[0] for k, v in vram.read_header_shapes(path).items()}
        assert detect(vram._detection_subset(shapes)) == detect(shapes), path


def test_full_size_parameter_counts(full):
    sd1 = vram.analyze_model(str(full["sd1"]))
    xl = vram.analyze_model(str(full["sdxl"]))
    assert (sd1.family, xl.family) == ("sd1", "sdxl")
    assert round(sd1.unet_numel / 1e6) == 860 and round(sum(sd1.te_numel) / 1e6) == 123
    assert round(xl.unet_numel / 1e6) == 2567 and round(sum(xl.te_numel) / 1e6) == 818
    assert round(sd1.vae_numel / 1e6, 1) == 83.7
    # sd-scripts' well-known sizes: SD 1.5 LoRA dim 32 with text encoder 18.9 M values (a 37.9 MB fp16 file)
    est = vram.estimate(sd15(full["sd1"], network_dim=32))
    assert est.trainable_params == 18_874_368 and est.lora_modules == 264


def test_grows_with_batch_and_resolution(full):
    for cfg in (sd15(full["sd1"]), sd15(full["sd1"], gradient_checkpointing=False, cache_latents=False),
                sdxl(full["sdxl"]), sdxl(full["sdxl"], fp8_base=False, cache_text_encoder_outputs=False)):
        b1 = vram.estimate(cfg)
        b2 = vram.estimate(cfg.replace(train_batch_size=2))
        b4 = vram.estimate(cfg.replace(train_batch_size=4))
        assert b1.training_peak_bytes < b2.training_peak_bytes < b4.training_peak_bytes
        assert b1.peak_bytes <= b2.peak_bytes < b4.peak_bytes
        w, h = b1.resolution
        big = vram.estimate(cfg.replace(resolution=f"{w + 256},{h + 256}"))
        small = vram.estimate(cfg.replace(resolution=f"{w - 256},{h - 256}"))
        assert small.peak_bytes < b1.peak_bytes < big.peak_bytes
        assert part(small, "unet_activations") < part(b1, "unet_activations") < part(big, "unet_activations")


def test_drops_with_checkpointing_fp8_and_8bit_optimizers(full):
    for base in (sd15(full["sd1"], fp8_base=False), sdxl(full["sdxl"], fp8_base=False, optimizer_type="AdamW")):
        no_ckpt = vram.estimate(base.replace(gradient_checkpointing=False))
        ckpt = vram.estimate(base.replace(gradient_checkpointing=True))
        assert ckpt.training_peak_bytes < no_ckpt.training_peak_bytes and ckpt.peak_bytes < no_ckpt.peak_bytes
        assert part(ckpt, "unet_activations") < part(no_ckpt, "unet_activations") / 2

        fp8 = vram.estimate(base.replace(fp8_base=True, mixed_precision="bf16"))
        bf16 = vram.estimate(base.replace(mixed_precision="bf16"))
        assert fp8.peak_bytes < bf16.peak_bytes and fp8.training_peak_bytes < bf16.training_peak_bytes
        assert part(bf16, "unet_weights") / 2 < part(fp8, "unet_weights") < part(bf16, "unet_weights") * 0.505

        # (the latent-caching phase can be the overall peak; the optimizer only changes the training phase)
        adamw = vram.estimate(base.replace(optimizer_type="AdamW"))
        adamw8 = vram.estimate(base.replace(optimizer_type="AdamW8bit"))
        ada = vram.estimate(base.replace(optimizer_type="AdaFactor"))
        assert ada.training_peak_bytes < adamw8.training_peak_bytes < adamw.training_peak_bytes
        assert ada.peak_bytes <= adamw8.peak_bytes <= adamw.peak_bytes
        assert part(adamw8, "optimizer_state") < part(adamw, "optimizer_state") / 3.5
        nocache = base.replace(cache_latents=False)
        assert (vram.estimate(nocache.replace(optimizer_type="AdamW8bit")).peak_bytes
                < vram.estimate(nocache.replace(optimizer_type="AdamW")).peak_bytes)
    # mixed precision halves the frozen weights; caching removes the encoders / VAE; SDPA beats naive attention
    cfg = sd15(full["sd1"], cache_latents=False, gradient_checkpointing=False)
    assert vram.estimate(cfg.replace(mixed_precision="no")).peak_bytes > vram.estimate(cfg).peak_bytes
    assert vram.estimate(cfg, attention="naive").peak_bytes > vram.estimate(cfg).peak_bytes + 2 * GiB
    assert vram.estimate(cfg.replace(cache_latents=True)).training_peak_bytes < vram.estimate(cfg).training_peak_bytes
    assert (vram.estimate(cfg.replace(cache_text_encoder_outputs=True)).peak_bytes
            < vram.estimate(cfg).peak_bytes)
    # fp8 without checkpointing keeps upcast copies of every weight for backward
    xl = sdxl(full["sdxl"], gradient_checkpointing=False)
    assert part(vram.estimate(xl), "fp8_upcast_copies") > 10 * part(vram.estimate(sdxl(full["sdxl"])), "fp8_upcast_copies")


def test_magnitudes_agree_with_rough_published_numbers(full):
    """Rough community numbers (nvidia-smi, so with allocator slack): SD 1.5 LoRA dim 32 at 512 px with
    AdamW8bit, fp16 and checkpointing fits in ~6 GB; SDXL at 1024 px with fp8_base, cached text-encoder outputs,
    checkpointing and Adafactor fits in 8 GB; SDXL without fp8 with checkpointing and AdamW8bit ~12 GB."""
    a = vram.estimate(sd15(full["sd1"])).peak_gib
    b = vram.estimate(sdxl(full["sdxl"])).peak_gib
    c = vram.estimate(sdxl(full["sdxl"], fp8_base=False, optimizer_type="AdamW8bit", network_dim=32,
                           cache_text_encoder_outputs=False, cache_latents=False)).peak_gib
    assert 2.5 < a < 6
    assert 4.5 < b < 8
    assert 7.5 < c < 13.5
    assert vram.estimate(sdxl(full["sdxl"], gradient_checkpointing=False, fp8_base=False)).peak_gib > 12


def test_fast_enough_for_every_keystroke(full):
    """Goal 50 ms; the bound is generous for a busy shared CPU. Later calls reuse the cached model analysis."""
    vram._CACHE.clear()
    cfg = sdxl(full["sdxl"], network_train_unet_only=False, cache_text_encoder_outputs=False)
    t = time.perf_counter()
    vram.estimate(cfg)
    cold = time.perf_counter() - t
    t = time.perf_counter()
    for bs in range(1, 11):
        vram.estimate(cfg.replace(train_batch_size=bs))
    warm = (time.perf_counter() - t) / 10
    assert cold < 0.25, f"first estimate took {cold * 1e3:.0f} ms"
    assert warm < 0.05, f"an estimate took {warm * 1e3:.0f} ms"


def test_importing_the_estimate_imports_no_torch(full):
    code = ("import sys; import trainer.vram as v, trainer.cli.estimate, trainer.gpu_info as g; "
            "from trainer.config.fields import TrainConfig; "
            f"v.estimate(TrainConfig(pretrained_model_name_or_path={str(full['sdxl'])!r})); g.query_gpus(); "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith(('torch.', 'diffusers', "
            "'transformers'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_errors_are_sentences(tmp_path, full):
    from trainer.errors import ConfigError, ModelError

    with pytest.raises(ConfigError, match="base model"):
        vram.estimate(TrainConfig())
    with pytest.raises(ModelError, match="does not exist"):
        vram.estimate(TrainConfig(pretrained_model_name_or_path=str(tmp_path / "missing.safetensors")))
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(ModelError, match="damaged"):
        vram.estimate(TrainConfig(pretrained_model_name_or_path=str(bad)))
    with pytest.raises(ConfigError, match="resolution"):
        vram.estimate(sd15(full["sd1"], resolution="huge"))
    assert "does not exist" in vram.estimate_text(TrainConfig(pretrained_model_name_or_path="/nope.safetensors"))
    assert "GiB" in vram.estimate_text(sd15(full["sd1"]))


def test_a_separate_vae_file_counts_instead_of_the_checkpoints(full, tmp_path):
    vae = tmp_path / "vae.safetensors"
    raw = json.dumps({"encoder.conv_in.weight": {"dtype": "F32", "shape": [10, 10], "data_offsets": [0, 400]}}).encode()
    vae.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(400))
    cfg = sd15(full["sd1"], cache_latents=False)
    assert part(vram.estimate(cfg), "vae_weights") == 4 * 83_653_863
    assert part(vram.estimate(cfg.replace(vae=str(vae))), "vae_weights") == 400
