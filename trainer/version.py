"""The app's version, in one place: ``--version``, the About box, the ``ss_lora_desk_version`` and default
``ss_training_comment`` of trained files, the bundle's name and the CHANGELOG all use this."""

__version__ = "0.1.0"
APP_VERSION = __version__
