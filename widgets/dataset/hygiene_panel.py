"""Dataset hygiene: what the scan found at once (images without caption, captions without image, odd folders,
caption files that are not UTF-8) and, after "Check images", what a full read of every image finds (corrupt
files, exact and near duplicates, images smaller than the training resolution). The check runs in a pool
thread (:func:`trainer.dataset.hygiene.check_dataset`) with a progress bar and Cancel. Clicking a finding
selects its image in the grid; orphan captions can be moved to the system trash (or a backup folder)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QLabel, QMessageBox, QProgressBar, QPushButton, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout, QWidget)

from app.i18n import tr

from widgets.common.worker import run_task

PATH_ROLE = Qt.ItemDataRole.UserRole + 1


def _group_titles():
    return {
        "missing_caption": tr("Images without caption (they train on the concept name)"),
        "orphan_caption": tr("Captions without image"),
        "caption": tr("Caption files to look at"),
        "folders": tr("Folders not used as they are"),
        "unreadable": tr("Unreadable or corrupt images"),
        "duplicate": tr("Exact duplicates"),
        "near_duplicate": tr("Near duplicates (perceptual hash)"),
        "small": tr("Smaller than the training resolution"),
    }


class HygienePanel(QWidget):
    imageActivated = Signal(object)  # Path of an image (or of a caption file: the page finds its image)
    datasetChanged = Signal()  # files were removed: rescan

    def __init__(self, parent=None):
        super().__init__(parent)
        self.scan = None
        self.report = None
        self.resolution = (512, 512)
        self.min_bucket_reso = 256
        self.task = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        self.run_btn = QPushButton(tr("Check images"))
        self.run_btn.setToolTip(tr("Read every image once: corrupt files, duplicates, small images"))
        self.run_btn.clicked.connect(self.run_check)
        self.cancel_btn = QPushButton(tr("Cancel"))
        self.cancel_btn.clicked.connect(self.cancel)
        self.cancel_btn.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setValue(0)
        row.addWidget(self.run_btn)
        row.addWidget(self.cancel_btn)
        row.addWidget(self.progress, 1)
        lay.addLayout(row)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels([tr("Finding"), tr("File")])
        self.tree.setColumnWidth(0, 380)
        self.tree.itemClicked.connect(self._clicked)
        lay.addWidget(self.tree, 1)
        row2 = QHBoxLayout()
        self.status = QLabel()
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        row2.addWidget(self.status, 1)
        self.use_trash = QCheckBox(tr("Use system trash"))
        self.use_trash.setChecked(True)
        self.use_trash.setToolTip(tr("Otherwise the files go to the .lora_desk_backup folder of the dataset"))
        self.delete_btn = QPushButton(tr("Remove orphan captions…"))
        self.delete_btn.clicked.connect(lambda: self.delete_orphans(confirm=True))
        self.delete_btn.setEnabled(False)
        row2.addWidget(self.use_trash)
        row2.addWidget(self.delete_btn)
        lay.addLayout(row2)

    def set_scan(self, scan, resolution=(512, 512), min_bucket_reso=256) -> None:
        self.cancel()
        self.scan, self.report = scan, None
        self.resolution, self.min_bucket_reso = tuple(resolution), min_bucket_reso
        self.progress.setValue(0)
        self.progress.setFormat(tr("not checked yet"))
        self._fill()

    def set_training_size(self, resolution, min_bucket_reso) -> None:
        self.resolution, self.min_bucket_reso = tuple(resolution), min_bucket_reso

    # ------------------------------------------------------------------ check in a worker thread
    def run_check(self) -> None:
        from trainer.dataset.hygiene import check_dataset

        if self.scan is None or self.task is not None:
            return
        self.run_btn.setEnabled(False)
        self.cancel_btn.setEnabled(True)
        total = len(self.scan.images)
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(0)
        self.progress.setFormat("%v / %m")
        scan = self.scan
        self.task = run_task(check_dataset, scan, resolution=self.resolution, min_bucket_reso=self.min_bucket_reso,
                             workers=2, on_progress=self._progress,
                             owner=self, on_done=lambda r, s=scan: self._done(s, r), on_error=self._failed)

    def is_running(self) -> bool:
        return self.task is not None

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def _progress(self, done: int, total: int) -> None:
        self.progress.setMaximum(max(1, total))
        self.progress.setValue(done)

    def _done(self, scan, report) -> None:
        self.task = None
        self.run_btn.setEnabled(True)
        self.cancel_btn.setEnabled(False)
        if scan is not self.scan:
            return
        self.report = report
        self.progress.setFormat(tr("cancelled at %v / %m") if report.cancelled else tr("checked %v images"))
        self._fill()

    def _failed(self, msg: str) -> None:
        self.task = None
        self.run_btn.setEnabled(True)
        self.cancel_btn.setEnabled(False)
        self.progress.setFormat(tr("check failed"))
        self.status.setText(msg)

    # ------------------------------------------------------------------ findings
    def findings(self) -> dict[str, list[tuple[Path, str]]]:
        """group key -> [(path, sentence)] for everything shown."""
        from trainer.dataset.scan import ProblemKind as K

        out: dict[str, list[tuple[Path, str]]] = {k: [] for k in _group_titles()}
        if self.scan is None:
            return out
        for p in self.scan.problems:
            if p.kind == K.MISSING_CAPTION:
                out["missing_caption"].append((p.path, p.message))
            elif p.kind == K.ORPHAN_CAPTION:
                out["orphan_caption"].append((p.path, p.message))
            elif p.kind in (K.CAPTION_ENCODING, K.EMPTY_CAPTION, K.MULTILINE_CAPTION):
                out["caption"].append((p.path, p.message))
            elif p.kind in (K.BAD_FOLDER_NAME, K.NESTED_FOLDER, K.LOOSE_IMAGE, K.EMPTY_CONCEPT):
                out["folders"].append((p.path, p.message))
        r = self.report
        if r is not None:
            out["unreadable"] = [(p.path, p.message) for p in r.unreadable]
            for group in r.exact_duplicates:
                out["duplicate"] += [(p, tr("Same file content as {first}").format(first=group[0].name))
                                     for p in group]
            for group in r.near_duplicates:
                out["near_duplicate"] += [(p, tr("Looks almost the same as {first}").format(first=group[0].name))
                                          for p in group]
            w, h = r.resolution
            out["small"] = [(p, tr("{iw}×{ih} is smaller than {w}×{h}; it will be enlarged and look blurry")
                             .format(iw=s[0], ih=s[1], w=w, h=h)) for p, s in r.small_images]
        return out

    def _fill(self) -> None:
        self.tree.clear()
        titles = _group_titles()
        found = self.findings()
        total = 0
        for key, items in found.items():
            if not items:
                continue
            total += len(items)
            top = QTreeWidgetItem([f"{titles[key]} — {len(items)}", ""])
            top.setData(0, Qt.ItemDataRole.UserRole, key)
            f = top.font(0)
            f.setBold(True)
            top.setFont(0, f)
            self.tree.addTopLevelItem(top)
            top.setFirstColumnSpanned(True)
            for path, msg in items[:2000]:
                child = QTreeWidgetItem([msg, self._rel(path)])
                child.setToolTip(0, msg)
                child.setData(0, PATH_ROLE, str(path))
                top.addChild(child)
            top.setExpanded(len(items) <= 50)
        self.delete_btn.setEnabled(bool(found["orphan_caption"]))
        if self.scan is None:
            self.status.setText("")
        elif total == 0:
            self.status.setText(tr("No problems found.") if self.report is not None else
                                tr("Nothing found by the scan; press \"Check images\" for a full check."))
        else:
            extra = "" if self.report is not None else " " + tr("Press \"Check images\" for a full check.")
            self.status.setText(tr("{n} findings.").format(n=total) + extra)

    def _rel(self, path: Path) -> str:
        try:
            return str(Path(path).relative_to(self.scan.root))
        except (ValueError, AttributeError):
            return str(path)

    def _clicked(self, item, _col) -> None:
        p = item.data(0, PATH_ROLE)
        if p:
            self.imageActivated.emit(Path(p))

    def delete_orphans(self, confirm: bool = True) -> None:
        from trainer.dataset.hygiene import delete_orphans

        paths = [p for p, _ in self.findings()["orphan_caption"]]
        if not paths or self.scan is None:
            return
        where = tr("the system trash") if self.use_trash.isChecked() else ".lora_desk_backup"
        if confirm:
            answer = QMessageBox.question(self, tr("Remove orphan captions"),
                                          tr("Move {n} caption files without image to {where}?")
                                          .format(n=len(paths), where=where))
            if answer != QMessageBox.StandardButton.Yes:
                return
        result = delete_orphans(paths, root=self.scan.root, use_trash=self.use_trash.isChecked())
        moved = len(result.trashed) + len(result.backed_up)
        msg = tr("{n} files moved to {where}.").format(n=moved, where=where)
        if result.backed_up and self.use_trash.isChecked():
            msg += " " + tr("(No system trash here: they went to .lora_desk_backup.)")
        if result.failed:
            msg += " " + result.failed[0].message
        self.status.setText(msg)
        self.datasetChanged.emit()
