"""Early stopping and the learning-rate schedule, measured: test accuracy and seconds of the
classifier fine-tuned from the pretrained stack (and of its random-init twin), or test MSE and
seconds of the denoiser and of the reduction autoencoder, under each way of ending a phase, on
the bundled 8x8 digits and on a 10,000-row 784-pixel digit table, over seeds.

    .venv/bin/python benchmarks/schedule_and_stopping.py [--tables digits images] [--seeds 42 0 1]
        [--phase finetune|denoiser|reduction] [--variants default today anneal ...] [--random-init default today]
        [--try 'NAME:KEY=VALUE;KEY=VALUE' ...] [--bare-epochs 40]

Each seed splits the data (the pipeline's split_and_scale), pretrains the stack once (the
pipeline's pretrain_stack, default settings) and trains the phase under every variant; the same
split and stack serve every variant of a seed. Variants change only how the phase ends (and, where
named, its learning rate); the phase's other settings are its defaults:

  default        the project's current defaults (whatever conf/base and config.py say)
  today          the defaults of 90f7aa1: finetune cosine annealing over the 100-epoch cap +
                 early stopping (patience 10); denoiser and reduction a constant rate, patience 10
  constant       a constant rate + early stopping (patience 10), best restored
  anneal         constant until 5 epochs without improvement, then cosine to 0 over 5 epochs, stop,
                 best restored (lr_schedule anneal_on_plateau)
  anneal_best    the same, the anneal starting from the best epoch's weights
  anneal10       patience 10, anneal 10
  anneal_lr3     anneal, at 3x the phase's learning rate
  anneal_md5     anneal, an improvement counting from 0.5% (min_delta 0.005)
  plateau        ReduceLROnPlateau (x0.1 after 3 epochs without improvement) + early stopping
                 (patience 8), best restored
  cosine30       cosine over 30 epochs, no early stopping (a fixed budget that ends annealed)
  fixed100       cosine over 100 epochs, no early stopping (the classifier's budget before early stopping)

`--try` adds a variant of your own: the phase's settings changed (`drop:dropout=0.3`). The
baseline, measured in the same run on the same split (fine-tuning only): a bare PyTorch MLP of
the model's widths from random init, Adam under a one-cycle rate for `--bare-epochs` epochs.

The 784-pixel table is benchmarks/time_to_answer.py's: `--image-table upsampled` (c's table:
the digits bilinearly upsampled, Gaussian noise; test rows are noisy copies of training images)
or `jittered` (the default: each row its own affine and elastic distortion, MNIST-like).
Prints one line per seed and variant, then the mean per variant; the load average beside it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch
import yaml

from autoencoder_pipelines.config import (
    CorruptionParams,
    DataParams,
    DenoiserParams,
    FinetuneParams,
    ModelParams,
    PhaseParams,
    PretrainParams,
    ReductionParams,
    RuntimeParams,
    SplitParams,
)
from autoencoder_pipelines.data.frames import features_tensor, labelled_part, labels_tensor
from autoencoder_pipelines.jobs.classification import finetune_classifier, train_random_init_classifier
from autoencoder_pipelines.jobs.pretraining import pretrain_stack
from autoencoder_pipelines.jobs.reduction import finetune_reduction_autoencoder, reconstruction_mse
from autoencoder_pipelines.jobs.runtime import Runtime
from autoencoder_pipelines.nn.corruption import CorruptionSpec, corrupt
from autoencoder_pipelines.nn.inference import predict_classes
from autoencoder_pipelines.nn.sizes import default_batch_size
from autoencoder_pipelines.nn.trainer import Callback, EarlyStopping, LRSchedule
from autoencoder_pipelines.pipelines.data_processing.nodes import corrupt_eval_sets, ingest, split_and_scale
from autoencoder_pipelines.pipelines.finetuning.nodes import evaluate_denoiser, finetune_denoiser

FIGURE = {"finetune": "accuracy", "denoiser": "test MSE", "reduction": "test MSE"}


class Plateau(Callback):
    """torch's ReduceLROnPlateau on the validation loss."""

    def __init__(self, factor: float, patience: int, min_delta: float) -> None:
        self.factor, self.patience, self.min_delta = factor, patience, min_delta

    def on_fit_start(self, state) -> None:
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            state.optimizer, factor=self.factor, patience=self.patience, threshold=self.min_delta, threshold_mode="rel")

    def on_epoch_end(self, state) -> None:
        self.scheduler.step(state.record.get("val_loss", state.record["train_loss"]))


Variant = Callable[[PhaseParams], tuple[dict[str, Any], list[Callback]]]  # settings changed, callbacks added


def _anneal(patience: int, epochs: int, **more: Any) -> Variant:
    return lambda p: ({"lr_schedule": "constant", "patience": None, **more},
                      [EarlyStopping(patience, more.get("min_delta", p.min_delta), anneal=epochs)])


VARIANTS: dict[str, Variant | None] = {
    "default": None,
    "today": lambda p: (({"lr_schedule": "cosine", "patience": 10, "epochs": 100} if isinstance(p, FinetuneParams)
                         else {"lr_schedule": "constant", "patience": 10}), []),
    "constant": lambda p: ({"lr_schedule": "constant", "patience": 10}, []),
    "anneal": _anneal(5, 5),
    "anneal_best": lambda p: ({"lr_schedule": "constant", "patience": None},
                              [EarlyStopping(5, p.min_delta, anneal=5, from_best=True)]),
    "anneal10": _anneal(10, 10),
    "anneal_lr3": lambda p: _anneal(5, 5, learning_rate=3 * p.learning_rate)(p),
    "anneal_md5": _anneal(5, 5, min_delta=0.005),
    "plateau": lambda p: ({"lr_schedule": "constant", "patience": None},
                          [Plateau(0.1, 3, p.min_delta), EarlyStopping(8, p.min_delta)]),
    "cosine30": lambda p: ({"lr_schedule": "constant", "patience": None, "epochs": 30}, [LRSchedule(30)]),
    "fixed100": lambda p: ({"lr_schedule": "constant", "patience": None, "epochs": 100}, [LRSchedule(100)]),
}
PHASES = {"finetune": FinetuneParams, "denoiser": DenoiserParams, "reduction": ReductionParams}
TRIES: dict[str, dict[str, Any]] = {}  # --try: the phase's own settings changed (dropout, input_corruption too)


def phase_params(phase: str, variant: str) -> PhaseParams:
    """The phase's defaults, with a --try variant's changes."""
    kind = PHASES[phase]
    return kind.model_validate({**kind().model_dump(), **TRIES.get(variant, {})})


class VariantRuntime(Runtime):
    """The run's Runtime, whose fine-tuning trainers end as the variant says."""

    def __init__(self, params: RuntimeParams, variant: Variant | None, phase: type[PhaseParams] = FinetuneParams) -> None:
        super().__init__(params)
        self.variant, self.phase = variant, phase
        self.progress = False

    def trainer(self, phase, name, n_rows):
        if self.variant is None or not isinstance(phase, self.phase):
            return super().trainer(phase, name, n_rows)
        changes, callbacks = self.variant(phase)
        trainer = super().trainer(phase.model_copy(update=changes), name, n_rows)
        trainer.callbacks[:0] = callbacks
        return trainer


def accuracy(classifier, test, schema) -> float:
    labelled = labelled_part(test)
    predicted = predict_classes(classifier, features_tensor(labelled, schema))
    return float((predicted == labels_tensor(labelled, schema)).float().mean())


def bare_classifier(data, epochs: int, seed: int) -> float:
    """A plain PyTorch loop, none of the project's training code: an MLP of the default model's
    widths (ReLU, the code layer linear as the model's), Adam at the fine-tuning's rate and
    weight decay under a one-cycle schedule for a fixed number of epochs, the fine-tuning's
    input noise and batch size, the same split's labelled rows; test accuracy."""
    torch.manual_seed(seed)
    schema, finetune, model = data.schema, FinetuneParams(), ModelParams()
    train, test = labelled_part(data.train), labelled_part(data.test)
    x, y = features_tensor(train, schema), labels_tensor(train, schema)
    sizes, layers, width = model.hidden_sizes_for(x.shape[1]), [], x.shape[1]
    for depth, size in enumerate(sizes):
        layers.append(torch.nn.Linear(width, size))
        if depth < len(sizes) - 1 or model.code_activation != "linear":
            layers.append(torch.nn.ReLU())
        width = size
    network = torch.nn.Sequential(*layers, torch.nn.Linear(width, schema.n_classes))
    batch, noise = default_batch_size(len(x)), CorruptionSpec.of(finetune.input_corruption)
    optimizer = torch.optim.Adam(network.parameters(), lr=finetune.learning_rate, weight_decay=finetune.weight_decay)
    steps = epochs * -(-len(x) // batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=finetune.learning_rate, total_steps=steps)
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for start in range(0, len(x), batch):
            rows = order[start:start + batch]
            noisy = corrupt(x[rows], noise)  # the project's one corruption module, its draws from torch's global generator
            loss = torch.nn.functional.cross_entropy(network(noisy), y[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    network.eval()
    with torch.no_grad():
        predicted = network(features_tensor(test, schema)).argmax(1)
    return float((predicted == labels_tensor(test, schema)).float().mean())


def epochs_of(history: dict[str, list[float]]) -> int:
    return max((len(v) for k, v in history.items() if k.endswith(".train_loss")), default=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", nargs="+", default=["digits", "images"], choices=["digits", "images"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 0, 1])
    parser.add_argument("--phase", default="finetune", choices=list(PHASES))
    parser.add_argument("--variants", nargs="+", default=["default", "today"], choices=list(VARIANTS))
    parser.add_argument("--random-init", nargs="*", default=["default", "today"], choices=list(VARIANTS),
                        help="variants whose random-init twin is trained too (pretraining must stay ahead)")
    parser.add_argument("--try", dest="tries", nargs="+", default=[], metavar="NAME:KEY=VALUE[;KEY=VALUE]",
                        help="a variant of your own: the phase's settings changed (YAML values), e.g. "
                             "drop:dropout=0.2 'wd:weight_decay=0.0001;patience=10' (its random-init twin too)")
    parser.add_argument("--bare-epochs", type=int, default=40,
                        help="the baseline: a bare torch MLP of the model's widths trained from random init for this "
                             "many epochs, one-cycle rate, the fine-tuning's input noise (0: no baseline)")
    parser.add_argument("--image-table", default="jittered", choices=["jittered", "upsampled"])
    parser.add_argument("--rows", type=int, default=10_000, help="rows of the 784-pixel table")
    args = parser.parse_args()
    for text in args.tries:
        name, _, changes = text.partition(":")
        if name in VARIANTS or name == "bare_torch" or not name:
            parser.error(f"--try {text!r}: name it other than {', '.join([*VARIANTS, 'bare_torch'])}")
        if not changes or any("=" not in pair for pair in changes.split(";")):
            parser.error(f"--try {text!r}: expected NAME:KEY=VALUE[;KEY=VALUE]")
        settings = {key: yaml.safe_load(value) for key, value in (pair.split("=", 1) for pair in changes.split(";"))}
        VARIANTS[name], TRIES[name] = None, settings
        args.variants.append(name)
        args.random_init.append(name)
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from time_to_answer import image_table, jittered_image_table

    torch.set_num_threads(1)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    results: dict[tuple[str, str, str], list[tuple[float, float, int]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for table in args.tables:
            if table == "digits":
                source = DataParams()
            else:
                build = jittered_image_table if args.image_table == "jittered" else image_table
                path = build(Path(folder) / "images.csv", rows=args.rows)
                source = DataParams(source="csv", path=str(path), label_column="digit", image_shape=[28, 28])
            frame, schema = ingest(source)
            for seed in args.seeds:
                params = RuntimeParams(device="cpu", seed=seed, checkpoint_every=0, log_every=0)
                runtime = Runtime(params)
                data, _ = split_and_scale(frame, schema, SplitParams(), runtime)
                started = time.perf_counter()
                stack, _ = pretrain_stack(data, ModelParams(), PretrainParams(), CorruptionParams(),
                                          VariantRuntime(params, None))
                print(f"{table} seed {seed}: pretrained in {time.perf_counter() - started:.1f} s", flush=True)
                if args.phase != "finetune":
                    _, noisy_test = corrupt_eval_sets(data, CorruptionParams(), runtime)
                elif args.bare_epochs:
                    started = time.perf_counter()
                    figure = bare_classifier(data, args.bare_epochs, seed)
                    results.setdefault((table, "bare_torch", f"{args.bare_epochs}_epochs"), []).append(
                        (figure, time.perf_counter() - started, args.bare_epochs))
                    print(f"  {table} seed {seed} bare torch  {args.bare_epochs} epochs: accuracy {figure:.5f}, "
                          f"{time.perf_counter() - started:6.1f} s", flush=True)
                for name in args.variants:
                    runtime = VariantRuntime(params, VARIANTS[name], PHASES[args.phase])
                    for twin in (False, True):
                        if twin and (name not in args.random_init or args.phase != "finetune"):
                            continue
                        started = time.perf_counter()
                        if args.phase == "denoiser":
                            network, history = finetune_denoiser(stack, data, ModelParams(), CorruptionParams(),
                                                                 phase_params("denoiser", name), runtime)
                            figure = evaluate_denoiser(network, data, noisy_test)[0]["denoise.test_mse_denoised"]
                        elif args.phase == "reduction":
                            network, history = finetune_reduction_autoencoder(
                                stack, data, ModelParams(), phase_params("reduction", name), runtime)
                            figure = reconstruction_mse(network, data.test[schema.features].to_numpy(dtype="float32"))
                        elif twin:
                            network, history = train_random_init_classifier(
                                data, ModelParams(), phase_params("finetune", name), runtime)
                            figure = accuracy(network, data.test, schema)
                        else:
                            network, history = finetune_classifier(stack, data, phase_params("finetune", name), runtime)
                            figure = accuracy(network, data.test, schema)
                        seconds = time.perf_counter() - started
                        result = (figure, seconds, epochs_of(history))
                        label = "random_init" if twin else ("pretrained" if args.phase == "finetune" else args.phase)
                        results.setdefault((table, name, label), []).append(result)
                        print(f"  {table} seed {seed} {name:12} {label:11}: {FIGURE[args.phase]} {result[0]:.5f}, "
                              f"{seconds:6.1f} s, {result[2]} epochs (load {os.getloadavg()[0]:.2f})", flush=True)
    print(f"\nmean over seeds {args.seeds} ({args.image_table} 784-pixel table); load average {os.getloadavg()[0]:.2f}")
    worst = min if args.phase == "finetune" else max
    print(f"{'table':8} {'variant':12} {'model':11} {FIGURE[args.phase]:>9} {'worst':>8} {'seconds':>8} {'epochs':>7}")
    for (table, name, label), runs in results.items():
        print(f"{table:8} {name:12} {label:11} {statistics.mean(r[0] for r in runs):9.5f} {worst(r[0] for r in runs):8.5f} "
              f"{statistics.mean(r[1] for r in runs):8.1f} {statistics.mean(r[2] for r in runs):7.1f}")


if __name__ == "__main__":
    main()
