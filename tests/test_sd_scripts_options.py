"""Every option name of sd-scripts' train_network.py / sdxl_train_network.py loads (tests/data holds the names
with the sd-scripts commit they came from); the loss, noise and caption options follow sd-scripts' formulas;
the metadata carries sd-scripts' keys; a TOML with every implemented option set away from its default trains."""
import math
import random
from pathlib import Path

import pytest
import toml
import torch

from trainer.config.fields import FIELDS, TrainConfig
from trainer.config.compat import ACCEPTED_ONLY, ALIASES
from trainer.config.files import from_dict, load_toml
from trainer.errors import ConfigError

DATA = Path(__file__).parent / "data"
PENDING: set[str] = set()  # every sd-scripts name is a setting, an alias or accepted-only


def _names(file: str) -> list[str]:
    lines = (DATA / file).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_every_sd_scripts_option_name_is_known():
    names = _names("sd_scripts_train_network_options.txt")
    assert len(names) == len(set(names)) == 197
    unknown = [n for n in names if n not in FIELDS and n not in ACCEPTED_ONLY and n not in ALIASES
               and n not in PENDING]
    assert unknown == []


def test_a_toml_with_every_accepted_only_option_loads_and_each_set_one_is_named(tmp_path):
    from trainer.config.validate import validate

    values = {n: True for n in ACCEPTED_ONLY}
    values.update(log_with="wandb", huggingface_repo_id="me/lora", zero_stage=3, tokenizer_cache_dir="cache")
    path = tmp_path / "kohya.toml"
    path.write_text(toml.dumps({"general": values, "caption_extention": ".caption"}), encoding="utf-8")
    cfg = load_toml(path)
    assert cfg.caption_extension == ".caption"
    warned = {i.field: i.message for i in validate(cfg, need_paths=False) if not i.error}
    assert set(ACCEPTED_ONLY) <= set(warned)
    assert "tokenizers ship with LoRA Desk" in warned["tokenizer_cache_dir"]
    assert "accelerate launch" in warned["deepspeed"]
    assert warned["log_with"].startswith("log_with wandb is ignored")


def test_inert_values_of_accepted_only_options_say_nothing():
    from trainer.config.validate import validate

    cfg = from_dict({"huggingface_repo_id": "", "deepspeed": False, "log_with": "tensorboard", "zero_stage": 2})
    fields = {i.field for i in validate(cfg, need_paths=False)}
    assert not fields & {"huggingface_repo_id", "deepspeed", "log_with", "zero_stage"}


def test_legacy_aliases_map_like_sd_scripts():
    assert from_dict({"use_8bit_adam": True}).optimizer_type == "AdamW8bit"
    assert from_dict({"use_lion_optimizer": True}).optimizer_type == "Lion"
    assert from_dict({"use_8bit_adam": False}).optimizer_type == "AdamW"
    assert from_dict({"caption_extention": ".cap", "caption_extension": ".txt"}).caption_extension == ".txt"
    with pytest.raises(ConfigError, match="use_8bit_adam and optimizer_type = Lion"):
        from_dict({"use_8bit_adam": True, "optimizer_type": "Lion"})


def test_accepted_only_options_survive_replace_and_save(tmp_path):
    from trainer.config.files import save_toml

    cfg = from_dict({"wandb_run_name": "x"}).replace(seed=3)
    assert cfg.accepted_only == {"wandb_run_name": "x"}
    save_toml(cfg, tmp_path / "c.toml")
    assert load_toml(tmp_path / "c.toml").accepted_only == {"wandb_run_name": "x"}


def test_train_help_lists_every_name_with_the_accepted_only_ones_apart():
    from trainer.cli.train import build_parser, config_from_args

    text = build_parser().format_help()
    for name in _names("sd_scripts_train_network_options.txt"):
        if name not in PENDING and name != "config_file":
            assert f"--{name}" in text, name
    tail = text.split("sd-scripts options accepted without effect", 1)[1]
    assert "--deepspeed" in tail and "--loss_type" not in tail and "accelerate launch" in tail
    cfg = config_from_args(["--use_8bit_adam", "--deepspeed", "--log_with", "wandb", "--loss_type", "huber"])
    assert cfg.optimizer_type == "AdamW8bit" and cfg.loss_type == "huber"
    assert cfg.accepted_only == {"deepspeed": True, "log_with": "wandb"}


# --- formulas (sd-scripts library/train_util.py, library/custom_train_functions.py)

def _sched():
    from trainer.run.loss import make_noise_scheduler

    return make_noise_scheduler()


def test_huber_thresholds_follow_sd_scripts():
    from trainer.run.loss import huber_threshold

    sched, t = _sched(), torch.tensor([0, 250, 999])
    snr = huber_threshold("huber", "snr", 0.1, 1.0, t, sched)
    ac = sched.alphas_cumprod[t]
    sigma = ((1 - ac) / ac) ** 0.5
    assert torch.allclose(snr, (1 - 0.1) / (1 + sigma) ** 2 + 0.1)
    exp = huber_threshold("smooth_l1", "exponential", 0.1, 2.0, t, sched)
    alpha = -math.log(0.1) / 1000
    assert torch.allclose(exp, torch.exp(-alpha * t.float()) * 2.0)
    assert torch.allclose(huber_threshold("huber", "constant", 0.1, 2.0, t, sched), torch.full((3,), 0.2))
    assert huber_threshold("l2", "snr", 0.1, 1.0, t, sched) is None


def test_loss_types_follow_sd_scripts():
    from trainer.run.loss import elementwise_loss

    pred, target = torch.randn(2, 4, 3, 3), torch.randn(2, 4, 3, 3)
    c = torch.tensor([0.1, 0.5])
    d2 = (pred - target) ** 2
    cc = c.view(-1, 1, 1, 1)
    assert torch.allclose(elementwise_loss(pred, target, "l2"), d2)
    assert torch.allclose(elementwise_loss(pred, target, "l1"), (pred - target).abs())
    assert torch.allclose(elementwise_loss(pred, target, "huber", c), 2 * cc * (torch.sqrt(d2 + cc ** 2) - cc))
    assert torch.allclose(elementwise_loss(pred, target, "smooth_l1", c), 2 * (torch.sqrt(d2 + cc ** 2) - cc))


def test_debiased_estimation_follows_sd_scripts():
    from trainer.run.loss import weight_loss

    sched, t = _sched(), torch.tensor([0, 500, 999])
    loss = torch.ones(3)
    snr = torch.clamp(sched.all_snr[t], max=1000)
    out = weight_loss(loss, t, sched, min_snr_gamma=None, v_prediction=False, scale_v_pred_like_noise=False,
                      v_pred_like_loss=None, debiased=True)
    assert torch.allclose(out, 1 / torch.sqrt(snr))
    out_v = weight_loss(loss, t, sched, min_snr_gamma=5.0, v_prediction=True, scale_v_pred_like_noise=False,
                        v_pred_like_loss=None, debiased=True)
    min_snr = torch.clamp(sched.all_snr[t], max=5.0) / (sched.all_snr[t] + 1)  # applied first, as sd-scripts
    assert torch.allclose(out_v, min_snr / (snr + 1))


def test_timestep_range_and_input_perturbation():
    from trainer.run.loss import input_perturbation, make_noise, sample_timesteps

    g = torch.Generator().manual_seed(0)
    t = sample_timesteps(4000, 200, 300, 1000, "cpu", g)
    assert int(t.min()) == 200 and int(t.max()) == 299
    assert sample_timesteps(3, 500, 500, 1000, "cpu").tolist() == [500, 500, 500]
    assert int(sample_timesteps(4000, None, None, 1000, "cpu", g).max()) == 999
    noise = torch.zeros(2, 4, 8, 8)
    assert input_perturbation(noise, None, False) is noise
    fixed = input_perturbation(noise, 0.1, False, torch.Generator().manual_seed(1))
    assert torch.allclose(fixed, 0.1 * torch.randn(noise.shape, generator=torch.Generator().manual_seed(1)))
    random_strength = input_perturbation(noise, 0.1, True, torch.Generator().manual_seed(1)).std()
    assert 0 < random_strength < fixed.std()
    lat = torch.zeros(64, 4, 2, 2)
    offsets = make_noise(lat, noise_offset=0.5, adaptive_noise_scale=None, multires_iterations=None,
                         multires_discount=0.3, offset_random_strength=True, generator=g)
    plain = make_noise(lat, noise_offset=0.5, adaptive_noise_scale=None, multires_iterations=None,
                       multires_discount=0.3, generator=torch.Generator().manual_seed(0))
    assert offsets.std() < plain.std()  # the offset's strength is drawn from [0, 0.5)


# --- captions (sd-scripts BaseDataset.process_caption)

def test_wildcards_pick_a_line_and_a_choice():
    from trainer.dataset.captions import process_caption

    seen = {process_caption("a {red|blue} {{x}}\nsecond line", enable_wildcard=True, rng=random.Random(i))
            for i in range(60)}
    assert seen == {"a red {x}", "a blue {x}", "second line"}
    assert process_caption("one\ntwo", rng=random.Random(0)) == "one"


def test_token_warmup_prefix_suffix_and_dropout_every_n_epochs():
    from trainer.dataset.captions import process_caption

    cap = "t0, t1, t2, t3, t4, t5"
    # sd-scripts: floor(step * (len - min) / warmup_step) + min tokens before warmup_step
    assert process_caption(cap, token_warmup_min=2, token_warmup_step=8, step=0) == "t0, t1"
    assert process_caption(cap, token_warmup_min=2, token_warmup_step=8, step=4) == "t0, t1, t2, t3"
    assert process_caption(cap, token_warmup_min=2, token_warmup_step=8, step=8) == cap
    assert process_caption("x", caption_prefix="pre", caption_suffix="post") == "pre x post"
    assert process_caption("x", caption_dropout_every_n_epochs=2, epoch=2) == ""
    assert process_caption("x", caption_dropout_every_n_epochs=2, epoch=3) == "x"
    assert process_caption("a;;;b, c", secondary_separator=";;;") == "a,b, c"


# --- metadata: sd-scripts' keys, plus ours

def _run_info(**kw):
    from trainer.network.metadata import RunInfo

    base = dict(model_version="sd_v1", session_id=1, started_at=1.7e9, num_train_images=5, batches_per_epoch=3,
                epochs=2, total_steps=6, optimizer="torch.optim.AdamW", model_hashes=("a", "b"))
    base.update(kw)
    return RunInfo(**base)


def test_metadata_has_every_key_sd_scripts_writes():
    from trainer.network.metadata import build_metadata, with_progress

    cfg = TrainConfig(pretrained_model_name_or_path="/m/base.safetensors", output_name="mine", network_dim=8,
                      network_alpha=4.0, network_args=["conv_dim=4"])
    md = with_progress(build_metadata(cfg, _run_info()), epoch=2, step=6)
    expected = set(_names("sd_scripts_lora_metadata_keys.txt"))
    missing = expected - set(md)
    assert missing == {"ss_sd_scripts_commit_hash"}  # not sd-scripts: ss_lora_desk_version instead
    assert md["ss_network_alpha"] == "4"
    assert md["modelspec.architecture"] == "stable-diffusion-v1/lora"
    assert md["modelspec.implementation"] == "diffusers"
    assert md["modelspec.title"] == "mine" and md["modelspec.resolution"] == "512x512"
    assert md["modelspec.prediction_type"] == "epsilon"


def test_modelspec_for_sdxl_v_pred_and_metadata_options():
    from trainer.network.metadata import build_metadata

    cfg = TrainConfig(output_name="x", resolution="1024", metadata_title="Title", metadata_author="Me",
                      metadata_tags="a,b", metadata_trigger_phrase="trig", min_timestep=100, clip_skip=2)
    md = build_metadata(cfg, _run_info(model_version="sdxl_base_v1-0"))
    assert md["modelspec.architecture"] == "stable-diffusion-xl-v1-base/lora"
    assert md["modelspec.implementation"] == "https://github.com/Stability-AI/generative-models"
    assert (md["modelspec.title"], md["modelspec.author"], md["modelspec.tags"]) == ("Title", "Me", "a,b")
    assert md["modelspec.trigger_phrase"] == "trig" and md["modelspec.timestep_range"] == "100,1000"
    assert md["modelspec.encoder_layer"] == "2" and md["modelspec.resolution"] == "1024x1024"
    v2 = build_metadata(TrainConfig(v_parameterization=True), _run_info(model_version="sd_v2_v"))
    assert v2["modelspec.architecture"] == "stable-diffusion-v2-768-v/lora"
    assert v2["modelspec.prediction_type"] == "v"


def test_no_metadata_keeps_the_minimum_and_modelspec():
    from trainer.network.metadata import MINIMUM_KEYS, build_metadata, with_progress

    md = with_progress(build_metadata(TrainConfig(no_metadata=True), _run_info()), epoch=1, step=1)
    assert {k for k in md if k.startswith("ss_")} <= set(MINIMUM_KEYS)
    assert "ss_tag_frequency" not in md and "modelspec.title" in md and "ss_epoch" not in md


# --- the real loop with every implemented option away from its default

NEW_OPTIONS = dict(  # every field issue 17 added, each away from its default
    loss_type="huber", huber_schedule="exponential", huber_c=0.2, huber_scale=1.5, ip_noise_gamma=0.1,
    ip_noise_gamma_random_strength=True, noise_offset_random_strength=True, debiased_estimation_loss=True,
    min_timestep=10, max_timestep=900, caption_prefix="(pre:1.2)", caption_suffix="post", caption_separator=";",
    secondary_separator=";;;", enable_wildcard=True, caption_dropout_every_n_epochs=3, token_warmup_min=2,
    token_warmup_step=0.5, weighted_captions=True, color_aug=True, face_crop_aug_range="2.0,3.0",
    resize_interpolation="area", no_half_vae=True, fp8_base_unet=True, highvram=True,
    disable_mmap_load_safetensors=True, text_encoder_batch_size=2, lr_decay_steps=0.5,
    lr_scheduler_min_lr_ratio=0.1, lr_scheduler_timescale=5, save_last_n_steps=2, save_n_epoch_ratio=2,
    save_last_n_epochs_state=1, save_last_n_steps_state=1, save_state_on_train_end=True, initial_epoch=1,
    initial_step=2, skip_until_initial_step=True, no_metadata=True, metadata_title="T", metadata_author="A",
    metadata_description="D", metadata_license="L", metadata_tags="t", metadata_trigger_phrase="tp",
    metadata_usage_hint="u", metadata_preprocessor="p", metadata_merged_from="m", metadata_thumbnail="data:,x",
    metadata_is_negative_embedding="false", ddp_timeout=5)


@pytest.mark.slow
def test_toml_with_every_implemented_option_trains(tiny_ckpt, dataset, tmp_path):
    from conftest import quick_config, run_training
    from safetensors import safe_open
    from tools_fixtures import make_lora

    from trainer.config.files import save_toml

    style = make_lora(tmp_path / "style.safetensors", "sd1", seed=2, dim=2, alpha=1.0)
    options = dict(NEW_OPTIONS, base_weights=[str(style)], base_weights_multiplier=["0.5"])
    for name, value in options.items():
        assert name in FIELDS and value != getattr(TrainConfig(), name), name
    concept = dataset / "2_redcircle"
    (concept / "img0.png").rename(concept / "img0_32_32_20_20.png")  # a face-crop file name
    (concept / "img0.txt").rename(concept / "img0_32_32_20_20.txt")
    (concept / "img1.txt").write_text("{red|blue} circle;;; round, (shape:1.3)\nsecond line\n", encoding="utf-8")
    cfg = quick_config(tiny_ckpt("sd1"), dataset, tmp_path / "out", max_train_steps=6, mixed_precision="bf16",
                       lr_scheduler="warmup_stable_decay", save_every_n_steps=2)
    save_toml(cfg, tmp_path / "base.toml")
    data = toml.loads((tmp_path / "base.toml").read_text(encoding="utf-8"))
    data.update(options, huggingface_repo_id="me/x", use_8bit_adam=False, caption_extention=".txt")
    (tmp_path / "all.toml").write_text(toml.dumps(data), encoding="utf-8")
    cfg = load_toml(tmp_path / "all.toml")
    path, events = run_training(cfg)
    with safe_open(path, "pt") as f:
        md = f.metadata()
    assert md["modelspec.title"] == "T" and md["modelspec.timestep_range"] == "10,900"
    assert md["modelspec.author"] == "A" and "ss_loss_type" not in md  # no_metadata: minimum ss_* keys
    logs = [e.message for e in events if type(e).__name__ == "Log"]
    assert any("huggingface_repo_id is ignored" in m for m in logs)
    assert any("Merged style.safetensors into the base model at 0.5" in m for m in logs)
    assert [e.step for e in events if type(e).__name__ == "Step"] == [3, 4, 5, 6]
    assert (tmp_path / "out" / "lora-state").is_dir()


def test_text_encoder_outputs_are_cached_in_batches_of_text_encoder_batch_size():
    from types import SimpleNamespace

    from trainer.run.caching import cache_text_outputs

    items = [SimpleNamespace(entry=SimpleNamespace(caption=c, path=Path(f"/nowhere/{i}.png")))
             for i, c in enumerate(["a", "b", "a", "c", "d"])]
    data = SimpleNamespace(items=items, caption=lambda i, epoch, rng: "pre " + items[i].entry.caption)
    calls = []

    def encode(captions):
        calls.append(list(captions))
        return torch.arange(len(captions), dtype=torch.float32).view(-1, 1, 1) + len(calls) * 10, None

    out = cache_text_outputs(data, encode, "m", to_disk=False, max_token_length=None, clip_skip=None,
                             batch_size=3)
    assert calls == [["pre a", "pre b", "pre c"], ["pre d"]]  # unique captions, prefix applied
    assert float(out[0][0]) == float(out[2][0]) == 10.0 and float(out[4][0]) == 20.0


def test_output_config_writes_a_new_file_and_never_replaces_one(tmp_path, capsys):
    from trainer.cli.train import main_train

    target = tmp_path / "made.toml"
    assert main_train(["--config_file", str(target), "--output_config", "--loss_type", "huber",
                       "--use_8bit_adam", "--wandb_run_name", "r"]) == 0
    cfg = load_toml(target)
    assert (cfg.loss_type, cfg.optimizer_type, cfg.accepted_only) == ("huber", "AdamW8bit", {"wandb_run_name": "r"})
    before = target.read_bytes()
    assert main_train(["--config_file", str(target), "--output_config"]) == 1
    assert "already exists" in capsys.readouterr().err and target.read_bytes() == before


@pytest.mark.parametrize("mtl", [None, 150])
def test_weighted_captions_scale_each_token_like_sd_scripts(mtl):
    from trainer.models.tokenizers import load_tokenizers
    from trainer.run.text import scale_tokens, tokenize, tokenize_weighted

    tok = load_tokenizers("sd1")[0]
    ids, w = tokenize_weighted(tok, ["a photo of (red:1.5) [hat]", "plain"], mtl)
    assert torch.equal(ids, tokenize(tok, ["a photo of red hat", "plain"], mtl))
    n_red = len(tok("a photo of", add_special_tokens=False).input_ids) + 1  # position after <BOS>
    assert float(w[0, 0, n_red]) == 1.5 and float(w[0, 0, n_red + 1]) == pytest.approx(1 / 1.1)
    assert torch.all(w[1] == 1)
    states = torch.ones(2, ids.shape[1] * 75 + 2, 3)
    scaled = scale_tokens(states, w)
    # sd-scripts: hidden[:, i*75+1 : i*75+76] *= weight[:, i, 1:-1]; <BOS>/<EOS> unscaled, no mean restore
    assert float(scaled[0, n_red, 0]) == 1.5 and float(scaled[0, 0, 0]) == 1.0 and float(scaled[0, -1, 0]) == 1.0


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
def test_weighted_captions_in_the_step_model(tiny_ckpt, family):
    from types import SimpleNamespace

    from trainer.run.loss import make_noise_scheduler
    from trainer.models.loader import load_base_model
    from trainer.run.step import StepModel

    base = load_base_model(tiny_ckpt(family))
    rt = SimpleNamespace(device=torch.device("cpu"))

    def encode(caption, **kw):
        model = StepModel(base, TrainConfig(**kw), rt, make_noise_scheduler(), train_te=False)
        with torch.no_grad():
            return model.encode_captions([caption])

    weighted, pooled_w = encode("red (hat:2)", weighted_captions=True)
    plain, pooled = encode("red hat")
    assert torch.allclose(weighted[:, 2], 2 * plain[:, 2], atol=1e-5)  # <BOS> red hat: hat is token 2
    assert torch.allclose(weighted[:, :2], plain[:, :2]) and torch.allclose(weighted[:, 3:], plain[:, 3:])
    if family == "sdxl":
        assert torch.allclose(pooled_w, pooled)


@pytest.mark.parametrize("name", ["cosine_with_min_lr", "warmup_stable_decay", "inverse_sqrt"])
def test_min_lr_wsd_and_inverse_sqrt_schedulers_equal_transformers_as_sd_scripts_calls_them(name):
    from transformers import optimization as T

    from trainer.optim.schedulers import build_scheduler

    def opt():
        return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)

    total, warmup, cycles = 100, 10, 1
    ours = build_scheduler(opt(), lr_scheduler=name, num_training_steps=total, lr_warmup_steps=warmup,
                           lr_scheduler_num_cycles=cycles, lr_decay_steps=0.3, lr_scheduler_timescale=20,
                           lr_scheduler_min_lr_ratio=0.1)
    # sd-scripts get_scheduler_fix: num_cycles / 2, min_lr_rate / min_lr_ratio, decay = int(0.3 * total)
    if name == "cosine_with_min_lr":
        ref = T.get_cosine_with_min_lr_schedule_with_warmup(opt(), warmup, total, num_cycles=cycles / 2,
                                                            min_lr_rate=0.1)
    elif name == "warmup_stable_decay":
        ref = T.get_wsd_schedule(opt(), warmup, 30, num_stable_steps=total - warmup - 30, num_cycles=cycles / 2,
                                 min_lr_ratio=0.1)
    else:
        ref = T.get_inverse_sqrt_schedule(opt(), warmup, timescale=20)
    got, want = [], []
    for _ in range(total):
        got.append(ours.get_last_lr()[0])
        want.append(ref.get_last_lr()[0])
        ours.optimizer.step(), ours.step(), ref.optimizer.step(), ref.step()
    assert got == pytest.approx(want, rel=1e-9, abs=1e-15)


def test_scheduler_options_are_checked_before_the_model_loads():
    from trainer.config.validate import errors

    fields = {i.field for i in errors(TrainConfig(lr_scheduler="cosine_with_min_lr"), need_paths=False)}
    assert "lr_scheduler_min_lr_ratio" in fields
    fields = {i.field for i in errors(TrainConfig(lr_scheduler="warmup_stable_decay"), need_paths=False)}
    assert "lr_decay_steps" in fields
    assert from_dict({"lr_decay_steps": 20}).lr_decay_steps == 20
    assert from_dict({"lr_decay_steps": 0.2}).lr_decay_steps == 0.2


def test_face_crop_follows_sd_scripts_crop_target():
    from PIL import Image, ImageDraw

    from trainer.run.augment import face_crop, face_info

    assert face_info("/d/img_150_50_40_40.png") == (150, 50, 40, 40) and face_info("/d/plain.png") is None
    img = Image.new("RGB", (200, 100), (0, 0, 255))
    ImageDraw.Draw(img).rectangle([130, 30, 170, 70], fill=(255, 0, 0))  # the face, centre (150, 50)
    # range 2..2: the face's side becomes half the crop's shorter side: scale max(0.64, 64/80) = 0.8
    out, (top, left) = face_crop(img, (64, 64), (150, 50, 40, 40), (2.0, 2.0), False, random.Random(0), None)
    assert out.size == (64, 64) and (top, left) == (8, 88)  # face at (120, 40) in the 160x80 image
    assert out.getpixel((32, 32))[0] > 200  # the face is in the middle
