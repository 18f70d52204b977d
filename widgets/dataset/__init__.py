"""The Dataset page: the browser, the caption editor, bulk edits, hygiene, buckets, auto-tagging."""
