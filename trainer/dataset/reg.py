"""Regularization images: sd-scripts' repeat balancing (DreamBoothDataset in library/train_util.py).

The regularization images are repeated until they add as many samples to an epoch as the training images
do: a first pass takes each reg image with its folder's repeats (in folder, then file order) until the
count is reached, later passes add one repeat per image in turn. So with reg images an epoch holds about
twice the training samples, and reg images beyond the count are not used. Pure Python, no torch.
"""
from __future__ import annotations


def balance_reg_repeats(is_reg: list[bool], repeats: list[int]) -> list[int]:
    """Repeats per image after balancing: training images keep theirs; reg images get sd-scripts' share
    (0 for reg images that the training images' count does not reach)."""
    out = list(repeats)
    reg = [i for i, r in enumerate(is_reg) if r]
    if not reg:
        return out
    train = sum(n for r, n in zip(is_reg, repeats) if not r)
    for i in reg:
        out[i] = 0
    n, first = 0, True
    while n < train:
        for i in reg:
            if first:
                out[i] = repeats[i]
                n += repeats[i]
            else:
                out[i] += 1
                n += 1
            if n >= train:
                break
        first = False
    return out


def balanced_items(scan, report) -> list[tuple]:
    """(image entry, bucket assignment, repeats) of every usable image of a scan with its repeats after
    balancing; images left with 0 repeats (unused reg images) are dropped."""
    usable = [(e, report.assignments.get(e.path)) for e in scan.images]
    usable = [(e, a) for e, a in usable if a is not None and a.usable]
    repeats = balance_reg_repeats([e.concept.is_reg for e, _ in usable], [e.repeats for e, _ in usable])
    return [(e, a, r) for (e, a), r in zip(usable, repeats) if r > 0]


def balanced_counts(scan, report) -> dict:
    """Samples per bucket ((w, h) -> images x repeats) as the trainer will train them."""
    counts: dict = {}
    for _, a, r in balanced_items(scan, report):
        counts[a.bucket] = counts.get(a.bucket, 0) + r
    return dict(sorted(counts.items()))


def reg_summary(concepts) -> tuple[int, int]:
    """(training samples, regularization samples before balancing): sd-scripts' num_train_images and
    num_reg_images."""
    train = sum(c.samples for c in concepts if not c.is_reg)
    reg = sum(c.samples for c in concepts if c.is_reg)
    return train, reg


def concept_samples(concepts) -> list[int]:
    """Each concept's samples per epoch after balancing: sd-scripts balances the reg images of each
    [[datasets]] against that dataset's training images (a plain folder run is one dataset)."""
    out = [c.samples for c in concepts]
    for d in {c.dataset for c in concepts}:
        mine = [i for i, c in enumerate(concepts) if c.dataset == d]
        owner = [i for i in mine for _ in concepts[i].images]  # per image, in folder then file order
        repeats = balance_reg_repeats([concepts[i].is_reg for i in owner],
                                      [concepts[i].repeats for i in owner])
        for i in mine:
            out[i] = 0
        for i, r in zip(owner, repeats):
            out[i] += r
    return out


def reg_notes(concepts) -> list[str]:
    """What a user should know about the balance of each dataset (sd-scripts logs the same)."""
    notes = []
    datasets = sorted({c.dataset for c in concepts})
    for d in datasets:
        mine = [c for c in concepts if c.dataset == d]
        if not any(c.is_reg for c in mine):
            continue
        train, reg = reg_summary(mine)
        where = f" in [[datasets]] #{d + 1}" if len(datasets) > 1 else ""
        if reg == 0:
            notes.append(f"The regularization folder{where} holds no images; training goes on without them.")
        elif reg > train:
            notes.append(f"Only {train} of the {reg} regularization samples{where} are used each epoch: they "
                         f"are balanced to the {train} training samples.")
    return notes
