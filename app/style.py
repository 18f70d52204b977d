"""The app's small style sheet: chips, banners, titles. Colours work on light and dark palettes."""

STYLE = """
QFrame#tagChip { background: #e3ecfb; border: 1px solid #9db7e8; border-radius: 11px; }
QFrame#tagChip[kept="true"] { background: #fdf0d5; border-color: #e0b44c; }
QFrame#tagChip QLabel { color: #1d2b45; }
QFrame#tagChip QToolButton { border: none; padding: 0 2px; color: #4a5a78; }
QLabel#sectionTitle { font-weight: bold; font-size: 11pt; }
QLabel#subTitle { font-weight: bold; color: #555; margin-top: 4px; }
QLabel#unsaved { color: #d35400; font-weight: bold; }
QLabel#hint { color: #666; }
QLabel#warning { background: #fff4d6; border: 1px solid #e6c36a; border-radius: 4px; padding: 4px; color: #5b4500; }
QLabel#errorBanner { background: #fde2e1; border: 1px solid #e08b87; border-radius: 4px; padding: 6px; color: #611; }
QFrame#conflictBar { background: #fde2e1; border: 1px solid #e08b87; border-radius: 4px; }
QFrame#totalsBar { background: #eef3ea; border: 1px solid #b9cdb0; border-radius: 4px; }
QLabel#totals { font-size: 10pt; }
QLabel#placeholderTitle { font-size: 18pt; font-weight: bold; color: #444; }
QLabel#placeholderText { font-size: 11pt; color: #555; }
QLabel#pathLabel { color: #333; }
QLabel#placeholderHint { color: #777; font-style: italic; padding: 12px; }
QLabel#toolStatus { color: #333; }
QProgressBar { border: 1px solid #9a9a9a; border-radius: 3px; background: #e9e9e9; text-align: center;
               min-height: 18px; }
QProgressBar::chunk { background: #6b9be8; border-radius: 2px; }
QGroupBox { font-weight: bold; border: 1px solid #c8c8c8; border-radius: 4px; margin-top: 10px; padding-top: 6px; }
QGroupBox::title { subcontrol-origin: margin; left: 8px; padding: 0 4px; }
"""
