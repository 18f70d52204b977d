"""The training run: Trainer(config, on_event, stop).run().

Reads top to bottom like the loop it is: check the settings, scan the dataset, load the model, plan the
steps, cache, build the network/optimizer/scheduler, loop, save. Progress goes out as plain events
(trainer.events).

Stopping: a set `stop` Event is looked at between the set-up phases, inside the latent and text-encoder
caching loops and before every batch and optimizer step. Set after the first optimizer step, the run ends
after the current step with a usable file (Saved, then Finished(path, steps, stopped=True)). Set before the
first optimizer step of this run (model loading, caching, any set-up), nothing is written - a file of the same
name from an earlier run is left as it was - and the run ends with Finished(path="", steps=0, stopped=True);
run() then returns None. No Failed event, no exception."""
from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from trainer import events as ev
from trainer.run import save_policy as SP
from trainer.run import setup as S
from trainer.run.compile import compile_step_model
from trainer.config.fields import TrainConfig
from trainer.errors import ConfigError, TrainingDiverged, UserError
from trainer.network.lora_file import hashes_in_background
from trainer.run.step_stats import StepLosses
from trainer.config.validate import validate

OOM_ADVICE = ("Lower train_batch_size or resolution, turn on gradient_checkpointing and cache_latents, "
              "use an 8-bit optimizer (AdamW8bit) or Adafactor; for SDXL also cache_text_encoder_outputs "
              "with network_train_unet_only, and fp8_base on 8 GB cards.")


class _StoppedBeforeTraining(Exception):
    """The stop Event was set before the first optimizer step: there is nothing to save."""


class Trainer:
    def __init__(self, config: TrainConfig, on_event: Callable[[object], None] | None = None,
                 stop: threading.Event | None = None):
        self.cfg = config
        self.on_event = on_event or (lambda e: None)
        self.stop = stop or threading.Event()
        self.last_good: str | None = None

    rt = None  # Runtime, once run() has started
    run_plan = None  # trainer.config.plan.RunPlan, once the dataset is read
    seed: int | None = None  # the seed used (cfg.seed, or the one drawn when it is None)
    validator = watch = None  # trainer.run.watch: held-out images; samples, validation, d*lr while training
    groups: list = []  # trainer.dataset.groups.DatasetGroup per [[datasets]] (one without a dataset config)

    def emit(self, event) -> None:
        if self.rt is None or self.rt.is_main:  # only the main process reports under accelerate launch
            self.on_event(event)

    # ------------------------------------------------------------------ entry point
    def run(self) -> str | None:
        """Train; returns the final LoRA path, or None when nothing was saved (stopped before the first
        optimizer step; Finished then carries path=""). UserError for bad input."""
        try:
            return self._run()
        except _StoppedBeforeTraining:
            return self._stopped_before_training()
        except InterruptedError:  # the caching loops' answer to a set stop Event
            if not self.stop.is_set():
                raise
            return self._stopped_before_training()
        except TrainingDiverged:
            raise
        except UserError as e:
            self.emit(ev.Failed(str(e), kind="input", last_good=self.last_good))
            raise
        except torch.OutOfMemoryError as e:
            self.emit(ev.Failed(f"The GPU ran out of memory ({str(e).splitlines()[0][:160]}).", OOM_ADVICE,
                                "oom", self.last_good))
            raise UserError("The GPU ran out of memory. " + OOM_ADVICE) from None

    def _stopped_before_training(self) -> None:
        self.emit(ev.Log("Stopped before the first training step; nothing was saved."))
        self.emit(ev.Finished("", 0, True))
        return None

    def _check_stop(self) -> None:
        """A check point before the first optimizer step: a set stop Event ends the run without a file."""
        if self.stop.is_set():
            raise _StoppedBeforeTraining

    def _run(self) -> str | None:
        from trainer.run.runtime import make_runtime

        cfg = self.cfg
        issues = validate(cfg)  # once: it reads the prompt file and the dataset sources
        problems = [i for i in issues if i.error]
        if problems:
            raise ConfigError(" ".join(p.message for p in problems))
        self._check_stop()
        self._model_hashes = hashes_in_background(cfg.pretrained_model_name_or_path)  # beside loading, caching
        self.rt = rt = make_runtime(cfg)
        from trainer.run.output_plan import prepare_outputs

        for note in prepare_outputs(cfg, main=rt.is_main):  # before anything loads: refusals cost nothing
            self.emit(ev.Log(note))
        for issue in issues:  # the rest are warnings
            self.emit(ev.Log(issue.message, "warning"))
        for note in rt.notes:
            self.emit(ev.Log(note, "warning"))
        seed = cfg.seed if cfg.seed is not None else random.randint(0, 2**31 - 1)
        if cfg.resume:  # the state is checked now, not after loading; it keeps the data order's seed
            from trainer.run.saving import resume_seed

            seed = resume_seed(cfg.resume, cfg.seed, seed, self.emit)
        if rt.num_processes > 1:  # every process must start from the same weights and data order
            import torch.distributed as dist

            box = [seed]
            dist.broadcast_object_list(box, src=0)
            seed = box[0]
        self._seed_all(seed)
        self.seed = seed  # the seed used (drawn when cfg.seed is None): ss_seed records it
        self._check_stop()

        scan, report = self._scan()
        self._check_stop()
        base = self._load_model()
        self._check_stop()
        data, plan = self._prepare_data(scan, report, base, seed)
        train_te = self.run_plan.train_text_encoder
        if self.run_plan.cache_latents:  # first, while only the VAE is on the GPU
            S.cache_latents_into(data, base, cfg, rt, self.emit, self.stop)
            self._check_stop()
            data, plan = self._replan(data, scan, base, seed)
        model = S.prepare_models(base, cfg, rt, train_te, self.emit)
        self._check_stop()
        if self.run_plan.cache_text_encoder_outputs:
            S.cache_text_into(model, data, base, cfg, rt, self.emit, self.stop)
            self._check_stop()
        network = S.trained_network(base, cfg, rt, train_te, self.emit)
        self._check_stop()
        optim = S.optimization(network, cfg, plan.total_steps, self.emit)
        self.optim = optim  # optimizer, scheduler, ss_optimizer text, group names
        compile_step_model(model, cfg, plan, self.emit)  # torch_compile
        self._check_stop()
        return self._loop(data, plan, model, network, optim.optimizer, optim.scheduler, base, scan, report, seed)

    # ------------------------------------------------------------------ set-up steps
    @staticmethod
    def _seed_all(seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)

    def _scan(self):
        from trainer.dataset.config_file import dataset_configs
        from trainer.dataset.groups import bucket_groups, split_groups
        from trainer.dataset.sources import effective_config, scan_sources

        cfgs = dataset_configs(self.cfg)  # per [[datasets]]: its resolution, batch size, buckets
        self.cfg = cfg = effective_config(self.cfg)  # the keys every dataset shares
        scan = scan_sources(cfg)
        for p in scan.problems:
            self.emit(ev.Log(p.message, "warning"))
        self.groups = groups = split_groups(scan, cfgs)
        report = bucket_groups(groups)  # each dataset at its own resolution and bucket keys
        for p in report.problems:  # all skipped images, except large ones (trained, but slowly)
            self.emit(ev.Log(p.message if p.kind == "large_image" else f"Skipped: {p.message}", "warning"))
        up = report.upscaled()
        if up:
            self.emit(ev.Log(f"{len(up)} image(s) are smaller than their bucket and will be upscaled, for "
                             f"example {up[0]}; consider bucket_no_upscale or a lower resolution.", "warning"))
        return scan, report

    def _load_model(self):
        from trainer.models.loader import load_base_model

        cfg = self.cfg
        self.emit(ev.Log(f"Loading {cfg.pretrained_model_name_or_path}"))
        base = load_base_model(cfg.pretrained_model_name_or_path, vae=cfg.vae or None, v2=cfg.v2 or None,
                               v_parameterization=cfg.v_parameterization, mmap=not cfg.disable_mmap_load_safetensors)
        if cfg.sdxl and base.family != "sdxl":
            raise ConfigError(f"sdxl is set but {Path(cfg.pretrained_model_name_or_path).name} is a "
                              f"{base.family.upper()} model.")
        self.emit(ev.Log(f"Model: {base.family} ({base.model_version})"))
        if base.family == "sdxl" and cfg.clip_skip and cfg.clip_skip > 1:
            self.emit(ev.Log("clip_skip is not used for SDXL: both text encoders always give their penultimate "
                             "layer, as sd-scripts does.", "warning"))
        return base

    def _prepare_data(self, scan, report, base, seed):
        from trainer.run.data import TrainData, build_group_items
        from trainer.run.watch import held_out

        items, repeats = build_group_items(self.groups)
        self.validator = held_out(items, repeats, self.cfg, seed, self.emit)  # takes them out of items
        if not items:
            raise UserError(f"No usable images in {self.cfg.dataset_config or self.cfg.train_data_dir}.")
        data = TrainData(items, repeats, self.cfg, seed, self.rt.num_processes, self.rt.process_index,
                         self._batch_sizes())
        return data, self._plan(data)

    def _batch_sizes(self) -> dict[int, int]:
        return {g.index: g.batch_size for g in self.groups}

    def _plan(self, data):
        """The run plan (trainer.config.plan: the one the window previews) for the images that will train."""
        from trainer.config.plan import resolve

        self.run_plan = resolve(self.cfg, data.plan_counts(), self.rt.num_processes)
        data.total_steps = self.run_plan.total_steps  # token_warmup_step below 1 is a share of these
        return self.run_plan.steps

    def _replan(self, data, scan, base, seed):
        """After caching, drop images that failed to decode and plan again."""
        from trainer.run.data import TrainData

        if not data.bad:
            return data, self._plan(data)
        keep = [i for i in range(len(data.items)) if i not in data.bad]
        repeats = [data.repeats[i] for i in keep]  # as balanced for regularization images
        new = TrainData([data.items[i] for i in keep], repeats, self.cfg, seed, self.rt.num_processes,
                        self.rt.process_index, self._batch_sizes())
        new.latents = [data.latents[i] for i in keep]
        new.cached_crops = [data.cached_crops[i] for i in keep]
        new.latents_flipped = data.latents_flipped and [data.latents_flipped[i] for i in keep]
        return new, self._plan(new)

    # ------------------------------------------------------------------ the loop
    def _loop(self, data, plan, model, network, opt, sched, base, scan, report, seed) -> str | None:
        """Resume, record the run's metadata, announce it, then hand one RunState to the loop (trainer.run.loop)."""
        from trainer.run.loop import TrainingLoop
        from trainer.network.metadata import run_metadata
        from trainer.run.run_state import RunState
        from trainer.run.saving import Progress, load_state
        from trainer.run.tb import TensorBoard
        from trainer.run.watch import Watch

        cfg, rt = self.cfg, self.rt
        progress = Progress(0, 0, 0, random.randint(0, 2**31 - 1), plan.total_steps)
        self.scaler = scaler = rt.make_scaler(cfg.full_fp16)
        if cfg.resume:
            progress = load_state(cfg.resume, network, opt, sched, scaler)
            self.emit(ev.Log(f"Resumed from {cfg.resume} at step {progress.step}"))
        progress, note = SP.initial_progress(cfg, progress, plan.steps_per_epoch, cfg.gradient_accumulation_steps)
        if note:
            self.emit(ev.Log(note))
        self._check_stop()
        self.metadata = run_metadata(cfg, plan, base, scan, report, data, progress.session_id, seed,
                                     self.optim.description, rt.num_processes, self._model_hashes(),
                                     self.groups)
        tb = TensorBoard(cfg.logging_dir, cfg.log_prefix) if rt.is_main and cfg.logging_dir else None
        self.emit(ev.Started(plan.total_steps, plan.epochs, plan.steps_per_epoch, plan.samples_per_epoch,
                             cfg.train_batch_size, scan.describe() + "\n" + plan.describe(), progress.step))
        self.watch = watch = Watch(self, base, model, network, opt, tb)  # samples, validation loss, d*lr
        watch.at_start(step=progress.step, epoch=progress.epoch)
        state = RunState(base, model, network, opt, sched, plan, data, resumed=progress, scaler=scaler, tb=tb,
                         watch=watch, losses=StepLosses(rt.device, plan.steps_per_epoch),
                         params=network.parameters(), step=progress.step, epoch=progress.epoch,
                         batch_in_epoch=progress.batch_in_epoch, start_step=progress.step,
                         start_time=time.perf_counter())
        return TrainingLoop(self, state).run()
