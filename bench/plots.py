"""Draw the trigger-path benchmark results (``bench/results/*.json``) as PNGs in ``bench/``.

Separate from the benchmarks so that a plot can be redrawn without re-measuring, and so that
the PNGs can only ever show what a results file holds. Every bar is a median over rounds and
every error bar spans the rounds' min to max; every target is drawn as a dashed line.

Run from the repository root: ``.venv/bin/python bench/plots.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
PUSHBRIDGE, PEER, OTHER = "#2b6cb0", "#a0a0a0", "#dd8452"
TARGET = {"color": "#c53030", "linestyle": "--", "linewidth": 1.2}


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def bars(axes: Axes, labels: list[str], spreads: list[dict[str, float]], colors: list[str], fmt: str) -> None:
    """Median bars with min-max whiskers, the median written above each bar."""
    medians = [s["median"] for s in spreads]
    errors = [[s["median"] - s["min"] for s in spreads], [s["max"] - s["median"] for s in spreads]]
    axes.bar(labels, medians, color=colors, yerr=errors, capsize=5, ecolor="#333333")
    for index, spread in enumerate(spreads):
        axes.annotate(
            fmt.format(spread["median"]),
            (index, spread["max"]),
            textcoords="offset points",
            xytext=(0, 4),
            ha="center",
            fontsize=9,
        )


def ratio_dots(axes: Axes, values: list[float], target: float, label: str, *, below: bool = False) -> None:
    """One dot per round, the median as a bar, the target as a dashed line."""
    axes.scatter(range(1, len(values) + 1), values, color=PUSHBRIDGE, zorder=3)
    median = sorted(values)[len(values) // 2]
    axes.axhline(median, color=PUSHBRIDGE, linewidth=1, label=f"median {median:.2f}")
    axes.axhline(target, **TARGET, label=f"target {'≤' if below else '≥'} {target:g}")
    axes.set_xlabel("round")
    axes.set_ylabel(label)
    axes.set_ylim(bottom=0)
    axes.legend(fontsize=8, loc="lower right" if not below else "upper right")


def subtitle(result: dict[str, Any]) -> str:
    machine = result["machine"]
    return f"{machine['cpu']}, {machine['cpus']} CPUs, Python {machine['python']}; {result['started']}"


def plot_trigger_throughput(result: dict[str, Any]) -> Path:
    summary = result["summary"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    names = ["pushbridge", "pusher SDK"]
    bars(left, names, [summary[n]["events_per_s"] for n in names], [PUSHBRIDGE, PEER], "{:,.0f}/s")
    left.set_ylabel("events per second (sync trigger, one channel)")
    left.set_title("Throughput")
    ratio_dots(right, [r["ratio"] for r in result["rounds"]], 1.0, "pushbridge / SDK, same round")
    right.set_title("Ratio per round")
    figure.suptitle(f"Benchmark 1: synchronous trigger throughput\n{subtitle(result)}", fontsize=10)
    return save(figure, "trigger_throughput.png")


def plot_background_dispatch(result: dict[str, Any]) -> Path:
    summary = result["summary"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    names = ["pushbridge background", "pusher SDK sync", "pusher SDK trigger_batch"]
    bars(
        left,
        ["pushbridge\nbackground", "SDK\nsync loop", "SDK trigger_batch\n(by hand)"],
        [summary[n]["events_per_s"] for n in names],
        [PUSHBRIDGE, PEER, OTHER],
        "{:,.0f}/s",
    )
    left.axhline(5 * summary["pusher SDK sync"]["events_per_s"]["median"], **TARGET, label="target: 5 x SDK sync")
    left.set_ylabel("events per second")
    left.legend(fontsize=8)
    left.set_title("Throughput")
    calls = summary["pushbridge background"]
    metrics = [("call_us_p50", "p50"), ("call_us_mean", "mean\n(burst)"), ("call_us_p99", "p99")]
    bars(right, [label for _, label in metrics], [calls[m] for m, _ in metrics], [PUSHBRIDGE] * 3, "{:.1f} µs")
    right.axhline(20, **TARGET, label="target ≤ 20 µs")
    right.set_ylabel("µs per trigger() on the caller's thread")
    right.legend(fontsize=8)
    right.set_title("Cost of one trigger() call")
    figure.suptitle(f"Benchmark 2: background dispatch\n{subtitle(result)}", fontsize=10)
    return save(figure, "background_dispatch.png")


def plot_latency(result: dict[str, Any]) -> Path:
    summary = result["summary"]
    figure, axes = plt.subplots(figsize=(8, 4.5))
    colors = {"pushbridge sync": PUSHBRIDGE, "pushbridge background": "#38a169", "pusher SDK": PEER}
    for name, color in colors.items():
        points = summary[name]["cdf"]
        xs = [p[0] for p in points]
        tail = [max(1e-5, 1 - p[1]) for p in points]
        pooled = summary[name]["pooled"]
        axes.plot(
            xs,
            tail,
            color=color,
            label=f"{name}: p50 {pooled['p50_ms']:.1f}, p99 {pooled['p99_ms']:.1f}, max {pooled['max_ms']:.1f} ms",
        )
    axes.axvline(10, **TARGET, label="target: p99 ≤ 10 ms")
    axes.axhline(0.01, color="#999999", linewidth=0.8, linestyle=":")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_ylim(1e-5, 1.05)
    axes.set_xlabel("latency, trigger() called → event in a pusher-js callback (ms)")
    axes.set_ylabel("fraction of deliveries slower (1 - CDF)")
    axes.legend(fontsize=8, loc="lower left")
    config = result["config"]
    figure.suptitle(
        f"Benchmark 3: end-to-end latency, {config['clients']} clients, {config['rate']:g} events/s, "
        f"{summary['pushbridge sync']['deliveries']:,} deliveries per sender\n{subtitle(result)}",
        fontsize=10,
    )
    return save(figure, "latency.png")


def plot_autopush(result: dict[str, Any]) -> Path:
    summary = result["summary"]
    configs = list(summary)
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.38
    for offset, (model, color) in enumerate([("unregistered", PEER), ("registered", PUSHBRIDGE)]):
        medians = [summary[c][model]["save_and_flush_us"]["median"] for c in configs]
        positions = [i + (offset - 0.5) * width for i in range(len(configs))]
        left.bar(positions, medians, width, color=color, label=f"{model} model")
    left.set_xticks(range(len(configs)), [c.replace(" / ", "\n") for c in configs], fontsize=8)
    left.set_ylabel("µs per save (own transaction), incl. flush")
    left.set_yscale("log")
    left.legend(fontsize=8)
    left.set_title("Cost of one save")
    ratios = [summary[c]["ratio_save_and_flush_us"] for c in configs]
    bars(right, [c.replace(" / ", "\n") for c in configs], ratios, [PUSHBRIDGE] * len(configs), "{:.2f}x")
    right.axhline(1.2, **TARGET, label="target ≤ 1.2x")
    right.set_ylabel("registered / unregistered, same round")
    right.tick_params(axis="x", labelsize=8)
    right.legend(fontsize=8)
    right.set_title("Overhead ratio")
    figure.suptitle(f"Benchmark 4: model auto-push overhead\n{subtitle(result)}", fontsize=10)
    return save(figure, "autopush.png")


def save(figure: Any, name: str) -> Path:
    figure.tight_layout()
    path = BENCH / name
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def main() -> int:
    drawn = []
    for name, draw in (
        ("trigger_throughput", plot_trigger_throughput),
        ("background_dispatch", plot_background_dispatch),
        ("latency", plot_latency),
        ("autopush", plot_autopush),
    ):
        result = load(name)
        if result is None:
            print(f"no bench/results/{name}.json; skipped", file=sys.stderr)
            continue
        drawn.append(draw(result))
    for path in drawn:
        print(f"wrote {path.relative_to(BENCH.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
