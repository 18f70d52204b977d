"""Auto-tagging with a WD14-style ONNX tagger the user has on disk (model.onnx + selected_tags.csv).

No Qt here: the command line (``python main.py tag``) and the Dataset page's dialog both call
:func:`run.tag_images`, which returns the caption changes as a :class:`trainer.dataset.tags.BulkPreview`;
writing them is :func:`trainer.dataset.tags.apply_bulk` (atomic, one undo step in the app). Nothing is
downloaded: the user picks the files.
"""
