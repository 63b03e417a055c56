"""Windows of a series through the nodes: cut, split in time order, a 1-D convolutional VAE
pretrained on them, and its generated windows judged against real ones."""

import numpy as np
import pandas as pd
import pytest

from autoencoder_pipelines.config import (
    CorruptionParams,
    DataParams,
    ModelParams,
    PretrainParams,
    ReportParams,
    RuntimeParams,
    SplitParams,
)
from autoencoder_pipelines.jobs.pretraining import pretrain_stack
from autoencoder_pipelines.jobs.runtime import Runtime
from autoencoder_pipelines.nn.generation import mean_power_spectrum, spectrum_peaks
from autoencoder_pipelines.pipelines.data_processing.nodes import (
    ingest,
    split_and_scale,
)
from autoencoder_pipelines.pipelines.reporting.nodes import (
    evaluate_generation,
    plot_generated_samples,
)

LENGTH = 32
# cycles per window of each series: `a` a sum of two sines, `b` one
PEAKS = {"a": [2, 5], "b": [3]}


@pytest.fixture(scope="module")
def series_windows(tmp_path_factory):
    """A known series (sums of sines plus noise, two columns, rows stored out of time order)
    cut into windows of 32 steps every 2, split and scaled as the pipeline does."""
    rng = np.random.default_rng(0)
    t = np.arange(1500)
    frame = pd.DataFrame({
        "step": t,
        "a": np.sin(2 * np.pi * 2 * t / LENGTH) + 0.6 * np.sin(2 * np.pi * 5 * t / LENGTH + 1.0)
             + 0.1 * rng.standard_normal(len(t)),
        "b": 3.0 + 2.0 * np.sin(2 * np.pi * 3 * t / LENGTH + 0.5) + 0.2 * rng.standard_normal(len(t)),
    }).sample(frac=1.0, random_state=1)
    path = tmp_path_factory.mktemp("series") / "series.csv"
    frame.to_csv(path, index=False)
    windows, schema = ingest(DataParams(source="windows", path=str(path), time_column="step",
                                        window_length=LENGTH, window_stride=2))
    data, _ = split_and_scale(windows, schema, SplitParams(), Runtime(RuntimeParams()))
    return data


def test_generated_windows_have_the_training_windows_spectrum_peaks(series_windows, runtime):
    data = series_windows
    schema = data.schema
    assert schema.window_shape == [2, LENGTH]
    real_peaks = spectrum_peaks(mean_power_spectrum(data.values("train"), schema.window_shape), 2)
    assert [sorted(p[:len(PEAKS[c])]) for p, c in zip(real_peaks, "ab", strict=True)] == [PEAKS["a"], PEAKS["b"]]
    model = ModelParams(kind="conv1d_vae", hidden_sizes=[8], conv1d_vae={"channels": [8, 16]})
    network, history = pretrain_stack(data, model, PretrainParams(epochs=30, batch_size=64), CorruptionParams(), runtime)
    assert network.architecture.kind == "conv1d_vae" and "pretrain.conv1d_vae.val_kl" in history
    metrics, figure = evaluate_generation(network, data, ReportParams(generation_rows=200))
    # the model's own draws: the same peaks as the training windows, per series
    generated = network.sample(500).numpy()
    generated_peaks = spectrum_peaks(mean_power_spectrum(generated, schema.window_shape), 2)
    assert [sorted(p[:len(PEAKS[c])]) for p, c in zip(generated_peaks, "ab", strict=True)] == [PEAKS["a"], PEAKS["b"]]
    # and the figures: MMD^2 of generated, Gaussian-fit and training windows against the test windows
    assert set(metrics) == {f"generation.{measure}.{name}" for measure in ("mmd2", "mmd2_local")
                            for name in ("generated", "gaussian_baseline", "training_rows")} | {"generation.rows"}
    assert np.isfinite(list(metrics.values())).all() and metrics["generation.rows"] == min(200, len(data.test))
    assert abs(metrics["generation.mmd2.training_rows"]) < 0.01  # real against real: about 0
    assert len(figure.axes) >= 6  # real, generated and spectrum panels for each of the two series
    assert len(plot_generated_samples(network, data).axes) == 32


def test_an_untrained_network_does_not_have_the_peaks(series_windows):
    """The peak check can fail: a fresh network's draws do not show them."""
    from autoencoder_pipelines.jobs.autoencoders import build_autoencoder

    schema = series_windows.schema
    network = build_autoencoder(ModelParams(kind="conv1d_vae", hidden_sizes=[8]), schema, 0, "init").eval()
    peaks = spectrum_peaks(mean_power_spectrum(network.sample(500).numpy(), schema.window_shape), 2)
    assert [sorted(p[:len(PEAKS[c])]) for p, c in zip(peaks, "ab", strict=True)] != [PEAKS["a"], PEAKS["b"]]


def test_a_non_generative_kind_reports_no_generation(series_windows, runtime):
    model = ModelParams(kind="undercomplete", hidden_sizes=[8])
    network, _ = pretrain_stack(series_windows, model, PretrainParams(epochs=1), CorruptionParams(), runtime)
    metrics, figure = evaluate_generation(network, series_windows, ReportParams())
    assert metrics == {} and "does not generate" in str(figure)
