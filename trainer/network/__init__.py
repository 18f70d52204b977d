"""What is trained: LoRA/LyCORIS networks on the UNet and text encoders, and their kohya-format files."""
