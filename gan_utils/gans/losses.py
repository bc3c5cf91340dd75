"""GAN losses, written on discriminator logits or critic scores.

Notation: for the minimax family D(x) = sigmoid(l) where l is the
discriminator's logit; a Wasserstein critic D outputs an unbounded score
instead. Every loss is a mean over the batch and is computed in float32, also
under mixed precision.

References:
    Goodfellow et al., 2014, "Generative Adversarial Nets" (minimax and
    non-saturating losses). Salimans et al., 2016, "Improved Techniques for
    Training GANs" (one-sided label smoothing). Arjovsky et al., 2017,
    "Wasserstein GAN" (critic and generator losses). Gulrajani et al., 2017,
    "Improved Training of Wasserstein GANs" (gradient penalty). Salimans et
    al., 2016 (feature matching).
"""

from __future__ import annotations

import math
import numbers

import keras
import tensorflow as tf


def _f32(x) -> tf.Tensor:
    return tf.cast(x, tf.float32)


def discriminator_loss(real_logits, fake_logits, label_smoothing: float = 0.0) -> tf.Tensor:
    """Binary cross-entropy of the discriminator, on logits.

    L_D = -E_x[t log D(x) + (1 - t) log(1 - D(x))] - E_z[log(1 - D(G(z)))]

    with target t = 1 - label_smoothing for real images (one-sided label
    smoothing; fake targets stay 0). Uses log D = -softplus(-l) and
    log(1 - D) = -softplus(l), which are exact and never overflow.

    Args:
        real_logits: float [B] or [B, 1], logits on real images.
        fake_logits: float [B] or [B, 1], logits on generated images.
        label_smoothing: in [0, 1); 0.1 gives real targets of 0.9.

    Returns:
        Scalar float32: the mean real term plus the mean fake term.
    """
    label_smoothing = check_label_smoothing(label_smoothing)
    real, fake = _f32(real_logits), _f32(fake_logits)
    target = 1.0 - float(label_smoothing)
    real_term = target * tf.nn.softplus(-real) + (1.0 - target) * tf.nn.softplus(real)
    fake_term = tf.nn.softplus(fake)
    return tf.reduce_mean(real_term) + tf.reduce_mean(fake_term)


def generator_loss_non_saturating(fake_logits) -> tf.Tensor:
    """Non-saturating generator loss: L_G = -E_z[log D(G(z))] = E[softplus(-l)].

    Its gradient with respect to the logit is -(1 - D(G(z))): large when the
    discriminator confidently rejects the fakes, which is the case early on.
    """
    return tf.reduce_mean(tf.nn.softplus(-_f32(fake_logits)))


def generator_loss_minimax(fake_logits) -> tf.Tensor:
    """Minimax (saturating) generator loss: L_G = E_z[log(1 - D(G(z)))] = -E[softplus(l)].

    The generator minimises this, i.e. it plays the original minimax game. Its
    gradient with respect to the logit is -D(G(z)): close to 0 when the
    discriminator confidently rejects the fakes, so learning stalls early.
    """
    return -tf.reduce_mean(tf.nn.softplus(_f32(fake_logits)))


def critic_loss_wasserstein(real_scores, fake_scores) -> tf.Tensor:
    """Wasserstein critic loss (Arjovsky et al., 2017): L_D = E_z[D(G(z))] - E_x[D(x)].

    The critic minimises it, i.e. it maximises E_x[D(x)] - E_z[D(G(z))]. For a
    1-Lipschitz D the maximum of that difference is the Wasserstein-1 distance
    between the data and the generator's distribution (Kantorovich-Rubinstein
    duality), so -L_D is the critic's estimate of that distance. The Lipschitz
    constraint comes from elsewhere: weight clipping in WGAN, ``gradient_penalty``
    in WGAN-GP.

    Args:
        real_scores: float [B] or [B, 1], critic scores on real images (unbounded, no sigmoid).
        fake_scores: float [B] or [B, 1], critic scores on generated images.

    Returns:
        Scalar float32: mean(fake_scores) - mean(real_scores).
    """
    return tf.reduce_mean(_f32(fake_scores)) - tf.reduce_mean(_f32(real_scores))


def generator_loss_wasserstein(fake_scores) -> tf.Tensor:
    """Wasserstein generator loss (Arjovsky et al., 2017): L_G = -E_z[D(G(z))].

    The generator raises the critic's score of its samples. Its gradient with
    respect to each score is -1/B whatever the score: it never saturates.
    Use it with a critic (``critic_loss_wasserstein``), not with a logit
    discriminator trained by ``discriminator_loss``.
    """
    return -tf.reduce_mean(_f32(fake_scores))


GENERATOR_LOSSES = {
    "non_saturating": generator_loss_non_saturating,
    "minimax": generator_loss_minimax,
    "wasserstein": generator_loss_wasserstein,
}


def get_generator_loss(name: str, allowed=tuple(GENERATOR_LOSSES)):
    """Look a generator loss on D's outputs up by name (one of ``allowed``, a subset of ``GENERATOR_LOSSES``)."""
    if name not in allowed:
        hint = ""
        if name == "feature_matching":
            hint = " Feature matching is a loss on D's features: use gan_utils.FeatureMatchingGAN."
        elif name == "wasserstein":
            hint = " The Wasserstein loss needs a critic: use gan_utils.WGANGP."
        raise ValueError(f"unknown generator loss {name!r}; choose one of {list(allowed)}.{hint}")
    return GENERATOR_LOSSES[name]


def check_label_smoothing(label_smoothing) -> float:
    """Validate one-sided label smoothing: a number in [0, 1)."""
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real) or not (
            0.0 <= float(label_smoothing) < 1.0):
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}; 0.1 is the usual choice")
    return float(label_smoothing)


def info_loss(code_logits, codes) -> tf.Tensor:
    """InfoGAN's mutual-information term for a categorical code (Chen et al., 2016, sec. 5).

    L_I = E_z[-log Q(c | G(z))], the cross-entropy of the code head's softmax
    Q(c | x) against the code c that produced G(z). It is an upper bound on
    H(c) - I(c; G(z)) (their Lemma 5.1: log k - L_I is a lower bound on the mutual
    information; the paper calls that bound L_I and subtracts it), so D's head and G
    minimising it (each with weight lambda, 1 for discrete codes) raise the mutual
    information between the code and the image: each code must draw images
    the head can tell apart from the other codes'.

    Args:
        code_logits: float [B, k], the head's logits on generated images.
        codes: int [B] in [0, k), the codes (``layers.latent_codes(z, k)``).

    Returns:
        Scalar float32; log(k) for a head that cannot tell (uniform Q), 0 for a perfect one.
    """
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(codes, tf.int32), logits=_f32(code_logits)))


def gaussian_code_loss(codes, mean, log_std) -> tf.Tensor:
    """InfoGAN's term for continuous codes: -log Q(c | G(z)) with Q a factored Gaussian (Chen et al., 2016, sec. 6).

    -log N(c; mu, sigma^2) = log sigma + (c - mu)^2 / (2 sigma^2) + log(2 pi) / 2 for each
    code, summed over the codes and averaged over the batch.

    Args:
        codes: float [B, m], the continuous codes that produced G(z).
        mean, log_std: float [B, m], Q's mean and log standard deviation for each code.

    Returns:
        Scalar float32.
    """
    codes, mean, log_std = _f32(codes), _f32(mean), _f32(log_std)
    nll = log_std + 0.5 * tf.square((codes - mean) * tf.exp(-log_std)) + 0.5 * math.log(2.0 * math.pi)
    return tf.reduce_mean(tf.reduce_sum(nll, axis=-1))


# ------------------------------------------------------------------ feature matching
def feature_matching_loss(real_features, fake_features) -> tf.Tensor:
    """Feature matching (Salimans et al., 2016, sec. 3.1): L_G = ||E_x f(x) - E_z f(G(z))||_2^2.

    f is an intermediate layer of the discriminator. Instead of maximising D's
    output, G matches the statistics of real data that D has found useful; the
    target moves as D trains, but G no longer chases D's latest single
    direction, which is one cause of mode collapse. The expectations are batch
    means; the squared norm sums over every feature.

    Args:
        real_features: float [B, ...], f on real images.
        fake_features: float [B', ...], f on generated images (same feature shape).

    Returns:
        Scalar float32.
    """
    real, fake = _f32(real_features), _f32(fake_features)
    if not real.shape[1:].is_compatible_with(fake.shape[1:]):
        raise ValueError(f"real and fake features must have the same shape per sample, got {real.shape} "
                         f"and {fake.shape}; compute both with the same layer of D")
    difference = tf.reduce_mean(real, axis=0) - tf.reduce_mean(fake, axis=0)
    return tf.reduce_sum(tf.square(difference))


def _depends_on(tensor, source) -> bool:
    """Whether the symbolic ``tensor`` of a functional model is computed from ``source``."""
    seen, stack = set(), [tensor]
    while stack:
        t = stack.pop()
        if t is source:
            return True
        if id(t) not in seen:
            seen.add(id(t))
            operation, node_index, _ = t._keras_history
            stack.extend(operation._inbound_nodes[node_index].input_tensors)
    return False


def _layer_output(layer):
    try:
        return layer.output
    except (AttributeError, ValueError):  # a layer used several times has no single output
        return None


def default_feature_layer(discriminator: keras.Model) -> str:
    """The layer feature matching reads by default: D's last feature layer before the output.

    That is the last layer of ``discriminator.layers`` (in graph order), the
    output layer excluded, whose output is computed from the images and has
    more than one value per image, skipping Dropout. For gan_utils' builders this
    is the input of the final Dense: ``flatten`` for the DCGAN and conditional
    discriminators (for the projection one too: the label embedding and the
    one-value heads are skipped), ``hidden_lrelu`` for a DCGAN discriminator
    built with ``hidden`` > 0, the last hidden ``lrelu_*`` for the MLP.
    """
    image, output = discriminator.inputs[0], discriminator.outputs[0]
    for layer in reversed(discriminator.layers):
        tensor = _layer_output(layer)
        if tensor is None or tensor is output or isinstance(layer, (keras.layers.Dropout, keras.layers.InputLayer)):
            continue
        several = len(tensor.shape) >= 2 and any(d is None or d > 1 for d in tensor.shape[1:])
        if several and _depends_on(tensor, image):
            return layer.name
    raise ValueError(f"{discriminator.name} has no hidden layer with several values per image before its output; "
                     "pass feature_layer=NAME (one of its layers)")


def feature_extractor(discriminator: keras.Model, layer: str | None = None) -> keras.Model:
    """A model sharing D's weights that returns the output of one of its layers (f of feature matching).

    Args:
        discriminator: a functional or Sequential ``keras.Model`` (images, or
            ``[images, labels]``, -> logits).
        layer: the layer's name; None picks ``default_feature_layer(discriminator)``.

    Returns:
        keras.Model with D's inputs -> float [B, ...] features.
    """
    names = [lay.name for lay in discriminator.layers]
    name = default_feature_layer(discriminator) if layer is None else layer
    if name not in names:
        raise ValueError(f"the discriminator has no layer named {name!r}; feature_layer must be one of {names}")
    tensor = _layer_output(discriminator.get_layer(name))
    if tensor is None or not _depends_on(tensor, discriminator.inputs[0]):
        raise ValueError(f"the output of layer {name!r} is not computed from the images (or the layer is used twice); "
                         f"choose a layer between the image input and the logit, e.g. {default_feature_layer(discriminator)!r}")
    inputs = discriminator.inputs if len(discriminator.inputs) > 1 else discriminator.inputs[0]
    return keras.Model(inputs, tensor, name=f"{discriminator.name}_features")


# Added under the square root of the gradient norm. sqrt has an infinite slope at 0, so without
# it a zero gradient (a constant critic, e.g. all-zero weights) gives 0 * inf = NaN gradients.
NORM_EPSILON = 1e-12


def check_penalty_weight(weight) -> float:
    """Validate the gradient-penalty weight lambda (a finite number >= 0) and return it as a float."""
    from .checks import check_weight

    return check_weight("the gradient-penalty weight", weight, "the paper uses 10; 0 turns the penalty off")


def _stateless_seed(seed) -> tf.Tensor:
    """int64 [2] stateless seed from an int, a [2] integer tensor or a keras SeedGenerator (advanced)."""
    if isinstance(seed, keras.random.SeedGenerator):
        return tf.cast(seed.next(), tf.int64)
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return tf.constant([int(seed), 0], tf.int64)
    seed = tf.convert_to_tensor(seed)
    if not seed.dtype.is_integer or seed.shape != (2,):
        raise ValueError(
            f"seed must be an int, an integer tensor of shape [2] or a keras.random.SeedGenerator; "
            f"got {seed.dtype.name} of shape {seed.shape}"
        )
    return tf.cast(seed, tf.int64)


def _interpolation_weights(real: tf.Tensor, epsilon, seed) -> tf.Tensor:
    """eps float32 [B, 1, ..., 1] (the rank of ``real``): the given one, or eps ~ U[0, 1) per sample."""
    rank = real.shape.rank
    if epsilon is not None and seed is not None:
        raise ValueError("pass epsilon or seed, not both (the seed only serves to draw epsilon)")
    if epsilon is None:
        if seed is None:
            raise ValueError(
                "gradient_penalty draws epsilon ~ U[0, 1] per sample and needs a seed: pass seed= (an int, "
                "an integer tensor [2] or a keras.random.SeedGenerator; in a train step GAN.next_seed()), "
                "or pass epsilon= yourself"
            )
        epsilon = tf.random.stateless_uniform(tf.shape(real)[:1], seed=_stateless_seed(seed))
    eps = _f32(epsilon)
    shape = eps.shape
    if (shape.rank not in (1, rank) or any(d not in (1, None) for d in shape[1:])
            or not shape[:1].is_compatible_with(real.shape[:1])):
        raise ValueError(
            f"epsilon must hold one weight per sample, shape [B] or [B{', 1' * (rank - 1)}] with "
            f"B = {real.shape[0]}; got {shape}"
        )
    return tf.reshape(eps, [-1] + [1] * (rank - 1))


def gradient_penalty(
    critic,
    real,
    fake,
    labels=None,
    *,
    weight: float = 10.0,
    epsilon=None,
    seed=None,
    training: bool = True,
    return_norms: bool = False,
):
    """Gradient penalty of WGAN-GP (Gulrajani et al., 2017, eq. 3).

        x_hat = eps * x + (1 - eps) * G(z),        eps ~ U[0, 1], one per sample
        GP    = weight * E[(||grad_{x_hat} D(x_hat)||_2 - 1)^2]

    A differentiable function is 1-Lipschitz iff its gradient norm is at most 1
    everywhere, and the optimal critic has norm 1 on the straight lines joining
    the real and generated samples that the optimal transport plan pairs
    (Gulrajani et al., Proposition 1). The penalty pulls the norm towards 1 at
    random points on lines between random pairs instead (a soft constraint,
    only where samples are). The gradient comes from a nested ``tf.GradientTape``, so
    an outer tape can differentiate the penalty with respect to the critic's
    weights (a second-order gradient). The norm runs over all non-batch axes
    and is computed as sqrt(sum(g^2) + NORM_EPSILON): it and its gradient stay
    finite when g = 0. Everything here is float32, also when the critic computes
    in float16 or bfloat16 (its output is cast).

    Gradients of sum_i D(x_hat_i) are the per-sample gradients only when each
    score depends on its own sample alone: no BatchNormalization in the critic.

    Args:
        critic: images float32 [B, ...] -> scores [B] or [B, 1] (unbounded); a
            conditional critic takes ``[images, labels]``. Called as
            ``critic(inputs, training=training)``.
        real: float [B, ...] real images (e.g. [B, H, W, C] in [-1, 1]).
        fake: float [B, ...] generated images, the shape of ``real``.
        labels: int [B] for a conditional critic (the labels of both batches), else None.
        weight: lambda >= 0; the paper uses 10.
        epsilon: optional float [B] (or [B, 1, ..., 1]) interpolation weights in [0, 1].
        seed: draws epsilon when it is not given: an int, an integer tensor [2]
            (stateless seed) or a ``keras.random.SeedGenerator`` (advanced on each
            call). In a compiled train step pass a fresh seed every step, e.g.
            ``GAN.next_seed()``; a constant int gives the same epsilon every step.
        training: passed to the critic.
        return_norms: also return the per-sample gradient norms.

    Returns:
        Scalar float32 penalty, or ``(penalty, norms)`` with norms float32 [B].
    """
    weight = check_penalty_weight(weight)
    real, fake = _f32(real), _f32(fake)
    rank = real.shape.rank
    if rank is None or rank < 2:
        raise ValueError(f"real must be a batch [B, ...] (e.g. images [B, H, W, C]); got shape {real.shape}")
    if not real.shape.is_compatible_with(fake.shape):
        raise ValueError(
            f"real and fake must have the same shape, got {real.shape} and {fake.shape}; "
            "generate one fake per real image"
        )
    eps = _interpolation_weights(real, epsilon, seed)
    x_hat = eps * real + (1.0 - eps) * fake
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        inputs = x_hat if labels is None else [x_hat, tf.convert_to_tensor(labels)]
        scores = _f32(critic(inputs, training=training))
        total = tf.reduce_sum(scores)  # inside the tape, or the tape would not connect it to x_hat
    if scores.shape.rank is not None and scores.shape[1:].num_elements() not in (1, None):
        raise ValueError(f"the critic must output one score per sample, [B] or [B, 1]; got shape {scores.shape}")
    grads = tape.gradient(total, x_hat, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    norms = tf.sqrt(tf.reduce_sum(tf.square(_f32(grads)), axis=list(range(1, rank))) + NORM_EPSILON)
    penalty = weight * tf.reduce_mean(tf.square(norms - 1.0))
    return (penalty, norms) if return_norms else penalty
