"""Pieces every page uses: file fields, layouts, the GPU banner, numbers, the background worker."""
