"""Layers of the collection: ``SpectralNorm``, ``MinibatchStdDev`` (for D), ``CategoricalCode`` (for G).

- ``SpectralNorm(layer)`` (Miyato et al., 2018, "Spectral Normalization for Generative
  Adversarial Networks"): the wrapped layer computes with W / sigma(W), where sigma(W) is
  the largest singular value of its kernel, so each layer is (at most) 1-Lipschitz and so
  is D when its activations are (LeakyReLU is).
- ``MinibatchStdDev()`` (Karras et al., 2018, "Progressive Growing of GANs", sec. 3):
  appends one feature, the standard deviation of the features over the batch, so that
  D can see that a batch of generated samples is too uniform, which is what mode collapse
  looks like from inside one batch.
- ``CategoricalCode(k)`` (InfoGAN's categorical code, Chen et al., 2016): reads a
  one-of-k choice off the first k entries of z (their argmax), so that the generator
  sees k separate regions of its input space instead of one connected Gaussian.

All three are registered Keras serialisables (package ``gan_utils``): a model that uses them
saves to ``.keras`` and loads with ``safe_mode=True`` once ``gan_utils.layers`` is imported.
"""

from __future__ import annotations

import math

import keras
from keras import ops

# Keras' own switch for reading variables uncast under mixed precision, and the current
# stateless scope. Neither is re-exported in the public API; both exist since Keras 3.0.
from keras.src.backend import AutocastScope, get_stateless_scope

_TRANSPOSED = (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose)
_EPSILON = 1e-12


def _float32_value(variable):
    """The variable's value as a float32 tensor, not the compute-dtype copy mixed precision would hand out."""
    import tensorflow as tf

    with AutocastScope(None):
        return tf.cast(tf.convert_to_tensor(variable.value), "float32")


def _unit(x):
    return x / ops.maximum(ops.sqrt(ops.sum(ops.square(x))), _EPSILON)


class _SwapValue(keras.StatelessScope):
    """A ``keras.StatelessScope`` in which one variable reads as another value.

    Reads of other variables fall through to an enclosing stateless scope, if any (e.g.
    ``Layer.stateless_call``), else to the variables themselves; assignments made inside
    go to the enclosing scope, or are applied when the scope closes.
    """

    def __init__(self, variable, value):
        super().__init__(state_mapping=[(variable, value)])
        self._outer = get_stateless_scope()
        self._pending = []
        if self._outer is not None:
            self.collect_losses, self.losses = self._outer.collect_losses, self._outer.losses

    def get_current_value(self, variable):
        value = super().get_current_value(variable)
        if value is None and self._outer is not None:
            return self._outer.get_current_value(variable)
        return value

    def add_update(self, update):
        if self._outer is not None:
            self._outer.add_update(update)
        else:
            self._pending.append(update)

    def __exit__(self, *args, **kwargs):
        super().__exit__(*args, **kwargs)
        for variable, value in self._pending:
            variable.assign(value)


@keras.saving.register_keras_serializable(package="gan_utils")
class SpectralNorm(keras.layers.Wrapper):
    """Spectral normalisation of a layer's kernel (Miyato et al., 2018, Algorithm 1).

    The wrapped layer computes with ``W / sigma(W)``, where ``W`` is its kernel
    reshaped to a matrix [fan-in, out] (a Conv2D kernel [kh, kw, in, out] becomes
    [kh*kw*in, out]; a transposed convolution keeps its ``filters`` axis as ``out``;
    an Embedding table [classes, dim] is used as it is) and sigma(W) its largest
    singular value, estimated by power iteration:

        v = W u / ||W u||,   u = W^T v / ||W^T v||   (``power_iterations`` times)
        sigma(W) ~= ||W u||

    ``u`` (float32 [out]) is a non-trainable variable that persists across calls, so
    one iteration per training step is enough: u keeps converging while W changes
    slowly. Only training calls (``training=True``, as in ``GAN``'s train step) advance
    it; inference uses the stored u and changes nothing. Gradients flow through W and
    through sigma(W) with u held constant (Miyato et al., sec. 2.2). ``W`` itself stays
    the raw trainable parameter: nothing is written back to the kernel.

    sigma is computed in float32, also under a mixed-precision policy; the layer then
    computes in its own dtype. Works for any layer whose weight is ``kernel`` (Dense,
    Conv1D/2D/3D and their transposes) or ``embeddings`` (Embedding), inside
    ``tf.function`` and XLA, and under ``tf.distribute`` (u is updated from the first
    replica; every replica computes the same u).

    Args:
        layer: the layer to normalise (built or not).
        power_iterations: power-iteration steps per training call, a positive int.
        **kwargs: Layer arguments; ``name`` defaults to the wrapped layer's name and
            ``dtype`` to its dtype policy.

    Attributes:
        u: float32 [out], the current estimate of W's top right-singular vector.
        sigma: float32 scalar, the current estimate of sigma(W) (reads, never updates).
    """

    def __init__(self, layer, power_iterations: int = 1, **kwargs):
        if not isinstance(layer, keras.layers.Layer):
            raise ValueError(f"SpectralNorm wraps a Keras layer (Dense, Conv2D, Conv2DTranspose, Embedding ...), "
                             f"got {type(layer).__name__}")
        if not isinstance(power_iterations, int) or isinstance(power_iterations, bool) or power_iterations < 1:
            raise ValueError(f"power_iterations must be a positive integer (1 is usual), got {power_iterations!r}")
        kwargs.setdefault("name", layer.name)
        kwargs.setdefault("dtype", layer.dtype_policy)
        super().__init__(layer, **kwargs)
        self.power_iterations = power_iterations

    # ------------------------------------------------------------- build
    def build(self, input_shape=None):
        super().build(input_shape)
        kernel = self.kernel
        if self.layer.activity_regularizer is not None:
            raise ValueError(f"SpectralNorm does not support an activity_regularizer on {self.layer.name!r}; "
                             "regularise the wrapper's output instead")
        self._out_axis = kernel.ndim - 2 if isinstance(self.layer, _TRANSPOSED) else kernel.ndim - 1
        self.u = self.add_weight(
            name="u", shape=(int(kernel.shape[self._out_axis]),), initializer=keras.initializers.RandomNormal(),
            trainable=False, dtype="float32", autocast=False, aggregation="only_first_replica",
        )
        self.built = True

    @property
    def kernel(self):
        """The wrapped layer's weight variable (its ``kernel``, or an Embedding's ``embeddings``)."""
        for name in ("kernel", "embeddings"):
            weight = getattr(self.layer, name, None)
            if weight is not None:
                break
        if not isinstance(weight, keras.Variable):
            raise ValueError(
                f"SpectralNorm needs a layer with one weight matrix named 'kernel' or 'embeddings' (Dense, "
                f"Conv1D/2D/3D, Conv2DTranspose, Embedding); {type(self.layer).__name__} {self.layer.name!r} has "
                f"{'none' if weight is None else 'a computed one (LoRA or quantised)'}. Wrap a plain layer instead"
            )
        return weight

    # ------------------------------------------------------------- maths
    def _matrix(self, w):
        """Kernel -> [fan-in, out]: the ``out`` axis moved last, the other axes flattened."""
        if self._out_axis != len(w.shape) - 1:
            w = ops.moveaxis(w, self._out_axis, -1)
        return ops.reshape(w, (-1, w.shape[-1]))

    def _sigma(self, matrix, u):
        return ops.maximum(ops.sqrt(ops.sum(ops.square(ops.matmul(matrix, u)))), _EPSILON)

    @property
    def sigma(self):
        """float32 scalar: the current estimate ||W u|| of sigma(W), from the stored u (no update)."""
        return self._sigma(self._matrix(_float32_value(self.kernel)), _unit(self.u.value))

    def normalized_kernel(self):
        """float32 kernel W / sigma(W) (the kernel's shape), with the stored u: what inference computes with."""
        return _float32_value(self.kernel) / self.sigma

    def call(self, inputs, training=None):
        kernel = self.kernel
        w = _float32_value(kernel)
        matrix = self._matrix(w)
        u = _unit(self.u.value)
        if training:
            for _ in range(self.power_iterations):
                v = _unit(ops.matmul(matrix, u))
                u = _unit(ops.matmul(ops.transpose(matrix), v))
            u = ops.stop_gradient(u)
            self.u.assign(u)
        normalized = ops.cast(w / self._sigma(matrix, u), kernel.dtype)
        with _SwapValue(kernel, normalized):
            return self.layer(inputs, training=training)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations}


@keras.saving.register_keras_serializable(package="gan_utils")
class MinibatchStdDev(keras.layers.Layer):
    """Minibatch standard deviation (Karras et al., 2018, sec. 3): one extra feature of batch statistics.

    Splits the batch into groups of ``group_size`` (samples i, i + B/G, i + 2B/G, ...
    form a group), takes the standard deviation of every feature (and every pixel)
    over each group, averages those over the features and pixels to one number per
    group, and appends it to each sample of the group as one more feature: [B, F] ->
    [B, F + 1], or one constant feature map: [B, H, W, C] -> [B, H, W, C + 1].

    A generator that collapses onto a few modes makes batches with a smaller spread
    than real batches; this feature lets D see that and push G to spread out. The
    statistics are computed in float32 (sqrt(var + 1e-8)), then cast to the layer's dtype.

    It makes each sample's score depend on the rest of its group, as BatchNorm does:
    a WGAN-GP gradient penalty on such a critic is then not exactly per-sample
    (ProGAN used the two together all the same).

    Args:
        group_size: samples per group (ProGAN: 4); the batch size must be a multiple of
            ``min(group_size, batch size)``. None: the whole batch is one group.
    """

    def __init__(self, group_size: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if group_size is not None and (not isinstance(group_size, int) or isinstance(group_size, bool)
                                       or group_size < 1):
            raise ValueError(f"group_size must be a positive integer (e.g. 4) or None (whole batch), got {group_size!r}")
        self.group_size = group_size

    def call(self, inputs):
        import tensorflow as tf

        x = ops.cast(inputs, "float32")
        batch = ops.shape(x)[0]
        groups = batch if self.group_size is None else ops.minimum(self.group_size, batch)
        if self.group_size is not None:
            tf.debugging.assert_equal(
                batch % groups, 0,
                message=f"MinibatchStdDev(group_size={self.group_size}): the batch size must be a multiple of the "
                        "group size; use drop_remainder=True batches, another group_size, or group_size=None")
        grouped = ops.reshape(x, (groups, -1, *ops.shape(x)[1:]))                  # [G, B/G, ...]
        std = ops.sqrt(ops.var(grouped, axis=0) + 1e-8)                              # [B/G, ...]
        per_group = ops.mean(std, axis=tuple(range(1, len(x.shape))))              # [B/G]
        per_sample = ops.tile(per_group, (groups,))                                 # sample b -> group b % (B/G)
        feature = ops.ones_like(x[..., :1]) * ops.reshape(per_sample, (-1,) + (1,) * (len(x.shape) - 1))
        return ops.concatenate([inputs, ops.cast(feature, inputs.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        last = None if input_shape[-1] is None else input_shape[-1] + 1
        return (*input_shape[:-1], last)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size}


def latent_codes(z, num_codes: int):
    """The categorical code carried by z: argmax of its first ``num_codes`` entries, int32 [B].

    For z ~ N(0, I) the k entries are i.i.d., so each code has probability 1/k.
    """
    return ops.cast(ops.argmax(z[:, :num_codes], axis=-1), "int32")


def continuous_codes(z, num_codes: int, continuous: int):
    """The continuous codes carried by z: erf(z_j / sqrt 2) for the ``continuous`` entries after the first ``num_codes``.

    erf(z / sqrt 2) = 2 Phi(z) - 1 is uniform on [-1, 1] when z ~ N(0, 1): float32 [B, continuous].
    """
    return ops.erf(ops.cast(z[:, num_codes:num_codes + continuous], "float32") / math.sqrt(2.0))


@keras.saving.register_keras_serializable(package="gan_utils")
class CategoricalCode(keras.layers.Layer):
    """InfoGAN's latent codes read off z float32 [B, D]: one categorical code and, optionally, continuous ones.

    Output: concat(one_hot(c) [B, k], u [B, m], z[:, k + m:]) [B, D], where
    c = argmax(z_1 ... z_k) is uniform over k values and u_j = erf(z_{k+j} / sqrt 2)
    is uniform on [-1, 1] when z ~ N(0, I). The generator keeps the plain Gaussian
    input (sampling, saving and the CLI do not change) while its first layer sees
    InfoGAN's codes (Chen et al., 2016, sec. 7: for MNIST one 10-way categorical code
    and two continuous codes in [-1, 1]). Training with ``InfoGAN`` makes the codes
    mean something: Q must recover them from G(z).

    The layer does not autocast: under a mixed-precision policy it still reads z in
    float32, so its argmax is the one ``latent_codes`` computes from the same z in
    the train step (rounding to bfloat16 would turn near-ties into the lower index).

    Args:
        num_codes: k >= 2, the categories of the categorical code.
        continuous: m >= 0 continuous codes; k + m must be smaller than z's width.
    """

    def __init__(self, num_codes: int, continuous: int = 0, **kwargs):
        super().__init__(autocast=False, **kwargs)
        if isinstance(num_codes, bool) or not isinstance(num_codes, int) or num_codes < 2:
            raise ValueError(f"num_codes must be an integer >= 2 (10 for MNIST's digits), got {num_codes!r}")
        if isinstance(continuous, bool) or not isinstance(continuous, int) or continuous < 0:
            raise ValueError(f"continuous must be an integer >= 0 (InfoGAN uses 2 on MNIST), got {continuous!r}")
        self.num_codes, self.continuous = num_codes, continuous

    def build(self, input_shape):
        width, used = input_shape[-1], self.num_codes + self.continuous
        if len(input_shape) != 2 or width is None or width <= used:
            raise ValueError(f"CategoricalCode({self.num_codes}, continuous={self.continuous}) reads its codes off the "
                             f"first {used} entries of z [B, D] and passes on the other D - {used}: z must be wider "
                             f"than {used}, got shape {tuple(input_shape)}")

    def call(self, inputs):
        code = ops.one_hot(latent_codes(inputs, self.num_codes), self.num_codes, dtype=inputs.dtype)
        parts = [code]
        if self.continuous:
            parts.append(ops.cast(continuous_codes(inputs, self.num_codes, self.continuous), inputs.dtype))
        return ops.concatenate([*parts, inputs[:, self.num_codes + self.continuous:]], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "num_codes": self.num_codes, "continuous": self.continuous}
