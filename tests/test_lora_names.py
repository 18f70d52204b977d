"""LoRA module names in files: sd-scripts' spellings for SD 1.x text encoders and the full-size SDXL UNet."""
import torch

from trainer.models.lora_names import SdxlRenamer
from trainer.network.naming import te_name_to_kohya, uses_both_unet_spellings

SDXL_UNET = dict(
    sample_size=128, block_out_channels=(320, 640, 1280), layers_per_block=2,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    transformer_layers_per_block=[1, 2, 10], attention_head_dim=[5, 10, 20], cross_attention_dim=2048,
    use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=2816)


def test_full_size_sdxl_unet_names_are_original_layout():
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        unet = UNet2DConditionModel(**SDXL_UNET)
    to_orig = SdxlRenamer(unet, to_original=True)
    cases = {
        "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q":
            "lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q",
        "lora_unet_down_blocks_2_attentions_1_transformer_blocks_9_ff_net_2":
            "lora_unet_input_blocks_8_1_transformer_blocks_9_ff_net_2",
        "lora_unet_mid_block_attentions_0_proj_in": "lora_unet_middle_block_1_proj_in",
        "lora_unet_up_blocks_0_upsamplers_0_conv": "lora_unet_output_blocks_2_2_conv",
        "lora_unet_up_blocks_1_upsamplers_0_conv": "lora_unet_output_blocks_5_2_conv",
        "lora_unet_down_blocks_0_resnets_1_conv2": "lora_unet_input_blocks_2_0_out_layers_3",
        "lora_unet_down_blocks_0_downsamplers_0_conv": "lora_unet_input_blocks_3_0_op",
        "lora_unet_up_blocks_2_resnets_2_conv_shortcut": "lora_unet_output_blocks_8_0_skip_connection",
    }
    for diffusers_name, original in cases.items():
        assert to_orig(diffusers_name) == original
    back = SdxlRenamer(unet, to_original=False)
    assert all(back(o) == d for d, o in cases.items())
    assert to_orig("lora_te1_text_model_encoder_layers_0_mlp_fc1") == "lora_te1_text_model_encoder_layers_0_mlp_fc1"


def test_text_encoder_names_from_transformers_5_are_renamed():
    assert te_name_to_kohya("lora_te_encoder_layers_0_self_attn_q_proj") == \
        "lora_te_text_model_encoder_layers_0_self_attn_q_proj"
    assert te_name_to_kohya("lora_te2_encoder_layers_3_mlp_fc1") == "lora_te2_text_model_encoder_layers_3_mlp_fc1"
    kohya = "lora_te_text_model_encoder_layers_0_self_attn_q_proj"
    assert te_name_to_kohya(kohya) == kohya


def test_mixed_unet_spellings_are_detected():
    assert uses_both_unet_spellings(["lora_unet_input_blocks_1_1_proj_in.alpha", "lora_unet_down_blocks_0_x.alpha"])
    assert not uses_both_unet_spellings(["lora_unet_down_blocks_0_x.alpha"])
