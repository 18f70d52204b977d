"""The one TrainConfig the window's pages share, with a list of callbacks told about every change.

The Dataset page (batch size, buckets, caption extension ...) and the Training page (the whole form) both read
it and write to it, so there is one copy of the settings and one set of defaults (TrainConfig's, or the preset
or file the window started from). No Qt here: a callback list, not a signal, so the core and tests use it too.
"""
from __future__ import annotations

from typing import Any, Callable

from trainer.config.fields import FIELDS, TrainConfig
from trainer.config.files import coerce

# callback(config, changed field names, source): `source` is whoever made the change (a page ignores its own)
Listener = Callable[[TrainConfig, frozenset, Any], None]


class ConfigModel:
    def __init__(self, config: TrainConfig | None = None):
        self._config = config if config is not None else TrainConfig()
        self._listeners: list[Listener] = []

    def get(self) -> TrainConfig:
        return self._config

    def update(self, source: Any = None, **changes: Any) -> frozenset:
        """Change some fields (types checked like a TOML file's: ConfigError on a wrong one); the names that
        really changed are returned, and listeners are told only when there are some."""
        values = {name: coerce(name, value) for name, value in changes.items()}
        changed = {k: v for k, v in values.items() if getattr(self._config, k) != v}
        if not changed:
            return frozenset()
        return self._commit(self._config.replace(**changed), frozenset(changed), source)

    def set(self, config: TrainConfig, source: Any = None) -> frozenset:
        """Take a whole config (a preset, an opened file, the form after an edit); listeners get the fields
        that differ."""
        old = self._config
        changed = frozenset(n for n in FIELDS if getattr(old, n) != getattr(config, n))
        if not changed and config.accepted_only == old.accepted_only:
            return frozenset()
        return self._commit(config, changed, source)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` after every change; returns the function that stops it (safe to call twice)."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _commit(self, config: TrainConfig, changed: frozenset, source: Any) -> frozenset:
        self._config = config
        for listener in list(self._listeners):  # a listener may update or unsubscribe (itself or another)
            if listener in self._listeners:  # one that left meanwhile (a page closing) is not told
                listener(self._config, changed, source)
        return changed
