"""Panels for the Tools page: check, resize and merge here, the sample grid in widgets/tools/sample_panel.py; each runs
its ``trainer.tools`` function in a worker thread with a progress bar and a Stop button (widgets/tools/tool_panel.py).

No torch at module level: the trainer functions are imported inside the worker calls.

    panels = ToolsPanels()            # a QTabWidget with the four panels
    panels.set_lora_files([...])      # offer a training run's saved files in every LoRA field
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox, QTabWidget

from app.core_text import tr_core
from app.i18n import tr
from app.numbers import trf

from widgets.common.file_inputs import LORA_FILTER, MODEL_FILTER, FileField, FileList
from widgets.tools.sample_panel import SamplePanel
from widgets.tools.tool_panel import ToolPanel, make_table, need



def lora_hint() -> str:
    return tr("A .safetensors LoRA file (Browse, or drop one here)")


class CheckPanel(ToolPanel):

    def __init__(self, parent=None):
        super().__init__(parent)
        self.form_box.setTitle(tr("Check a LoRA file: zeroed tensors, names the UIs ignore, missing modules, metadata"))
        self.file = FileField(LORA_FILTER)
        self.file.edit.setPlaceholderText(lora_hint())
        self.base = FileField(MODEL_FILTER)
        self.base.edit.setPlaceholderText(tr("Only to check the names against a particular checkpoint"))
        self.eps = QLineEdit("1e-8")
        self.form.addRow(tr("LoRA file"), self.file)
        self.form.addRow(tr("Base model (optional)"), self.base)
        self.form.addRow(tr("Near-zero below"), self.eps)
        self.summary = make_table()
        self.summary.horizontalHeader().setVisible(False)
        self.findings = make_table()  # every zero / near-zero tensor, by block (trainer/tools/zeros.py)
        self.table = make_table()
        self.add_result(tr("Summary"), tr("The verdict, the problems found and the file's training settings "
                                          "(from its metadata) will appear here."), self.summary, 1)
        self.add_result(tr("Zero tensors"), tr("Every zero or near-zero tensor, grouped by block; the clip-skip "
                                               "pattern is marked as expected."), self.findings, 1)
        self.add_result(tr("Modules"), tr("One row per module: kind, rank, alpha and the size of its weights "
                                          "and of its change to the model."), self.table, 1)

    def job(self):
        path, base = need(self.file.path(), tr("a LoRA file")), self.base.path() or None
        eps = float(self.eps.text() or "1e-8")

        def run(on_progress, stop):
            from trainer.tools.check import check_lora

            return check_lora(path, eps=eps, sd_model=base, on_progress=on_progress, stop=stop)

        return run

    def show_result(self, r):
        rows = [(tr("Verdict"), tr("Healthy.") if r.healthy else tr("{n} problem(s) found.").format(
            n=len(r.problems)))]
        rows += [(tr("Problem"), tr_core(p)) for p in r.problems]
        rows += [(tr("Note"), tr_core(n)) for n in r.notes]
        rows += [(tr_core(k), v) for k, v in r.metadata.items()]  # the metadata summary's labels
        self.fill_table(self.summary, [tr("what"), tr("value")], rows)
        status = rows[0][1]
        expected = sum(1 for f in r.findings if f.expected)
        if expected:
            status += " " + tr("{n} module(s) of text-encoder layers that training does not read are zero, as "
                               "expected (clip skip).").format(n=expected)
        self.status.setText(status)
        words = (("text encoder", tr("text encoder")), ("layer", tr("layer")))
        states = {"zero": tr("zero"), "near zero": tr("near zero")}
        self.fill_table(self.findings, [tr("block"), tr("module"), tr("zero tensors"), tr("state"), tr("expected")],
                        [(_words(block, words), mod, tensors, states.get(state, state), tr("yes") if exp else tr("no"))
                         for block, mod, tensors, state, exp in r.findings_table()])
        self.fill_table(self.table, [tr("module"), tr("kind"), tr("rank"), tr("alpha"), "|up|", "|down|",
                                     tr("|change|")], r.table())


def _words(text: str, pairs) -> str:
    for en, local in pairs:
        text = text.replace(en, local)
    return text


class ResizePanel(ToolPanel):

    def __init__(self, parent=None):
        super().__init__(parent)
        self.form_box.setTitle(tr("Resize a LoRA file to a lower rank (SVD), fixed or chosen per module"))
        self.file, self.out = FileField(LORA_FILTER), FileField(LORA_FILTER, save=True)
        self.file.edit.setPlaceholderText(lora_hint())
        self.out.edit.setPlaceholderText(tr("Empty: next to the input, named <name>-r<rank>.safetensors"))
        self.rank = QSpinBox()
        self.rank.setRange(1, 1024)
        self.rank.setValue(32)
        self.method = QComboBox()
        self.method.addItems(["fixed", "sv_fro", "sv_ratio", "sv_cumulative"])
        self.param = QDoubleSpinBox()
        self.param.setDecimals(3)
        self.param.setRange(0.0, 1000.0)
        self.param.setValue(0.9)
        self.precision = QComboBox()
        self.precision.addItems(["as input", "fp16", "bf16", "fp32"])
        for label, w in [(tr("LoRA file"), self.file), (tr("Save to"), self.out), (tr("Rank (maximum)"), self.rank),
                         (tr("Dynamic method"), self.method), (tr("Dynamic parameter"), self.param),
                         (tr("Save precision"), self.precision)]:
            self.form.addRow(label, w)
        self.table = make_table()
        self.add_result(tr("Ranks per module"), tr("After resizing: each module's old and new rank and how much "
                                                   "of its weight (Frobenius norm) the new rank keeps."), self.table)

    def job(self):
        src = need(self.file.path(), tr("a LoRA file"))
        out = self.out.path() or str(Path(src).with_name(Path(src).stem + f"-r{self.rank.value()}.safetensors"))
        method = None if self.method.currentText() == "fixed" else self.method.currentText()
        param = self.param.value() if method else None
        prec = None if self.precision.currentIndex() == 0 else self.precision.currentText()
        rank = self.rank.value()

        def run(on_progress, stop):
            from trainer.tools.resize import resize_lora

            return resize_lora(src, out, rank, dynamic_method=method, dynamic_param=param, save_precision=prec,
                               on_progress=on_progress, stop=stop)

        return run

    def show_result(self, r):
        self.status.setText(trf("Saved {path}; norm kept: average {avg:.2f} %, lowest {low:.2f} %.",
                                path=r.path, avg=100 * r.average_fro_kept, low=100 * r.min_fro_kept)
                            + "".join("\n" + tr_core(w) for w in r.warnings))
        self.fill_table(self.table, [tr("module"), tr("old rank"), tr("new rank"), tr("norm kept %")], r.table())


class MergePanel(ToolPanel):

    def __init__(self, parent=None):
        super().__init__(parent)
        self.form_box.setTitle(tr("Merge LoRA files into one LoRA, or into a base model"))
        self.base = FileField(MODEL_FILTER)
        self.base.edit.setPlaceholderText(tr("Empty: the LoRA files are merged into one LoRA file"))
        self.loras = FileList()
        self.ratios = QLineEdit("1.0")
        self.ratios.setPlaceholderText(tr("e.g. 0.7 0.3"))
        self.out = FileField(MODEL_FILTER, save=True)
        self.out.edit.setPlaceholderText(tr("The merged file to write (never one of the inputs)"))
        self.precision = QComboBox()
        self.precision.addItems(["as input", "fp16", "bf16", "fp32"])
        self.new_rank = QSpinBox()
        self.new_rank.setRange(0, 1024)
        self.new_rank.setSpecialValueText(tr("stack the ranks"))
        self.new_rank.setToolTip(tr("Merging into one LoRA: 0 stacks the files' ranks (exact); a rank reduces "
                                    "the sum to it by SVD (needed for LoHa and LoKr files)"))
        self.form.addRow(tr("Base model (empty: merge into one LoRA)"), self.base)
        self.form.addRow(tr("LoRA files"), self.loras)
        self.form.addRow(tr("Ratios (one per file)"), self.ratios)
        self.form.addRow(tr("New rank (one LoRA)"), self.new_rank)
        self.form.addRow(tr("Save to"), self.out)
        self.form.addRow(tr("Save precision"), self.precision)
        self.table = make_table()
        self.table.horizontalHeader().setVisible(False)
        self.add_result(tr("Merged file"), tr("The saved file, its size and the number of tensors the merge "
                                              "changed will appear here."), self.table)

    def job(self):
        loras = self.loras.paths()
        if not loras:
            raise ValueError(tr("Add at least one LoRA file."))
        ratios = [float(x) for x in self.ratios.text().replace(",", " ").split()]
        out = need(self.out.path(), tr("where to save"))
        base = self.base.path() or None
        prec = None if self.precision.currentIndex() == 0 else self.precision.currentText()
        new_rank = self.new_rank.value() or None
        if base and new_rank:
            raise ValueError(tr("A new rank is for merging into one LoRA: clear the base model or set the rank to 0."))

        def run(on_progress, stop):
            from trainer.tools.merge import merge_into_checkpoint, merge_loras

            if base:
                return merge_into_checkpoint(base, loras, ratios, out, save_precision=prec, on_progress=on_progress,
                                             stop=stop)
            return merge_loras(loras, ratios, out, new_rank=new_rank, save_precision=prec, on_progress=on_progress,
                               stop=stop)

        return run

    def show_result(self, r):
        self.status.setText(trf("Saved {path} ({mb:.1f} MB, {n} tensors changed).", path=r.path,
                                mb=r.bytes / 1e6, n=r.tensors_changed))
        rows = [(tr("File"), str(r.path)), (tr("Size, MB"), round(r.bytes / 1e6, 1)),
                (tr("Tensors changed"), r.tensors_changed)]
        self.fill_table(self.table, [tr("what"), tr("value")], rows)


class ToolsPanels(QTabWidget):
    """The four panels as tabs."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.check, self.resize_panel, self.merge, self.sample = CheckPanel(), ResizePanel(), MergePanel(), SamplePanel()
        for p, title in ((self.check, tr("Check")), (self.resize_panel, tr("Resize")), (self.merge, tr("Merge")),
                         (self.sample, tr("Sample grid"))):
            self.addTab(p, title)
        # the sample grid panel (widgets/tools/sample_panel.py) gets the same title and placeholder as the others
        self.sample.form_box.setTitle(tr("Sample grid: images of LoRA files at several weights and seeds"))
        if not self.sample.view.pixmap() or self.sample.view.pixmap().isNull():
            self.sample.view.setText(tr("The grid will appear here: one row per LoRA file, one column per weight "
                                        "and seed. Click a cell to see it large."))
            self.sample.view.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.sample.view.setWordWrap(True)

    def set_lora_files(self, paths) -> None:
        """Offer a training run's saved files: the last one in the single-file fields, all in the lists."""
        paths = [str(p) for p in paths]
        if not paths:
            return
        self.check.file.set_path(paths[-1])
        self.resize_panel.file.set_path(paths[-1])
        self.sample.loras.set_paths(paths)
