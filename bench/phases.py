"""Where the time before the first training step goes: wraps the Trainer's set-up functions with timers.

    from phases import PhaseTimer
    with PhaseTimer() as t:           # installs the timers, removes them on exit
        Trainer(cfg).run()
    t.phases  # {"read checkpoint": s, "build modules": s, ...} in the order they ran

Phases: dataset scan, read checkpoint, build modules, move to device, cache latents, cache text outputs,
network and optimizer, first step (from the end of set-up to the end of the first optimizer step, the GPU
waited for). Time in between (validation, metadata, the data loader's start) is "other". The caller adds
"imports" (process start to Trainer.run()) where it knows it. A bench-only tool: the trainer is unchanged.
"""
from __future__ import annotations

import time


def process_age() -> float:
    """Seconds since this process was started (Linux /proc; psutil elsewhere)."""
    try:
        import os

        ticks = os.sysconf("SC_CLK_TCK")
        with open("/proc/self/stat") as f:
            start = int(f.read().rsplit(")", 1)[1].split()[19]) / ticks
        with open("/proc/uptime") as f:
            return float(f.read().split()[0]) - start
    except (OSError, ValueError, IndexError):
        import psutil

        return time.time() - psutil.Process().create_time()


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


class PhaseTimer:
    def __init__(self, stop_after_first_step: bool = False):
        self.stop_after_first_step = stop_after_first_step  # set the run's stop Event then (it saves and ends)
        self.phases: dict[str, float] = {}
        self.cpu: dict[str, float] = {}  # the same phases in CPU seconds of this process (all threads)
        self._undo = []
        self.started = None  # perf_counter at Trainer.run()
        self.age_at_run = None  # seconds from process start to Trainer.run(): the imports
        self.cpu_at_run = None  # the same in CPU seconds
        self._setup_done = None
        self._first_step_done = False

    def _add(self, name: str, seconds: float, cpu: float = 0.0) -> None:
        self.phases[name] = self.phases.get(name, 0.0) + seconds
        self.cpu[name] = self.cpu.get(name, 0.0) + cpu

    def _wrap(self, owner, attr: str, name: str, sync: bool = True) -> None:
        orig = getattr(owner, attr)

        def timed(*a, **k):
            t, c = time.perf_counter(), time.process_time()
            try:
                return orig(*a, **k)
            finally:
                if sync:
                    _sync()
                self._add(name, time.perf_counter() - t, time.process_time() - c)

        setattr(owner, attr, timed)
        self._undo.append((owner, attr, orig))

    def __enter__(self):
        from trainer.run import setup
        from trainer.run.loop import TrainingLoop
        from trainer.models import loader
        from trainer.run.trainer import Trainer

        run, optimizer_step, optimization = Trainer.run, TrainingLoop.optimizer_step, setup.optimization

        def run_timed(trainer, *a, **k):
            self.started, self.age_at_run = time.perf_counter(), process_age()
            self.cpu_at_run = self._cpu0 = time.process_time()
            return run(trainer, *a, **k)

        def optimization_timed(*a, **k):
            t, c = time.perf_counter(), time.process_time()
            out = optimization(*a, **k)
            self._setup_done, self._setup_cpu = time.perf_counter(), time.process_time()
            self._add("network and optimizer", self._setup_done - t, self._setup_cpu - c)
            return out

        def step_timed(loop, *a, **k):
            out = optimizer_step(loop, *a, **k)
            if not self._first_step_done and self._setup_done is not None:
                _sync()
                self._first_step_done = True
                self._add("first step", time.perf_counter() - self._setup_done, time.process_time() - self._setup_cpu)
                self._add("other", (time.perf_counter() - self.started) - sum(self.phases.values()),
                          (time.process_time() - self._cpu0) - sum(self.cpu.values()))
                if self.stop_after_first_step:
                    loop.t.stop.set()
            return out

        for owner, attr, new in ((Trainer, "run", run_timed), (TrainingLoop, "optimizer_step", step_timed),
                                 (setup, "optimization", optimization_timed)):
            self._undo.append((owner, attr, getattr(owner, attr)))
            setattr(owner, attr, new)
        self._wrap(Trainer, "_scan", "dataset scan", sync=False)
        self._wrap(loader, "read_state_dict", "read checkpoint", sync=False)
        load = loader.load_base_model

        def load_timed(*a, **k):  # everything of the model load but reading the file: convert and build
            t, c = time.perf_counter(), time.process_time()
            read, read_cpu = self.phases.get("read checkpoint", 0.0), self.cpu.get("read checkpoint", 0.0)
            try:
                return load(*a, **k)
            finally:
                self._add("build modules", time.perf_counter() - t - (self.phases.get("read checkpoint", 0.0) - read),
                          time.process_time() - c - (self.cpu.get("read checkpoint", 0.0) - read_cpu))

        self._undo.append((loader, "load_base_model", load))
        loader.load_base_model = load_timed
        self._wrap(setup, "prepare_models", "move to device")
        self._wrap(setup, "cache_latents_into", "cache latents")
        self._wrap(setup, "cache_text_into", "cache text outputs")
        self._wrap(setup, "trained_network", "network and optimizer")
        return self

    def __exit__(self, *exc):
        for owner, attr, orig in reversed(self._undo):
            setattr(owner, attr, orig)

    def to_first_step(self) -> float:
        return sum(self.phases.values())

    def describe(self, imports: float | None = None) -> str:
        items = ([("imports", imports)] if imports is not None else []) + list(self.phases.items())
        total = sum(v for _, v in items)
        return ", ".join(f"{k} {v:.2f}" for k, v in items) + f" = {total:.2f} s"
