"""LoRA tools: resize, check, merge, sample grid (SPEC.md section 6).

Each tool is a plain function taking ``on_progress(done, total)`` and a ``threading.Event`` to stop where it
runs long, and returning a result object a GUI can show; ``cli.py`` wraps them as ``python main.py <tool>``.
"""
