"""The Training page's config files and presets: open/save kohya TOML (and import LoRA_Easy_Training_Scripts /
bmaltais kohya_ss JSON), the recent-files menu, built-in and user presets. A mixin of
:class:`widgets.training.training_page.TrainingPage`, which owns the widgets used here (``recent_menu``, ``recent_btn``,
``preset_combo``) and ``settings``, ``config()``, ``set_config()``, ``status``.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from app.i18n import tr

MAX_RECENT = 8


class ConfigFilesMixin:
    # ------------------------------------------------------------------ files
    def choose_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, tr("Open config"), self._start_dir(),
                                              tr("Configs (*.toml *.json);;All files (*)"))
        if path:
            self.open_config(path)

    def open_config(self, path: str) -> bool:
        """Read a config of any supported format; unknown keys are listed to the user."""
        from trainer.config.kohya_ss import import_config, save_dataset_config
        from trainer.errors import UserError

        try:
            res = import_config(path)
            save_dataset_config(res, path)  # per-folder options of the imported folders, beside the file
        except UserError as e:
            QMessageBox.warning(self, tr("Cannot open the config"), str(e))
            return False
        self.last_import = res
        self.set_config(res.config)
        self.config_path = path if res.source_format == "kohya" and path.endswith(".toml") else None
        self._add_recent(path)
        self.status.emit(tr("Opened {path}").format(path=path))
        if res.unknown or res.source_format != "kohya":
            box = QMessageBox(QMessageBox.Icon.Information, tr("Config imported"), res.report(),
                              QMessageBox.StandardButton.Ok, self)
            box.setModal(False)
            box.open()
            self.import_dialog = box
        return True

    def choose_save(self) -> None:
        start = self.config_path or str(Path(self._start_dir()) / ((self.config().output_name or "lora") + ".toml"))
        path, _ = QFileDialog.getSaveFileName(self, tr("Save config"), start, tr("TOML config (*.toml)"))
        if path:
            if not path.endswith(".toml"):
                path += ".toml"
            self.save_config(path)

    def save_config(self, path: str) -> bool:
        from trainer.config.files import save_toml

        try:
            save_toml(self.config(), path)
        except OSError as e:
            QMessageBox.warning(self, tr("Cannot save the config"), str(e))
            return False
        self.config_path = path
        self._add_recent(path)
        self.status.emit(tr("Saved {path}").format(path=path))
        return True

    def _start_dir(self) -> str:
        if self.config_path:
            return str(Path(self.config_path).parent)
        recent = self.recent_files()
        return str(Path(recent[0]).parent) if recent else str(Path.home())

    def recent_files(self) -> list[str]:
        if self.settings is None:
            return []
        value = self.settings.value("training/recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _add_recent(self, path: str) -> None:
        if self.settings is None:
            return
        path = str(Path(path).resolve())
        items = [path] + [p for p in self.recent_files() if p != path]
        self.settings.setValue("training/recent", items[:MAX_RECENT])
        self._fill_recent()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        items = self.recent_files()
        for p in items:
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda _=False, p=p: self.open_config(p))
        self.recent_btn.setEnabled(bool(items))

    # ------------------------------------------------------------------ presets
    def _fill_presets(self) -> None:
        from trainer.config.presets import list_presets

        self.preset_combo.clear()
        self.preset_combo.addItem(tr("Apply a preset…"), None)
        for name in list_presets():
            self.preset_combo.addItem(name, name)

    def _preset_chosen(self, index: int) -> None:
        name = self.preset_combo.itemData(index)
        if name:
            self.apply_preset(name)
        self.preset_combo.setCurrentIndex(0)

    def apply_preset(self, name: str) -> None:
        from trainer.errors import UserError
        from trainer.config.presets import apply_preset

        try:
            cfg = apply_preset(self.config(), name)
        except UserError as e:
            QMessageBox.warning(self, tr("Cannot apply the preset"), str(e))
            return
        self.set_config(cfg)
        self.status.emit(tr("Preset {name} applied.").format(name=name))

    def choose_save_preset(self) -> None:
        name, ok = QInputDialog.getText(self, tr("Save as preset"), tr("Preset name:"))
        if ok and name.strip():
            self.save_preset(name.strip())

    def save_preset(self, name: str) -> str | None:
        from trainer.errors import ConfigError
        from trainer.config.presets import save_user_preset

        try:
            path = save_user_preset(self.config(), name)
        except ConfigError as e:
            QMessageBox.warning(self, tr("Cannot save the preset"), str(e))
            return None
        except FileExistsError:
            answer = QMessageBox.question(self, tr("Replace the preset?"),
                                          tr("You already have a preset named {name}. Replace it?").format(name=name))
            if answer != QMessageBox.StandardButton.Yes:
                return None
            path = save_user_preset(self.config(), name, overwrite=True)
        self._fill_presets()
        self.status.emit(tr("Preset saved to {path}").format(path=path))
        return str(path)

