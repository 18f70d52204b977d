"""Validation loss with sd-scripts' settings: which images are held out (``split``) and the loss on them at
fixed noise and timesteps (``loss``)."""
