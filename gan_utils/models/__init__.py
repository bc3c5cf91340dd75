"""Model builders: MLP, DCGAN and conditional generators and discriminators, and the custom layers.

Every builder returns a plain functional ``keras.Model``: generators map z float32
[B, latent_dim] (and labels, if conditional) to images float32 [B, H, W, C] in
[-1, 1]; discriminators map images to one logit per image, [B, 1]. The image-to-image
builders (``image_to_image``) map images to images, and ``[image, input]`` to a logit per patch.
"""

from .common import check_bools, check_count, check_image_shape, check_positive, check_widths, spectral
from .conditional import build_conditional_discriminator, build_conditional_generator, label_embedding_walk
from .dcgan import NORMS, build_dcgan_discriminator, build_dcgan_generator, upsampling_plan
from .image_to_image import build_patchgan_discriminator, build_unet_generator, patch_receptive_field
from .layers import CategoricalCode, MinibatchStdDev, SpectralNorm, latent_codes
from .mlp import build_mlp_discriminator, build_mlp_generator, mlp_discriminator_head

__all__ = ["NORMS", "CategoricalCode", "MinibatchStdDev", "SpectralNorm", "build_conditional_discriminator",
           "build_conditional_generator", "build_dcgan_discriminator", "build_dcgan_generator",
           "build_mlp_discriminator", "build_mlp_generator", "build_patchgan_discriminator", "build_unet_generator",
           "check_bools", "check_count", "check_image_shape", "check_positive", "check_widths", "label_embedding_walk",
           "latent_codes", "mlp_discriminator_head", "patch_receptive_field", "spectral", "upsampling_plan"]
