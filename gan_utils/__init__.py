"""gan_utils: the tested helper package behind the gan-notebooks tutorials.

Importing it is cheap and silent: TensorFlow is only loaded when a name that
needs it is first used. The public API is re-exported here, e.g.
``gan_utils.GAN``, ``gan_utils.load_mnist``, ``gan_utils.train``.
"""

from __future__ import annotations

import importlib
import os

from .config import artifacts_dir, device_report, is_quick, pick, project_root, set_seed

__version__ = "0.2.0"

# Quieten TensorFlow's C++ start-up logging unless the user chose a level.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_LAZY = {
    "data": ["DatasetError", "load_dataset", "load_fashion_mnist", "load_mnist", "labelled_subset",
             "make_dataset", "to_float_images", "to_uint8_images"],
    "models": ["build_dcgan_discriminator", "build_dcgan_generator", "build_mlp_discriminator", "build_mlp_generator",
               "build_conditional_discriminator", "build_conditional_generator", "label_embedding_walk",
               "CategoricalCode", "MinibatchStdDev", "SpectralNorm", "latent_codes"],
    "gans.losses": ["critic_loss_wasserstein", "discriminator_loss", "feature_matching_loss", "generator_loss_minimax",
                    "generator_loss_non_saturating", "generator_loss_wasserstein", "gradient_penalty"],
    "gans.gan": ["GAN"],
    "gans.remedies": ["FeatureMatchingGAN", "InstanceNoiseGAN"],
    "gans.infogan": ["InfoGAN", "InfoWGANGP", "code_grid_images", "set_code"],
    "gans.wgan_gp": ["WGANGP", "WassersteinMonitor", "critic_gradient_norms"],
    "toy": ["RingMonitor", "build_toy_discriminator", "build_toy_generator", "mode_coverage", "plot_ring",
            "ring_centres", "ring_of_gaussians", "toy_dataset"],
    "training.train": ["TrainResult", "load_generator", "save_generator", "train"],
    "training.callbacks": ["RecalibrateBatchNorm", "RunState", "TrainingDivergedError"],
    "training.checkpoints": ["CheckpointError"],
    "distribute": ["make_strategy"],
    "recipes": ["RECIPES", "build_gan", "get_recipe", "train_recipe"],
    "sampling": ["balanced_labels", "class_grid_images", "generate_images", "recalibrate_batch_norm", "truncated_normal",
                 "write_samples"],
    "evaluation.diagnostics": ["health_report", "plot_health_check"],
    "evaluation.classifier": ["classifier_features", "classifier_outputs", "classifier_probs", "classifier_score",
                              "class_fractions", "kl_to_uniform", "label_accuracy", "load_classifier",
                              "score_samples"],
    "evaluation.distances": ["density_coverage", "fid", "fid_extrapolated", "frechet_distance", "kid", "memorisation",
                             "nearest_neighbours", "precision_recall"],
    "evaluation.codes": ["code_accuracy", "code_digit_counts", "code_sweep_images", "matching_accuracy",
                         "sweep_latents"],
    "evaluation.per_class": ["format_per_class", "mean_pairwise_distance", "per_class_evaluation",
                             "per_class_metrics", "uncovered"],
    "evaluation.evaluate": ["Reference", "evaluate_real_floor", "evaluate_samples", "format_table",
                            "training_minutes"],
    "interpolation": ["latent_walk", "lerp", "slerp"],
    # Image-to-image (notebook 08).
    "gans.pix2pix": ["Pix2Pix", "translate"],
    "models.image_to_image": ["build_patchgan_discriminator", "build_unet_generator"],
    "data.paired": ["make_paired_dataset"],
    "data.corruptions": ["Corruption", "Downsample", "GaussianNoise", "RandomHole"],
    "evaluation.repair": ["format_repair_table", "plot_repairs", "psnr_ssim", "repair_scores"],
    "plotting": ["make_gif", "plot_class_grid", "plot_history", "plot_image_grid", "save_image_grid", "show_gif",
                 "tile_images"],
}
# Modules reachable as attributes (gu.losses, gu.config ...), without re-exporting their names.
_SUBMODULES = {"config": "config", "io": "io", "data": "data", "models": "models", "gans": "gans",
               "training": "training", "evaluation": "evaluation", "losses": "gans.losses", "layers": "models.layers",
               "sampling": "sampling", "plotting": "plotting", "recipes": "recipes", "toy": "toy",
               "interpolation": "interpolation", "distribute": "distribute"}
_WHERE = {name: module for module, names in _LAZY.items() for name in names}

__all__ = ["artifacts_dir", "device_report", "is_quick", "pick", "project_root", "set_seed",
           *sorted(_WHERE)]


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{_SUBMODULES[name]}", __name__)
    raise AttributeError(f"module 'gan_utils' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))
