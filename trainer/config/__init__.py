"""The settings of a run: the fields (kohya-ss names and their metadata), reading and writing them (TOML, kohya_ss GUI files, presets), checking them, and the resolved run plan. No torch, no Qt."""
