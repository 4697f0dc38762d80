"""Train a handwritten-digit classifier (8x8 images) with PyTorch Lightning.

An ordinary Lightning script: a LightningModule, a Trainer, TensorBoard logs in
./lightning_logs/, the best checkpoint by validation accuracy, and at the end that checkpoint
exported with torch.export (model.pt2) so a server can load it without this file's classes.

The data is scikit-learn's bundled digits dataset (1797 images of 8x8 pixels, 16 grey
levels, ten classes), shipped inside the package: nothing is downloaded. A fixed 20 % is held
out for validation; samples.json keeps a few of those held-out images with their labels, for
trying a server with. On 2 CPU cores the default settings train in seconds.

Run it by hand:
    python train.py --epochs 10 --lr 0.01 --hidden 64

Preemptible: given --checkpoint, a SIGTERM (what a Spot VM's preemption notice brings) saves
the training state there and exits 143; --resume-from continues from such a checkpoint, at the
epoch and step it stopped. Inside the app the runtime passes both (the work's `checkpoint`).
Inside a lightning-local app it also reports live progress (epoch, step, losses, val
accuracy) through the lightning_state helper; outside an app that reporting does nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings

try:
    import lightning as L
    import numpy as np
    import torch
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import TensorBoardLogger
    from lightning.pytorch.utilities.exceptions import SIGTERMException
    from torch import nn
    from torch.nn import functional as F
    from sklearn.datasets import load_digits
    from torch.utils.data import DataLoader, TensorDataset
except ImportError as err:
    sys.exit(
        f"train.py: {err}. This script needs torch, lightning, tensorboard, numpy and scikit-learn: "
        "run `bash scripts/setup-flagship.sh` and use examples/flagship/.venv/bin/python."
    )

# Live progress is optional: the helper exists only when the script runs as a lightning-local
# Work (its directory is on PYTHONPATH and LIGHTNING_STATE_URL is set).
try:
    from lightning_state import report as _report
except ImportError:
    _report = None

CLASSES = [str(d) for d in range(10)]
IMAGE_SHAPE = (8, 8)
# Pixel values of the digits dataset are 0..16; the model sees them divided by this.
PIXEL_MAX = 16.0
# How many held-out images go to samples.json.
SAMPLES = 20


def report_state(**fields: object) -> None:
    """Send live state to the app; a no-op outside one, and never fatal to training.

    Fields are a JSON merge patch: a None value would delete the key, so none is sent."""
    global _report
    if _report is None or not os.environ.get("LIGHTNING_STATE_URL"):
        return
    try:
        _report(**fields)
    except Exception as err:  # the app being unreachable must not cost the training run
        print(f"train.py: live state reporting failed, disabling it: {err}", file=sys.stderr, flush=True)
        _report = None


def load_data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The digits as float32 rows of 64 pixels in [0, 1]: (train x, train y, val x, val y).

    The split depends on the seed only, so every run (whatever its hyperparameters) is
    validated on the same images and the accuracies compare."""
    digits = load_digits()
    x = (digits.data / PIXEL_MAX).astype(np.float32)
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = len(x) // 5
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]


class DigitClassifier(L.LightningModule):
    def __init__(self, hidden: int = 64, lr: float = 0.01) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(
            nn.Linear(IMAGE_SHAPE[0] * IMAGE_SHAPE[1], hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, len(CLASSES)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self.log("val_loss", F.cross_entropy(logits, y), prog_bar=True)
        self.log("val_acc", (logits.argmax(dim=1) == y).float().mean(), prog_bar=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


class LiveProgress(L.Callback):
    """Prints one line per epoch and reports progress to the app (throttled per batch)."""

    def __init__(self, every_seconds: float = 0.25) -> None:
        self.every_seconds = every_seconds
        self.last_report = 0.0
        self.best_acc: float | None = None
        self.best_epoch: int | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        report_state(stage="training", max_epochs=trainer.max_epochs, total_steps=int(trainer.estimated_stepping_batches))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        now = time.monotonic()
        if now - self.last_report < self.every_seconds:
            return
        self.last_report = now
        loss = outputs["loss"].item() if isinstance(outputs, dict) else float(outputs)
        report_state(epoch=trainer.current_epoch, step=trainer.global_step, train_loss=round(loss, 5))

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        m = trainer.callback_metrics
        val_loss, val_acc = float(m["val_loss"]), float(m["val_acc"])
        train_loss = float(m["train_loss"]) if "train_loss" in m else None
        # The checkpoint callback runs after this hook, so fold this epoch in by hand.
        if self.best_acc is None or val_acc > self.best_acc:
            self.best_acc, self.best_epoch = val_acc, trainer.current_epoch
        print(
            f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs} step {trainer.global_step} "
            f"train_loss {train_loss if train_loss is None else round(train_loss, 4)} "
            f"val_loss {val_loss:.4f} val_acc {val_acc:.4f}",
            flush=True,
        )
        report_state(
            epoch=trainer.current_epoch,
            step=trainer.global_step,
            **({} if train_loss is None else {"train_loss": round(train_loss, 5)}),
            val_loss=round(val_loss, 5),
            val_acc=round(val_acc, 5),
            best_val_acc=round(self.best_acc, 5),
            best_epoch=self.best_epoch,
        )


class SaveOnSigterm(L.Callback):
    """Saves the full training state when Lightning stops for SIGTERM (a preemption notice).

    Lightning's own SIGTERM handler ends the step and raises SIGTERMException; the callbacks'
    on_exception runs before the trainer tears down, which is the moment to save."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.saved = False

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, SIGTERMException):
            return
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        tmp = self.path + ".tmp"
        trainer.save_checkpoint(tmp)
        os.replace(tmp, self.path)
        self.saved = True
        print(f"SIGTERM: saved a checkpoint at epoch {trainer.current_epoch} step {trainer.global_step} to {self.path}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    p.add_argument("--lr", type=float, default=0.01, help="Adam learning rate (default 0.01)")
    p.add_argument("--hidden", type=int, default=64, help="hidden units per layer (default 64)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--logdir", default=".", help="lightning_logs/ is created here (default .)")
    p.add_argument("--out", default="model.pt2", help="torch.export archive of the best model (default model.pt2)")
    p.add_argument("--metrics", default="metrics.json", help="final metrics as JSON (default metrics.json)")
    p.add_argument("--samples", default="samples.json", help=f"{SAMPLES} held-out images with labels (default samples.json)")
    p.add_argument("--checkpoint", help="on SIGTERM (a preemption notice), save the training state here and exit 143")
    p.add_argument("--resume-from", help="continue training from a checkpoint --checkpoint saved")
    args = p.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or args.hidden < 1:
        p.error("--epochs, --batch-size and --hidden must be >= 1")
    if not (math.isfinite(args.lr) and args.lr > 0):
        p.error(f"--lr must be a positive number, got {args.lr}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.monotonic()
    # Researchers' scripts carry this kind of noise filter; the toy data needs no workers.
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    L.seed_everything(args.seed, workers=True)
    report_state(stage="preparing data", step=0)

    x_train, y_train, x_val, y_val = load_data(args.seed)
    train_dl = DataLoader(
        TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train)), batch_size=args.batch_size, shuffle=True
    )
    val_dl = DataLoader(TensorDataset(torch.from_numpy(x_val), torch.from_numpy(y_val)), batch_size=512)
    with open(args.samples, "w") as f:
        json.dump(
            {"inputs": np.round(x_val[:SAMPLES], 4).tolist(), "labels": y_val[:SAMPLES].tolist(), "classes": CLASSES}, f
        )

    model = DigitClassifier(hidden=args.hidden, lr=args.lr)
    checkpoint = ModelCheckpoint(monitor="val_acc", mode="max", save_top_k=1, filename="best-{epoch}-{val_acc:.3f}")
    on_sigterm = SaveOnSigterm(args.checkpoint) if args.checkpoint else None
    trainer = L.Trainer(
        max_epochs=args.epochs,
        accelerator="cpu",
        devices=1,
        logger=TensorBoardLogger(save_dir=args.logdir, name="lightning_logs", default_hp_metric=False),
        callbacks=[checkpoint, LiveProgress(), *([on_sigterm] if on_sigterm else [])],
        log_every_n_steps=5,
        enable_progress_bar=sys.stderr.isatty(),
        deterministic=True,
    )
    if args.resume_from:
        print(f"resuming from {args.resume_from}", flush=True)
        report_state(stage="resuming")
    try:
        trainer.fit(model, train_dl, val_dl, ckpt_path=args.resume_from)
    except SIGTERMException:
        if on_sigterm and on_sigterm.saved:
            print("train.py: stopped by SIGTERM; resume with --resume-from " + args.checkpoint, flush=True)
        sys.exit(143)
    if trainer.interrupted:
        sys.exit("train.py: training was interrupted; no model exported")

    report_state(stage="exporting")
    best_path = checkpoint.best_model_path
    best = DigitClassifier.load_from_checkpoint(best_path) if best_path else model
    best.eval()
    input_dim = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
    # What a server needs to use the model and to say which model answered.
    meta = {
        "classes": CLASSES,
        "input_dim": input_dim,
        "image_shape": list(IMAGE_SHAPE),
        "input_scale": f"pixel / {PIXEL_MAX:g} (0..1)",
        "best_val_acc": float(checkpoint.best_model_score or 0.0),
        "hparams": {"epochs": args.epochs, "lr": args.lr, "hidden": args.hidden, "batch_size": args.batch_size},
        "run": os.path.basename(trainer.logger.log_dir),
        "trained_at": round(time.time(), 3),
    }
    # torch.export (TorchScript's successor): the server loads the graph and weights alone,
    # for any batch size, without importing this file.
    exported = torch.export.export(
        best.net, (torch.zeros(4, input_dim),), dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=65536)},)
    )
    torch.export.save(exported, args.out, extra_files={"meta.json": json.dumps(meta)})

    seconds = time.monotonic() - started
    metrics = {
        **meta,
        "best_checkpoint": os.path.relpath(best_path) if best_path else None,
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
        "log_dir": trainer.logger.log_dir,
        "train_seconds": round(seconds, 2),
    }
    with open(args.metrics, "w") as f:
        json.dump(metrics, f, indent=2)
    print(f"exported {args.out} (best val_acc {meta['best_val_acc']:.4f}) in {seconds:.1f} s", flush=True)
    report_state(stage="done", best_val_acc=round(meta["best_val_acc"], 5), train_seconds=round(seconds, 2))
    if math.isnan(meta["best_val_acc"]):
        sys.exit("train.py: validation accuracy is NaN; the run diverged (try a lower --lr)")


if __name__ == "__main__":
    main()
