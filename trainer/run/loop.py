"""The training loop, top to bottom: every epoch, every batch: forward and backward; every
gradient_accumulation_steps batches an optimizer step, its report, samples/validation/EMA and the step files;
at each epoch end the epoch file; at the end the final file. What a step needs and changes is in one RunState
(trainer.run.run_state); the Trainer (trainer.run.trainer) builds it and reports through its events."""
from __future__ import annotations

import torch

from trainer import events as ev
from trainer.run import save_policy as SP
from trainer.errors import TrainingDiverged
from trainer.run.run_state import RunState
from trainer.run.saving import epoch_file, final_file, step_file
from trainer.run.step_stats import rate_and_eta

NAN_ADVICE = ("Lower the learning rate, use mixed_precision bf16 instead of fp16 (fp16 overflows), raise "
              "network_alpha towards network_dim, or turn on min_snr_gamma.")


class TrainingLoop:
    def __init__(self, trainer, state: RunState):
        self.t, self.s, self.cfg = trainer, state, trainer.cfg

    def run(self) -> str:
        from trainer.run.data import make_loader

        s, cfg = self.s, self.cfg
        workers = 0 if s.data.latents is not None else cfg.max_data_loader_n_workers
        loader, sampler = make_loader(s.data, workers, cfg.persistent_data_loader_workers)
        try:
            while s.step < s.plan.total_steps and not s.stopped:
                sampler.epoch = s.epoch
                sampler.start = s.resumed.batch_in_epoch if s.epoch == s.resumed.epoch else 0
                s.batch_in_epoch = sampler.start
                self.train_epoch(loader)
                if not s.stopped:
                    self.end_epoch()
            final_path = self.finish()
        finally:
            if s.tb:
                s.tb.close()
        self.t.emit(ev.Finished(str(final_path), s.step, s.stopped))
        return str(final_path)

    # ------------------------------------------------------------------ an epoch
    def train_epoch(self, loader) -> None:
        s, accum = self.s, self.cfg.gradient_accumulation_steps
        acc_n = 0
        for batch in loader:
            if s.step == s.start_step:  # no optimizer step yet in this run: stopping leaves no file
                self.t._check_stop()
            self.report_skipped(batch["skipped"])
            loss = s.model.loss(batch)
            (s.scaler.scale(loss / accum) if s.scaler else loss / accum).backward()
            s.losses.add(loss)
            acc_n += 1
            s.batch_in_epoch += 1
            if acc_n < accum and s.batch_in_epoch < s.data.local_batches_per_epoch:
                continue
            acc_n = 0
            self.optimizer_step()
            if self.t.stop.is_set():
                s.stopped = True
                return
            if s.step >= s.plan.total_steps:
                return

    def optimizer_step(self) -> None:
        s, cfg = self.s, self.cfg
        if s.step == s.start_step:
            self.t._check_stop()
        self.fail_on_nan(s.losses.step(s.step + 1, s.params))  # an earlier step's loss, read when ready
        self.t.rt.all_reduce_grads(s.params)
        if s.scaler:
            s.scaler.unscale_(s.opt)
        if cfg.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(s.params, cfg.max_grad_norm)
        if s.scaler:
            s.scaler.step(s.opt)
            s.scaler.update()
        else:
            s.opt.step()
        s.sched.step()
        s.opt.zero_grad(set_to_none=True)
        s.step += 1
        extra = s.network.max_norm_report(cfg.scale_weight_norms, self.t.rt.device) if cfg.scale_weight_norms else {}
        self.report_steps(extra)
        s.watch.after_step(s.step, s.epoch, s.losses.average())
        if cfg.save_every_n_steps and s.step % cfg.save_every_n_steps == 0 and s.step < s.plan.total_steps:
            self.fail_on_nan(s.losses.drain())
            self.save(step_file(cfg.output_dir, cfg.output_name, s.step), s.epoch + 1)
            SP.remove(SP.step_removals(cfg, s.step))

    def end_epoch(self) -> None:
        s, cfg = self.s, self.cfg
        self.fail_on_nan(s.losses.drain())
        self.report_steps({})
        s.epoch += 1
        s.batch_in_epoch = 0
        if SP.saves_at_epoch(cfg, s.epoch, s.plan.epochs):
            self.save(epoch_file(cfg.output_dir, cfg.output_name, s.epoch), s.epoch)
            SP.remove(SP.epoch_removals(cfg, s.epoch, s.plan.epochs))
        s.watch.after_epoch(s.epoch, s.step, s.losses.average())
        s.stopped = self.t.stop.is_set() and s.step < s.plan.total_steps  # stopped while sampling/saving

    def finish(self):
        s, cfg = self.s, self.cfg
        self.fail_on_nan(s.losses.drain())
        self.report_steps({})
        path = self.save(final_file(cfg.output_dir, cfg.output_name),
                         s.epoch if s.stopped else min(s.epoch, s.plan.epochs), final=True)
        s.watch.finish()
        return path

    # ------------------------------------------------------------------ reports, files, failures
    def report_skipped(self, paths) -> None:
        for path in paths:
            if path not in self.s.reported_bad:
                self.s.reported_bad.add(path)
                self.t.emit(ev.Log(f"Skipped: {path}", "warning"))  # path: file and reason

    def report_steps(self, extra: dict) -> None:
        """A Step event for each step whose loss has been read (on a GPU usually one step late)."""
        from trainer.run.watch import d_times_lr

        s = self.s
        names = self.t.optim.group_names
        lrs = {name: float(lr) for name, lr in zip(names, s.sched.get_last_lr())}
        dlrs = d_times_lr(getattr(s.sched, "optimizer", None), names, self.cfg.optimizer_type)
        for step, step_loss, avg in s.losses.reports():
            rate, eta = rate_and_eta(step, s.start_step, s.plan.total_steps, s.start_time)
            self.t.emit(ev.Step(step, s.plan.total_steps, s.epoch + 1, step_loss, avg, lrs, rate, eta, extra, dlrs))
            if s.tb:
                s.tb.step(step, step_loss, avg, lrs, extra, dlrs)

    def save(self, path, epoch: int, final: bool = False):
        """Returns the path written: a final file the disk refused goes to the rescue folder (save_guard)."""
        from trainer.network.metadata import with_progress
        from trainer.run.save_guard import save_network_guarded
        from trainer.run.saving import save_state, state_dir

        t, s, cfg = self.t, self.s, self.cfg
        if t.rt.is_main:
            with s.watch.main_weights():
                written = save_network_guarded(s.network, s.base, path, t.metadata, epoch, s.step, cfg, final, t.emit)
            if written is not None:
                if written[0] == path:
                    s.watch.save_twin(s.network, s.base, path, with_progress(t.metadata, epoch=epoch, step=s.step),
                                      cfg.save_precision)
                if SP.wants_state(cfg, final) and written[0] == path:
                    progress = s.progress()
                    progress.seed = t.seed
                    problem = save_state(state_dir(path), s.network, s.opt, s.sched, progress, s.scaler)
                    if problem:
                        t.emit(ev.Log(problem, "warning"))
                    else:
                        s.watch.save_state(state_dir(path))
                path, size = written
                t.last_good = str(path)
                t.emit(ev.Saved(str(path), epoch, s.step, final, size))
        t.rt.barrier()
        return path

    def fail_on_nan(self, bad_step: int | None) -> None:
        """bad_step's loss is NaN/inf (None: all is well): keep the weights from before it in a file, stop."""
        if bad_step is None:
            return
        from trainer.run.save_guard import save_network_guarded

        t, s, cfg = self.t, self.s, self.cfg
        step = bad_step - 1
        finite = all(torch.isfinite(p).all() for p in s.network.parameters())
        if finite and t.rt.is_main and step > 0:
            written = save_network_guarded(s.network, s.base, final_file(cfg.output_dir, cfg.output_name),
                                           t.metadata, s.epoch, step, cfg, True, t.emit)
            t.last_good = str(written[0])
        msg = f"The loss became NaN or infinite at step {step + 1}; training stopped."
        t.emit(ev.Failed(msg, NAN_ADVICE, "nan", t.last_good))
        raise TrainingDiverged(msg + " " + NAN_ADVICE)
