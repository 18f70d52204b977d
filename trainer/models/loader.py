"""Load a base model (single-file checkpoint or diffusers folder) into diffusers/transformers modules.

    bm = load_base_model("model.safetensors", vae=None, v2=None, v_parameterization=False, dtype=torch.float16)
    bm.unet, bm.vae, bm.text_encoders, bm.tokenizers, bm.noise_scheduler()

Single files: the state dict is read once; each component's keys are popped from it, converted, and assigned
into a model built on the meta device, so at no time are two full copies of the weights alive.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from trainer.errors import ModelError

from .checkpoint_io import read_state_dict
from .family import detect, shapes_of, vae_layout, vae_spec_from_shapes
from .ldm_to_diffusers import build_text_encoder, build_unet, build_vae, convert_text_encoder, convert_unet, convert_vae, pop_prefixed
from .spec import FAMILY_NAMES, UNET_PREFIX, VAE_PREFIX, ModelSpec, TextEncoderSpec, UNetSpec, VAESpec
from .tokenizers import load_tokenizers

log = logging.getLogger(__name__)

MODEL_VERSION_SDXL_BASE = "sdxl_base_v1-0"  # sd-scripts' ss_base_model_version for SDXL

# sd-scripts (library/model_util.py, train_network.py)
SCHEDULER_CONFIG = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
}


def model_version_string(family: str, v_parameterization: bool) -> str:
    """``ss_base_model_version`` as sd-scripts writes it: sd_v1, sd_v2, sd_v1_v, sd_v2_v, sdxl_base_v1-0."""
    if family == "sdxl":
        return MODEL_VERSION_SDXL_BASE
    return ("sd_v2" if family == "sd2" else "sd_v1") + ("_v" if v_parameterization else "")


@dataclass
class BaseModel:
    family: str  # 'sd1' | 'sd2' | 'sdxl'
    spec: ModelSpec
    unet: Any
    vae: Any
    text_encoders: list
    tokenizers: list
    model_version: str
    prediction_type: str  # 'epsilon' | 'v_prediction'
    scheduler_config: dict
    source: str = ""
    extras: dict = field(default_factory=dict)  # source tensors the models don't hold (for a faithful re-save)

    @property
    def v2(self) -> bool:
        return self.family == "sd2"

    @property
    def v_parameterization(self) -> bool:
        return self.prediction_type == "v_prediction"

    def noise_scheduler(self):
        from diffusers import DDPMScheduler

        return DDPMScheduler(**self.scheduler_config)

    def to_ldm_state_dict(self, dtype=None) -> dict:
        from .diffusers_to_ldm import to_ldm_state_dict

        return to_ldm_state_dict(self.family, self.unet, self.vae, self.text_encoders, dtype=dtype,
                                 spec=self.spec, extras=self.extras)


def load_base_model(
    path,
    *,
    vae=None,
    v2: bool | None = None,
    v_parameterization: bool | None = None,
    dtype=None,
    progress: Callable[[str], None] | None = None,
    mmap: bool = True,
) -> BaseModel:
    """Load a base model; ``vae`` is an optional separate VAE file (or diffusers VAE folder).

    ``v2``: the user's SD 2.x setting (None = detect; True on an SDXL/SD1 file raises). ``v_parameterization``:
    v-prediction cannot be read from the tensors; None means epsilon, except diffusers folders whose
    scheduler config says ``v_prediction``. ``dtype`` (default float32) applies to floating-point weights.
    """
    import torch

    dtype = dtype or torch.float32
    say = progress or (lambda msg: log.info(msg))
    p = Path(path)
    if not p.exists():
        raise ModelError(f"The base model {p} does not exist.")
    if p.is_dir():
        bm = _load_diffusers_folder(p, v2=v2, v_parameterization=v_parameterization, dtype=dtype, say=say)
    else:
        bm = _load_single_file(p, v2=v2, v_parameterization=v_parameterization, dtype=dtype, say=say,
                               separate_vae=vae is not None, mmap=mmap)
    if vae is not None:
        bm.vae = load_vae(vae, family=bm.family, dtype=dtype, say=say)
        bm.spec = ModelSpec(bm.family, bm.spec.unet, _vae_spec_of(bm.vae), bm.spec.text_encoders)
    if bm.vae is None:
        raise ModelError(f"{p} has no VAE; give a separate VAE file.")
    return bm


def _finish(family, spec, unet, vae, tes, v_parameterization, source, extras, tokenizers=None) -> BaseModel:
    v = bool(v_parameterization)
    return BaseModel(
        family=family,
        spec=spec,
        unet=unet,
        vae=vae,
        text_encoders=tes,
        tokenizers=tokenizers or load_tokenizers(family),
        model_version=model_version_string(family, v),
        prediction_type="v_prediction" if v else "epsilon",
        scheduler_config=dict(SCHEDULER_CONFIG, prediction_type="v_prediction" if v else "epsilon"),
        source=str(source),
        extras=extras,
    )


# --------------------------------------------------------------------------------------------------- single file


def _load_single_file(p: Path, *, v2, v_parameterization, dtype, say, separate_vae: bool,
                      mmap: bool = True) -> BaseModel:
    where = str(p)
    say(f"reading {p.name}")
    sd = read_state_dict(p, mmap=mmap)
    spec = detect(sd, v2=v2, where=where)
    say(f"{FAMILY_NAMES[spec.family]} model detected")
    for k in [k for k in sd if k.startswith("model_ema.")]:  # EMA copies are not used for training
        del sd[k]

    unet_sub = pop_prefixed(sd, UNET_PREFIX)
    unet_cfg = spec.unet.diffusers_config()
    if spec.family == "sd2" and v_parameterization:
        unet_cfg["upcast_attention"] = True  # as SD 2.x 768-v's config (fp16 attention overflows otherwise)
    say("building UNet")
    unet = build_unet(unet_cfg, convert_unet(unet_sub, spec.unet, where), dtype, where)
    del unet_sub

    vae = None
    vae_sub = pop_prefixed(sd, VAE_PREFIX)
    if vae_sub and not separate_vae:
        say("building VAE")
        vae = build_vae(spec.vae.diffusers_config(), convert_vae(vae_sub, spec.vae, "ldm", where), dtype, where)
    del vae_sub

    extras = {}
    tes = []
    for te_spec in spec.text_encoders:
        say("building text encoder" + (f" {len(tes) + 1}" if len(spec.text_encoders) > 1 else ""))
        sub = pop_prefixed(sd, te_spec.prefix)
        converted, te_extras = convert_text_encoder(sub, te_spec, where)
        extras.update(te_extras)
        tes.append(build_text_encoder(te_spec, converted, dtype, where))
    # what is left: the DDPM schedule buffers of old .ckpt files and the like; small, kept for re-saving
    for k in list(sd):
        if k.startswith(("cond_stage_model.", "conditioner.")):
            raise ModelError(f"{where} has text encoder weights this app cannot place: {k}.")
        extras[k] = sd.pop(k)
    if extras:
        log.debug("kept %d extra tensors: %s", len(extras), sorted(extras)[:8])
    return _finish(spec.family, spec, unet, vae, tes, v_parameterization, p, extras)


# --------------------------------------------------------------------------------------------------- VAE


def load_vae(path, *, family: str | None = None, dtype=None, say=None):
    """A separate VAE: single file in LDM layout (with or without ``first_stage_model.``), in diffusers layout,
    or a diffusers folder (``config.json`` + weights)."""
    import torch

    dtype = dtype or torch.float32
    p = Path(path)
    if p.is_dir():
        return _from_pretrained_dir("AutoencoderKL", p, dtype)
    sd = read_state_dict(p)
    where = f"The VAE file {p}"
    if any(k.startswith(VAE_PREFIX) for k in sd):
        sd = pop_prefixed(sd, VAE_PREFIX)
    sub = {k: v for k, v in sd.items() if k.startswith(("encoder.", "decoder.", "quant_conv.", "post_quant_conv."))}
    del sd  # e.g. "loss.*" discriminator weights in VAE training checkpoints are ignored
    if not sub:
        raise ModelError(f"{where} holds no VAE weights (encoder.*/decoder.*).")
    layout = vae_layout(sub)
    spec = vae_spec_from_shapes(shapes_of(sub), family, where)
    if say:
        say(f"building VAE from {p.name} ({layout} layout)")
    return build_vae(spec.diffusers_config(), convert_vae(sub, spec, layout, where), dtype, where)


def _vae_spec_of(vae) -> VAESpec:
    c = vae.config
    return VAESpec(c.in_channels, c.out_channels, tuple(c.block_out_channels), c.layers_per_block,
                   c.latent_channels, c.scaling_factor, True)


# --------------------------------------------------------------------------------------------------- diffusers folder


def _from_pretrained_dir(class_name: str, folder: Path, dtype, subfolder: str | None = None):
    import diffusers
    import transformers

    cls = getattr(diffusers, class_name, None) or getattr(transformers, class_name)
    kw = {"subfolder": subfolder} if subfolder else {}
    try:
        if cls.__module__.startswith("diffusers"):
            return cls.from_pretrained(str(folder), torch_dtype=dtype, local_files_only=True, **kw).eval()
        return cls.from_pretrained(str(folder), dtype=dtype, local_files_only=True, **kw).eval()
    except (OSError, ValueError, EnvironmentError) as e:
        where = folder / subfolder if subfolder else folder
        raise ModelError(f"The model folder {where} cannot be loaded as {class_name} ({str(e).splitlines()[0]}).") from None


def _load_diffusers_folder(p: Path, *, v2, v_parameterization, dtype, say) -> BaseModel:
    if not (p / "model_index.json").is_file():
        raise ModelError(f"{p} is a folder without model_index.json; give a diffusers model folder or a checkpoint file.")
    index = json.loads((p / "model_index.json").read_text(encoding="utf-8"))
    for sub in ("unet", "text_encoder"):
        if not (p / sub).is_dir():
            raise ModelError(f"The diffusers folder {p} has no {sub}/ subfolder.")
    if index.get("_class_name", "").startswith("StableDiffusionXLImg2Img") or (
        (p / "text_encoder_2").is_dir() and not (p / "text_encoder").is_dir()
    ):
        raise ModelError(f"{p} is an SDXL refiner; refiners are not supported for LoRA training, use an SDXL base model.")
    sdxl = (p / "text_encoder_2").is_dir()
    say("loading diffusers folder")
    unet = _from_pretrained_dir("UNet2DConditionModel", p, dtype, "unet")
    if unet.config.in_channels != 4:
        what = "an inpainting model" if unet.config.in_channels == 9 else f"a {unet.config.in_channels}-channel model"
        raise ModelError(f"{p} is {what}; only plain text-to-image models (4 channels) are supported.")
    vae = _from_pretrained_dir("AutoencoderKL", p, dtype, "vae") if (p / "vae").is_dir() else None
    te1 = _from_pretrained_dir("CLIPTextModel", p, dtype, "text_encoder")
    tes = [te1]
    if sdxl:
        tes.append(_from_pretrained_dir("CLIPTextModelWithProjection", p, dtype, "text_encoder_2"))
        family = "sdxl"
    else:
        family = "sd2" if (te1.config.hidden_act == "gelu" or unet.config.cross_attention_dim == 1024) else "sd1"
    if v2 and family != "sd2":
        raise ModelError(f"{p} is {'an SDXL' if sdxl else 'an SD 1.x'} model, but the setting v2 (SD 2.x) is on; turn v2 off.")
    if v_parameterization is None:
        sched = p / "scheduler" / "scheduler_config.json"
        if sched.is_file():
            v_parameterization = json.loads(sched.read_text(encoding="utf-8")).get("prediction_type") == "v_prediction"
    toks = _folder_tokenizers(p, family)
    spec = spec_from_models(family, unet, vae, tes)
    return _finish(family, spec, unet, vae, tes, v_parameterization, p, {}, tokenizers=toks)


def _folder_tokenizers(p: Path, family: str) -> list:
    from .tokenizers import PAD_TOKENS, load_tokenizer

    out = []
    for i, sub in enumerate(("tokenizer", "tokenizer_2")[: len(PAD_TOKENS[family])]):
        folder = p / sub
        if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
            tok = load_tokenizer(PAD_TOKENS[family][i], folder=folder)
        else:
            tok = load_tokenizer(PAD_TOKENS[family][i])
        out.append(tok)
    return out


def spec_from_models(family: str, unet, vae, text_encoders) -> ModelSpec:
    """A ``ModelSpec`` describing already built diffusers/transformers models."""
    c = unet.config
    n = len(c.block_out_channels)
    attn = ["CrossAttn" in t for t in c.down_block_types]
    tl = c.transformer_layers_per_block
    tl = list(tl) if isinstance(tl, (list, tuple)) else [tl] * n
    heads = c.num_attention_heads or c.attention_head_dim
    heads = tuple(heads) if isinstance(heads, (list, tuple)) else (heads,) * n
    cross = c.cross_attention_dim
    unet_spec = UNetSpec(
        in_channels=c.in_channels,
        out_channels=c.out_channels,
        block_out_channels=tuple(c.block_out_channels),
        layers_per_block=c.layers_per_block if isinstance(c.layers_per_block, int) else c.layers_per_block[0],
        transformer_depth=tuple(d if a else 0 for d, a in zip(tl, attn)),
        mid_transformer_depth=tl[-1],
        cross_attention_dim=cross[0] if isinstance(cross, (list, tuple)) else cross,
        num_heads=heads,
        use_linear_projection=bool(c.use_linear_projection),
        adm_in_channels=c.projection_class_embeddings_input_dim if c.addition_embed_type == "text_time" else None,
        addition_time_embed_dim=c.addition_time_embed_dim if c.addition_embed_type == "text_time" else None,
        head_rule="heads8" if family == "sd1" else "width64",
    )
    te_specs = []
    prefixes = {"sd1": ["cond_stage_model.transformer."], "sd2": ["cond_stage_model.model."],
                "sdxl": ["conditioner.embedders.0.transformer.", "conditioner.embedders.1.model."]}[family]
    for te, prefix in zip(text_encoders, prefixes):
        tc = te.config
        open_clip = prefix.endswith(".model.")
        te_specs.append(TextEncoderSpec(
            layout="open_clip" if open_clip else "clip",
            prefix=prefix,
            hidden_size=tc.hidden_size,
            num_layers=tc.num_hidden_layers,
            file_layers=tc.num_hidden_layers + (1 if family == "sd2" else 0),
            num_heads=tc.num_attention_heads,
            intermediate_size=tc.intermediate_size,
            vocab_size=tc.vocab_size,
            max_position_embeddings=tc.max_position_embeddings,
            hidden_act=tc.hidden_act,
            projection_dim=getattr(tc, "projection_dim", None) if hasattr(te, "text_projection") else None,
        ))
    return ModelSpec(family, unet_spec, _vae_spec_of(vae) if vae is not None else None, tuple(te_specs))
