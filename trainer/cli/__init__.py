"""The headless commands of main.py: train, demo, estimate, and their argument handling."""
