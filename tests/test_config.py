"""config.resolve_precision: the dtype policy "auto" picks for the devices TensorFlow reports (faked here)."""

import keras
import pytest
import tensorflow as tf

from gan_utils import config


def fake_devices(monkeypatch, gpu_details, cpu_bf16=False):
    """Make TensorFlow report one GPU per entry of ``gpu_details`` (its get_device_details dict)."""
    gpus = [tf.config.PhysicalDevice(name=f"/physical_device:GPU:{i}", device_type="GPU")
            for i in range(len(gpu_details))]
    details = {gpu.name: detail for gpu, detail in zip(gpus, gpu_details)}

    def get_visible_devices(device_type=None):
        assert device_type == "GPU"
        return list(gpus)

    monkeypatch.setattr(tf.config, "get_visible_devices", get_visible_devices)
    monkeypatch.setattr(tf.config.experimental, "get_device_details", lambda gpu: details[gpu.name])
    monkeypatch.setattr(config, "cpu_has_bf16", lambda: cpu_bf16)


def gpu(major, minor):
    return {"device_name": f"fake sm_{major}{minor}", "compute_capability": (major, minor)}


@pytest.mark.parametrize(
    ("gpus", "cpu_bf16", "expected"),
    [
        ([], True, "mixed_bfloat16"),                  # CPU only, native bf16
        ([], False, "float32"),                        # CPU only, no bf16
        ([gpu(8, 0)], False, "mixed_bfloat16"),        # A100
        ([gpu(8, 6)], False, "mixed_bfloat16"),        # RTX 30xx
        ([gpu(9, 0)], False, "mixed_bfloat16"),        # H100
        ([gpu(7, 0)], False, "mixed_float16"),         # V100
        ([gpu(7, 5)], False, "mixed_float16"),         # T4
        ([gpu(6, 1)], True, "float32"),                # Pascal; the CPU's bf16 does not matter with a GPU
        ([gpu(3, 7)], False, "float32"),               # K80
        ([gpu(8, 6), gpu(7, 5)], False, "mixed_float16"),  # several GPUs: the lowest decides
        ([gpu(9, 0), gpu(8, 0)], False, "mixed_bfloat16"),
        ([gpu(8, 0), gpu(6, 0)], False, "float32"),
        ([{"device_name": "no capability reported"}], True, "float32"),
        ([gpu(8, 0), {}], False, "float32"),           # one GPU of unknown capability
    ],
)
def test_auto_precision_for_devices(monkeypatch, gpus, cpu_bf16, expected):
    fake_devices(monkeypatch, gpus, cpu_bf16)
    assert config.resolve_precision("auto") == expected
    assert config.resolve_precision() == expected


def test_gpu_compute_capabilities_reads_each_visible_gpu(monkeypatch):
    fake_devices(monkeypatch, [gpu(8, 6), {}, gpu(7, 0)])
    assert config.gpu_compute_capabilities() == [(8, 6), None, (7, 0)]


@pytest.mark.parametrize("name", ["float32", "mixed_bfloat16", "mixed_float16"])
def test_explicit_precision_is_kept_whatever_the_device(monkeypatch, name):
    fake_devices(monkeypatch, [gpu(6, 1)], cpu_bf16=False)
    assert config.resolve_precision(name) == name


@pytest.mark.parametrize("bad", ["fp16", "bfloat16", "Float32", "", None])
def test_bad_precision_name_says_which_names_exist(bad):
    with pytest.raises(ValueError, match="precision must be one of .*'auto'") as info:
        config.resolve_precision(bad)
    assert repr(bad) in str(info.value)


def test_dtype_policy_applies_the_auto_choice_and_restores(monkeypatch):
    fake_devices(monkeypatch, [gpu(7, 5)])
    before = keras.mixed_precision.global_policy().name
    with config.dtype_policy("auto") as name:
        assert name == "mixed_float16"
        layer = keras.layers.Dense(2)
        assert layer.dtype_policy.compute_dtype == "float16"
        assert layer.dtype_policy.variable_dtype == "float32"
    assert keras.mixed_precision.global_policy().name == before


@pytest.mark.parametrize(
    ("flags", "expected"),
    [("fpu sse avx512f avx512_bf16 avx512_vnni", True), ("fpu sse amx_bf16 amx_tile", True),
     ("fpu sse avx2 avx512f", False)],
)
def test_cpu_has_bf16_reads_the_cpu_flags(monkeypatch, tmp_path, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    monkeypatch.setattr(config, "Path", lambda _: cpuinfo)
    assert config.cpu_has_bf16() is expected


def test_cpu_has_bf16_without_cpuinfo_is_false(monkeypatch, tmp_path):
    monkeypatch.setattr(config, "Path", lambda _: tmp_path / "missing")
    assert config.cpu_has_bf16() is False
