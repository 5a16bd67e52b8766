"""How the served models follow a population that writes unlike MNIST: ``make learning-curve``.

``python -m worker.trainer.tools.learning_curve curve --mnist mnist.npz`` lets 30 simulated
writers (``worker.trainer.tools.population``) collect 0, 100, 300, 1,000 and 3,000 digits into a
fresh local store, runs the real fine-tune round after each stage, and measures the
served models (a drawing refused at a version's threshold is an error) on 14 other
writers of that population and on MNIST test digits the gate never sees (test digits 2,000
onwards; the gate uses the first 2,000). ``experiments`` runs one round on 1,000 digits per
recipe variant and reports what each does to the candidate. Both write JSON beside a plot
or a table; docs/learning.md and the model card show them.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from shared import answers, registry
from shared.dataset import samples
from shared.names import MODEL_NAMES
from shared.settings import Settings
from shared.storage import LocalStore, Store
from worker.lite_model import LiteModel
from worker.trainer.fine_tuning import RECIPES, Recipe, run_fine_tune
from worker.trainer.mnist import Mnist, load_mnist
from worker.trainer.tools.model_card import EXPERIMENTS_FILE, model_card
from worker.trainer.tools.population import Drawings, draw

PROG = "python -m worker.trainer.tools.learning_curve"
STAGES = (0, 100, 300, 1000, 3000)
COLLECTORS = list(range(30))
OTHER_WRITERS = list(range(100, 114))
#: MNIST test digits from here on are never seen by the gate (it uses the first 2,000).
MNIST_UNSEEN_FROM = 2000


def both(recipe: Recipe) -> dict[str, Recipe]:
    return {name: recipe for name in MODEL_NAMES}


#: Recipe variants tried, in the order they were tried, by name: each model's recipe.
VARIANTS: dict[str, dict[str, Recipe]] = {
    "labels, 3 epochs, 3e-5 (the first recipe)": both(Recipe()),
    "distil replay, 3 epochs, 3e-5": both(Recipe(distill=True)),
    "distil, 3 epochs, 1e-4": both(Recipe(distill=True, learning_rate=1e-4)),
    "distil, 3 epochs, 1e-4, head only": both(
        Recipe(distill=True, learning_rate=1e-4, train="head")
    ),
    "labels, 3 epochs, 1e-4, head only": both(Recipe(learning_rate=1e-4, train="head")),
    "distil, 5 epochs, 3e-4": both(Recipe(distill=True, learning_rate=3e-4, epochs=5)),
    "distil, 5 epochs, 1e-3, weights 0.5": both(
        Recipe(distill=True, learning_rate=1e-3, epochs=5, weight_interpolation=0.5)
    ),
    "distil, 5 epochs, 3e-4, weights 0.6 (chosen: RECIPES)": RECIPES,
    "distil, 5 epochs, 3e-4, replay 16:1, weights 0.7": both(
        Recipe(
            distill=True,
            learning_rate=3e-4,
            epochs=5,
            replay_per_sample=16,
            weight_interpolation=0.7,
        )
    ),
}


def populations(mnist: Mnist, collected: int, seed: int) -> tuple[Drawings, Drawings]:
    """Digits the collectors draw (from MNIST training digits) and the other writers' test set."""
    train = draw(mnist.x_train[:collected], mnist.y_train[:collected], COLLECTORS, seed)
    x_test = mnist.x_test[MNIST_UNSEEN_FROM : MNIST_UNSEEN_FROM + 100 * len(OTHER_WRITERS)]
    y_test = mnist.y_test[MNIST_UNSEEN_FROM : MNIST_UNSEEN_FROM + 100 * len(OTHER_WRITERS)]
    return train, draw(x_test, y_test, OTHER_WRITERS, seed)


def collect(store: Store, drawings: Drawings, start: int, stop: int) -> set[str]:
    """Store drawings[start:stop] as collected samples, each writer a client of its own."""
    ids = set()
    for index in range(start, min(stop, len(drawings.y))):
        sample_id = f"{index:08x}{int(drawings.writers[index]):024x}"
        meta = samples.new_meta(
            int(drawings.y[index]), "collect", f"writer-{int(drawings.writers[index]):02d}"
        )
        samples.write_sample(store, sample_id, drawings.x[index], meta)
        ids.add(sample_id)
    return ids


def accuracy(store: Store, name: str, version: int, x: np.ndarray, y: np.ndarray) -> float:
    """As the version serves: a drawing it refuses at its own threshold is an error."""
    key = registry.version_key(name, version, "model.tflite")
    threshold = answers.threshold_of(registry.read_metrics(store, name, version))
    outputs = LiteModel(store.get_bytes(key)).predict(x)
    return float(np.mean(answers.predicted_labels(outputs, threshold) == y))


def measure(store: Store, versions: dict[str, int], test: Drawings, mnist: Mnist) -> dict:
    """Accuracy of the given versions on the other writers and on unseen MNIST test digits."""
    x_mnist, y_mnist = mnist.x_test[MNIST_UNSEEN_FROM:], mnist.y_test[MNIST_UNSEEN_FROM:]
    return {
        name: {
            "version": version,
            "population": accuracy(store, name, version, test.x, test.y),
            "mnist": accuracy(store, name, version, x_mnist, y_mnist),
        }
        for name, version in versions.items()
    }


def fine_tune_round(store: Store, new_ids: set[str], weights_dir: str, recipes: dict) -> dict:
    """The real round, as the trainer runs it on the replay set; it times itself (``seconds``)."""
    return run_fine_tune(store, "", weights_dir, lambda *_: None, new_ids=new_ids, recipes=recipes)


def curve(mnist: Mnist, stages: tuple[int, ...], weights_dir: str, seed: int) -> list[dict]:
    """One row per stage: digits collected, the round's outcome and the served accuracies."""
    collected, test = populations(mnist, max(stages), seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="digits-curve-") as tmp:
        store = LocalStore(tmp)
        served = registry.ensure_initial_versions(store, weights_dir)
        previous = 0
        for stage in stages:
            row: dict[str, Any] = {"collected": stage}
            if stage > previous:
                new_ids = collect(store, collected, previous, stage)
                outcome = fine_tune_round(store, new_ids, weights_dir, RECIPES)
                row["round"] = {n: m["outcome"] for n, m in outcome["models"].items()}
                row["seconds"] = outcome["seconds"]
                served = registry.read_manifest(store) or served
            row["served"] = measure(store, served, test, mnist)
            rows.append(row)
            previous = stage
            print(json.dumps(row), flush=True)
    return rows


def experiments(mnist: Mnist, collected: int, weights_dir: str, seed: int) -> list[dict]:
    """One round on ``collected`` digits per recipe variant: what the candidate gains and loses."""
    drawings, test = populations(mnist, collected, seed)
    rows = []
    for label, recipes in VARIANTS.items():
        with tempfile.TemporaryDirectory(prefix="digits-experiment-") as tmp:
            store = LocalStore(tmp)
            parents = registry.ensure_initial_versions(store, weights_dir)
            new_ids = collect(store, drawings, 0, collected)
            outcome = fine_tune_round(store, new_ids, weights_dir, recipes)
            candidates = {n: m["version"] for n, m in outcome["models"].items()}
            before, after = (
                measure(store, parents, test, mnist),
                measure(store, candidates, test, mnist),
            )
        row: dict[str, Any] = {"recipe": label, "seconds": outcome["seconds"], "models": {}}
        for name in MODEL_NAMES:
            row["models"][name] = {
                "population_gain": after[name]["population"] - before[name]["population"],
                "mnist_change": after[name]["mnist"] - before[name]["mnist"],
                "recipe": asdict(recipes[name]),
                "gate": outcome["models"][name]["outcome"],
                "holdout": outcome["models"][name]["holdout"],
            }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def plot(rows: list[dict], path: Path) -> None:
    """Accuracy on the other writers and on MNIST against digits collected, both models."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    collected = [row["collected"] for row in rows]
    figure, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for axis, key, title in (
        (axes[0], "population", "other writers of the population"),
        (axes[1], "mnist", "MNIST test (digits the gate never sees)"),
    ):
        for name in MODEL_NAMES:
            values = [100 * row["served"][name][key] for row in rows]
            axis.plot(collected, values, marker="o", label=name.upper())
        axis.set_xscale("symlog", linthresh=100)
        axis.set_xticks(collected, [str(c) for c in collected])
        axis.set(title=title, xlabel="digits collected", ylabel="accuracy of the served model (%)")
        axis.grid(alpha=0.3)
        axis.legend()
    figure.savefig(path, dpi=110)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    parser.add_argument("command", choices=["curve", "experiments"])
    parser.add_argument("--mnist", help="mnist.npz path (default: MNIST_PATH, else keras)")
    parser.add_argument("--stages", default=",".join(map(str, STAGES)))
    parser.add_argument("--collected", type=int, default=1000, help="digits per experiment")
    parser.add_argument(
        "--out",
        help="directory for the JSON and the plot (default: docs/ for the curve, "
        "models/ for the experiments, whose table goes into MODEL_CARD.md there)",
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings.from_env(require_redis=False)
    mnist = load_mnist(args.mnist or settings.mnist_path or None)
    out = Path(args.out or ("docs" if args.command == "curve" else settings.weights_dir))
    out.mkdir(parents=True, exist_ok=True)
    if args.command == "curve":
        stages = tuple(int(s) for s in args.stages.split(","))
        rows = curve(mnist, stages, settings.weights_dir, args.seed)
        (out / "learning-curve.json").write_text(json.dumps(rows, indent=1) + "\n")
        plot(rows, out / "learning-curve.png")
    else:
        rows = experiments(mnist, args.collected, settings.weights_dir, args.seed)
        (out / EXPERIMENTS_FILE).write_text(json.dumps(rows, indent=1) + "\n")
        if (out / "MODEL_CARD.md").exists():
            (out / "MODEL_CARD.md").write_text(model_card(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
