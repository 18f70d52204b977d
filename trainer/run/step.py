"""One training forward pass: batch -> latents, noise, conditioning -> UNet -> weighted loss."""
from __future__ import annotations

import torch

from trainer.run import loss as L
from trainer.run.masks import apply_masked_loss
from trainer.models.spec import VAE_SCALING
from trainer.run.text import encode_sd, encode_sdxl, scale_tokens, tokenize, tokenize_weighted


class StepModel:
    """The frozen base model parts with the trained network hooked in, and how to compute the loss."""

    def __init__(self, base, cfg, runtime, noise_scheduler, *, train_te: bool):
        self.family = base.family
        self.unet = base.unet
        self.vae = base.vae
        self.tes = base.text_encoders
        self.tokenizers = base.tokenizers
        self.cfg = cfg
        self.rt = runtime
        self.sched = noise_scheduler
        self.train_te = train_te
        self.v_pred = noise_scheduler.config.prediction_type == "v_prediction"
        self.te_cache = None  # list per item of (states, pooled) when cache_text_encoder_outputs

    # --- conditioning
    def encode_captions(self, captions: list[str]):
        """-> (hidden states [B,T,D], pooled [B,P] or None), with grad when the text encoder is trained."""
        mtl, dev = self.cfg.max_token_length, self.rt.device
        if self.cfg.weighted_captions:  # (word:1.2) emphasis read and applied as sd-scripts does
            return self._encode_weighted(captions)
        if self.family == "sdxl":
            ids1 = tokenize(self.tokenizers[0], captions, mtl)
            ids2 = tokenize(self.tokenizers[1], captions, mtl)
            return encode_sdxl(self.tes[0], self.tes[1], ids1.to(dev), ids2.to(dev),
                               self.tokenizers[1].eos_token_id)
        ids = tokenize(self.tokenizers[0], captions, mtl)
        return encode_sd(self.tes[0], ids.to(dev), self.cfg.clip_skip), None

    def _encode_weighted(self, captions: list[str]):
        """Each token's hidden state times its weight (no mean restore: sd-scripts' encode_tokens_with_weights);
        the pooled SDXL output is not weighted."""
        mtl, dev = self.cfg.max_token_length, self.rt.device
        pairs = [tokenize_weighted(t, captions, mtl) for t in self.tokenizers]
        if self.family == "sdxl":
            (ids1, w1), (ids2, w2) = pairs
            states, pooled = encode_sdxl(self.tes[0], self.tes[1], ids1.to(dev), ids2.to(dev),
                                         self.tokenizers[1].eos_token_id)
            d1 = self.tes[0].config.hidden_size
            return torch.cat([scale_tokens(states[..., :d1], w1), scale_tokens(states[..., d1:], w2)], -1), pooled
        ids, w = pairs[0]
        return scale_tokens(encode_sd(self.tes[0], ids.to(dev), self.cfg.clip_skip), w), None

    def conditioning(self, batch):
        if self.te_cache is not None:
            states = torch.stack([self.te_cache[i][0] for i in batch["indices"]]).to(self.rt.device)
            pooled = None
            if self.family == "sdxl":
                pooled = torch.stack([self.te_cache[i][1] for i in batch["indices"]]).to(self.rt.device)
            return states, pooled
        with torch.set_grad_enabled(self.train_te), self.rt.autocast():
            return self.encode_captions(batch["captions"])

    def time_ids(self, batch) -> torch.Tensor:
        """SDXL size/crop conditioning: original size, crop top-left, target size, per image."""
        th, tw = batch["target_size"]
        rows = [[h, w, top, left, th, tw] for (h, w), (top, left) in zip(batch["original_sizes"], batch["crops"])]
        return torch.tensor(rows, dtype=torch.float32, device=self.rt.device)

    # --- latents
    @torch.no_grad()
    def latents(self, batch) -> torch.Tensor:
        if "latents" in batch:
            return batch["latents"].to(self.rt.device, dtype=torch.float32).contiguous()
        x = batch["pixels"].to(self.rt.device, dtype=self.vae.dtype)
        # contiguous: the VAE can return channels-last latents, on which the backward of a trained GroupNorm
        # (train_norm) crashes the process on CPU (torch 2.13)
        return (self.vae.encode(x).latent_dist.sample().float() * VAE_SCALING[self.family]).contiguous()

    # --- the loss
    def loss(self, batch, *, noise=None, timesteps=None, cond=None) -> torch.Tensor:
        """noise, timesteps and cond (states, pooled) are drawn/encoded here unless given (validation)."""
        cfg = self.cfg
        latents = self.latents(batch)
        training = noise is None  # validation passes fixed noise and timesteps: no random perturbation then
        if noise is None:
            noise = L.make_noise(latents, noise_offset=cfg.noise_offset, adaptive_noise_scale=cfg.adaptive_noise_scale,
                                 multires_iterations=cfg.multires_noise_iterations,
                                 multires_discount=cfg.multires_noise_discount,
                                 offset_random_strength=cfg.noise_offset_random_strength)
        if timesteps is None:
            timesteps = L.sample_timesteps(latents.shape[0], cfg.min_timestep, cfg.max_timestep,
                                           self.sched.config.num_train_timesteps, latents.device)
        added_noise = L.input_perturbation(noise, cfg.ip_noise_gamma, cfg.ip_noise_gamma_random_strength) \
            if training else noise
        noisy = self.sched.add_noise(latents, added_noise, timesteps)
        states, pooled = cond if cond is not None else self.conditioning(batch)
        added = None
        if self.family == "sdxl":
            added = {"text_embeds": pooled, "time_ids": self.time_ids(batch)}
        with self.rt.autocast():
            pred = self.unet(noisy.to(self.rt.weight_dtype if self.rt.mixed_precision != "no" else noisy.dtype),
                             timesteps, states, added_cond_kwargs=added).sample
        target = self.sched.get_velocity(latents, noise, timesteps) if self.v_pred else noise
        huber_c = L.huber_threshold(cfg.loss_type, cfg.huber_schedule, cfg.huber_c, cfg.huber_scale, timesteps,
                                    self.sched)
        per_sample = L.elementwise_loss(pred.float(), target.float(), cfg.loss_type, huber_c)
        per_sample = apply_masked_loss(per_sample, batch).mean(dim=(1, 2, 3))  # masked_loss: latent-space mask
        if "loss_weights" in batch:  # prior_loss_weight for regularization images (sd-scripts' loss_weights)
            per_sample = per_sample * torch.tensor(batch["loss_weights"], device=per_sample.device)
        per_sample = L.weight_loss(per_sample, timesteps, self.sched, min_snr_gamma=cfg.min_snr_gamma,
                                   v_prediction=self.v_pred,
                                   scale_v_pred_like_noise=cfg.scale_v_pred_loss_like_noise_pred,
                                   v_pred_like_loss=cfg.v_pred_like_loss, debiased=cfg.debiased_estimation_loss)
        return per_sample.mean()
