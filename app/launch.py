"""Starting the desktop app: ``python main.py [--dataset DIR] [--config_file X] [--lang en|ru]``, or
``--screenshot FILE.png [--page dataset|training|tools]`` to render the window offscreen at 1280x800, save it
and exit (the README's pictures are made this way).

Nothing here imports torch, diffusers or transformers: the window appears first; the dataset layer (numpy,
Pillow) loads right after it is shown.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

SCREENSHOT_SIZE = (1280, 800)


def parse_args(argv: list[str]) -> argparse.Namespace:
    from trainer.cli.commands import commands_help

    p = argparse.ArgumentParser(prog="main.py", formatter_class=argparse.RawDescriptionHelpFormatter,
                                usage="python main.py [window options]  |  python main.py <command> ...",
                                description="LoRA Desk: without a command, the desktop app opens (options "
                                            "below); with one, it runs headless.", epilog=commands_help())
    p.add_argument("--dataset", metavar="DIR", help="training folder to open (concept folders like 6_maid)")
    p.add_argument("--config_file", metavar="X", help="a kohya-style TOML config (dataset fields are used)")
    p.add_argument("--lang", choices=("en", "ru"), help="interface language (remembered)")
    p.add_argument("--screenshot", metavar="FILE.png", help="render the window offscreen, save it and exit")
    p.add_argument("--page", choices=("dataset", "training", "tools"), default=None,
                   help="page to show (with --screenshot)")
    p.add_argument("--panel", choices=("tags", "hygiene", "buckets"), default=None,
                   help="dataset tab to show under the grid (with --screenshot; hygiene runs the full check)")
    p.add_argument("--select", type=int, default=0, metavar="N", help="select the N-th image (with --screenshot)")
    return p.parse_args(argv)


def wait_until(app, done, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.processEvents()
        if done():
            return True
        time.sleep(0.01)
    return False


def _set_icon(app) -> None:
    from PySide6.QtGui import QIcon

    from trainer.resources import resource_path

    icon = QIcon()
    for name in ("lora_desk_48.png", "lora_desk.png"):
        icon.addFile(str(resource_path("icons", name)))
    app.setWindowIcon(icon)
    app.setDesktopFileName("lora-desk")  # matches packaging/lora-desk.desktop (taskbar icon on Linux)


def run_app(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.screenshot and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from . import i18n
    from .settings import make_settings
    from .style import STYLE

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "lora-desk"])
    app.setApplicationName("LoRA Desk")
    app.setOrganizationName("LoRA Desk")
    app.setStyleSheet(STYLE)
    _set_icon(app)
    if not args.screenshot:
        from . import crash

        crash.install()  # an uncaught error: a log in the user's data folder and a message box with its path
    settings = make_settings()
    lang = args.lang or str(settings.value("ui/language", "en"))
    i18n.set_language(lang)
    persist = not args.screenshot
    if args.lang and persist:
        settings.setValue("ui/language", args.lang)

    config, config_error = None, None
    if args.config_file:
        try:
            from trainer.config.files import load_toml

            config = load_toml(args.config_file)
        except Exception as e:  # ConfigError sentence
            config_error = str(e)
            print(f"error: {e}", file=sys.stderr)

    from .main_window import MainWindow

    win = MainWindow(settings, config, persist=persist, deferred=True)
    if config is not None:
        win.set_config_path(args.config_file)
    if args.screenshot:
        win.resize(*SCREENSHOT_SIZE)
    if args.page:
        win.show_page(args.page)
    elif persist:
        win._pending_page = int(settings.value("window/page", 0) or 0) % 3
        win.tabs.setCurrentIndex(win._pending_page)
    win.show()
    if config_error:
        win.statusBar().showMessage(config_error, 30000)

    # a dataset config the run trains from is what the Dataset page shows, else the training folder
    named = (config.dataset_config or config.train_data_dir) if config is not None else ""
    dataset = args.dataset or named or None
    if dataset and config is not None and args.config_file and not Path(dataset).is_absolute() \
            and not Path(dataset).exists():
        dataset = str(Path(args.config_file).parent / dataset)
    if dataset is None and persist:
        last = settings.value("dataset/last")
        if last and Path(str(last)).exists():  # a folder, or a dataset config file
            dataset = str(last)

    quit_after = os.environ.get("LORA_DESK_QUIT_AFTER_SHOW")  # bench/startup.py
    if quit_after == "shown":  # the window is on screen (its pages are built on the next turn)
        QTimer.singleShot(0, app.quit)
        return app.exec()
    QTimer.singleShot(0, win.finish_build)  # pages and menus, right after the window is on screen
    if quit_after:  # "built": pages and menus too
        QTimer.singleShot(0, app.quit)
        return app.exec()

    if dataset:
        win.open_dataset(dataset)  # queued until the pages exist

    if not args.screenshot:
        return app.exec()
    return _screenshot(app, win, args, dataset)


def _screenshot(app, win, args, dataset) -> int:
    wait_until(app, lambda: win.built, 10)
    training = getattr(win, "training_page", None)
    if args.page == "training" and hasattr(training, "settle"):  # the learning-rate preview is drawn
        warmup = getattr(win, "warmup", None)
        if warmup is not None:  # no idle wait here: load the training libraries now, then draw the curve
            warmup.start_now()
            wait_until(app, lambda: warmup.done, 180)
        wait_until(app, lambda: False, 0.3)
        wait_until(app, training.settle, 120)
    page = win.dataset_page
    if dataset:
        wait_until(app, lambda: page.root is not None, 5)
        wait_until(app, lambda: not page.is_loading(), 30)
        if page.scan is not None and args.select and page.model.rowCount():
            page.view.setCurrentIndex(page.model.index(min(args.select, page.model.rowCount() - 1)))
        if args.panel:
            tab = {"tags": page.tag_stats, "hygiene": page.hygiene, "buckets": page.buckets}[args.panel]
            page.tabs.setCurrentWidget(tab)
            if args.panel == "hygiene":
                page.hygiene.run_check()
                wait_until(app, lambda: not page.hygiene.is_running(), 60)
        wait_until(app, lambda: page.model.loader.pending() == 0 and not page.is_loading(), 30)
        wait_until(app, lambda: False, 0.3)  # let previews and thumbnails paint
    else:
        wait_until(app, lambda: False, 0.2)
    out = Path(args.screenshot)
    out.parent.mkdir(parents=True, exist_ok=True)
    ok = win.grab().save(str(out))
    win.persist = False
    win.close()
    if not ok:
        print(f"error: could not write {out}", file=sys.stderr)
        return 1
    print(f"saved {out}")
    return 0
