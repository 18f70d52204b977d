"""Errors a user can act on. Their message is one clear sentence shown as-is (CLI line, GUI dialog)."""


class UserError(Exception):
    """Bad input from the user (file, folder, setting). The message names the file or setting and what is wrong."""


class ModelError(UserError):
    """A checkpoint, VAE or LoRA file that cannot be used."""


class DatasetError(UserError):
    """A training folder that cannot be used at all (single bad images are reported, not raised)."""


class ConfigError(UserError):
    """An unknown, mistyped or contradictory setting."""


class TrainingDiverged(UserError):
    """The loss became NaN or infinite; already reported (as a Failed event) with advice and the last good file."""
