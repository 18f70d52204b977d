"""The dataset layer: pure Python (Pillow, numpy, imagehash, send2trash), no torch and no Qt.

Used by the trainer (captions per step, buckets, steps math, ``ss_tag_frequency``) and by the GUI dataset
browser (scan, caption editor, bulk edits, tag statistics, hygiene, bucket preview).

Modules, one concern each:

* :mod:`.images`   -- image extensions, full decode to upright 8-bit RGB, fast header size
* :mod:`.captions` -- caption files (read, atomic write), tag lists, sd-scripts' ``process_caption``
* :mod:`.scan`     -- ``<repeats>_<name>`` concept folders -> :class:`DatasetScan` with problems
* :mod:`.buckets`  -- sd-scripts aspect-ratio bucketing (:class:`Bucketer`) and crops
* :mod:`.plan`     -- samples, batches, steps and epochs (:func:`plan_steps`), bucket preview
* :mod:`.tags`     -- tag frequency (``ss_tag_frequency``), bulk caption edits with preview and undo
* :mod:`.hygiene`  -- orphans, duplicates, near-duplicates, small and unreadable images
"""

from .buckets import (
    BucketAssignment,
    Bucketer,
    adjust_bucket_reso,
    crop_for,
    make_bucket_resolutions,
    sdxl_crop_ltrb,
)
from .captions import (
    CaptionEncodingError,
    CaptionFile,
    add_tag,
    dedupe_tags,
    join_tags,
    move_tag,
    move_to_front,
    process_caption,
    read_caption,
    remove_tag,
    replace_tag,
    sort_tags,
    split_tags,
    training_caption,
    write_caption_atomic,
)
from .images import IMAGE_EXTENSIONS, ImageReadError, image_size, is_image_file, open_image_rgb
from .plan import BucketReport, StepPlan, assign_buckets, bucket_counts, plan_steps
from .scan import (
    Concept,
    DatasetScan,
    ImageEntry,
    Problem,
    ProblemKind,
    parse_concept_folder_name,
    samples_per_epoch,
    scan_dataset,
)
from .tags import (
    BulkPreview,
    BulkResult,
    CaptionChange,
    apply_bulk,
    entries_with_tag,
    overall_tag_frequency,
    preview_bulk,
    tag_frequency,
    tag_frequency_json,
)

__all__ = [
    "IMAGE_EXTENSIONS", "ImageReadError", "image_size", "is_image_file", "open_image_rgb",
    "CaptionEncodingError", "CaptionFile", "read_caption", "write_caption_atomic", "training_caption",
    "split_tags", "join_tags", "add_tag", "remove_tag", "replace_tag", "dedupe_tags", "sort_tags",
    "move_to_front", "move_tag", "process_caption",
    "Concept", "DatasetScan", "ImageEntry", "Problem", "ProblemKind", "parse_concept_folder_name",
    "samples_per_epoch", "scan_dataset",
    "BucketAssignment", "Bucketer", "adjust_bucket_reso", "crop_for", "make_bucket_resolutions",
    "sdxl_crop_ltrb",
    "BucketReport", "StepPlan", "assign_buckets", "bucket_counts", "plan_steps",
    "BulkPreview", "BulkResult", "CaptionChange", "apply_bulk", "entries_with_tag", "overall_tag_frequency",
    "preview_bulk", "tag_frequency", "tag_frequency_json",
    "HygieneReport", "check_dataset", "delete_orphans", "find_orphan_captions",
]

_HYGIENE = {"HygieneReport", "check_dataset", "delete_orphans", "find_orphan_captions"}


def __getattr__(name: str):
    """The hygiene names are imported when first asked for: hygiene pulls numpy and imagehash, which the
    settings checks (trainer.config.validate -> dataset.checks) and a starting window do not need."""
    if name in _HYGIENE:
        from . import hygiene

        return getattr(hygiene, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

