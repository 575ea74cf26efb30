"""The one command that reproduces every benchmark table and plot.

::

    .venv/bin/python bench/run.py            # everything, ~10 minutes on 2 cores
    .venv/bin/python bench/run.py --quick    # smoke run of the same pipeline, ~1 minute
    .venv/bin/python bench/run.py --skip-fanout --only latency,autopush

It runs, each in its own process (so that one benchmark's threads, sockets and imported
modules cannot disturb the next):

1. ``trigger_throughput.py``  sync trigger, pushbridge vs the ``pusher`` SDK;
2. ``background_dispatch.py``  background dispatch and the cost of one ``trigger()``;
3. ``latency.py``             trigger() to 100 pusher-js clients at 200 events/s;
4. ``autopush.py``            registered vs unregistered model saves;
5. ``async_trigger.py``       the async API against the SDK's aiohttp backend (its own table);
6. ``fanout.py``              the server fan-out benchmark, which rewrites its own table;

then ``plots.py`` (the PNGs in ``bench/``), and finally rewrites the tables of
``BENCHMARKS.md`` between its ``<!-- trigger-tables:begin -->`` and ``<!-- trigger-tables:end -->``
markers from the JSON results (``--markdown`` names another file with the same markers).
Prose outside the markers is left alone. The same tables are also written to
``bench/results/trigger_tables.md``.

Every child has a time limit; a failed benchmark is reported and the others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import replace_between_markers

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
SCRIPTS = ("trigger_throughput", "background_dispatch", "latency", "autopush", "async_trigger")


def run(argv: list[str], timeout: float) -> bool:
    print(f"\n$ {' '.join(argv)}", flush=True)
    started = time.monotonic()
    try:
        done = subprocess.run(argv, cwd=ROOT, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        print(f"!! timed out after {timeout:.0f} s", flush=True)
        return False
    print(f"   ({time.monotonic() - started:.0f} s, exit {done.returncode})", flush=True)
    return done.returncode == 0


def ensure_pusher_js() -> None:
    """The latency clients need pusher-js; install it the way the test suite does."""
    if (ROOT / "tests" / "node" / "node_modules" / "pusher-js").is_dir() or shutil.which("npm") is None:
        return
    run(["npm", "ci", "--prefix", "tests/node", "--no-audit", "--no-fund", "--loglevel=error"], 600)


# -- tables -------------------------------------------------------------------------------------


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def cell(spread: dict[str, float], fmt: str = "{:,.0f}") -> str:
    """``median (min-max)``: every cell is a median over rounds with its spread."""
    return f"{fmt.format(spread['median'])} ({fmt.format(spread['min'])}-{fmt.format(spread['max'])})"


def verdict(met: bool) -> str:
    return "**met**" if met else "**not met**"


def machine_table(result: dict[str, Any]) -> str:
    rows = "\n".join(f"| {key} | {value} |" for key, value in result["machine"].items())
    return f"| | |\n| --- | --- |\n{rows}\n"


def throughput_table(result: dict[str, Any]) -> str:
    s = result["summary"]
    config = result["config"]
    lines = [
        f"{config['rounds']} rounds x {config['events']:,} events per client, ~200-byte payload, one channel; "
        "`median (min-max)` over rounds. Other processes on the machine used "
        f"{cell(s['pushbridge']['other_processes_cpus'], '{:.2f}')} CPUs during the pushbridge blocks and "
        f"{cell(s['pusher SDK']['other_processes_cpus'], '{:.2f}')} during the SDK's.",
        "",
        "| client | events/s | client CPU µs/event | server CPU µs/event |",
        "| --- | --- | --- | --- |",
    ]
    for name in ("pushbridge", "pusher SDK"):
        lines.append(
            f"| {name} | {cell(s[name]['events_per_s'])} | {cell(s[name]['client_cpu_us_per_event'])} "
            f"| {cell(s[name]['server_cpu_us_per_event'])} |"
        )
    lines += [
        "",
        f"pushbridge / SDK, per round: **{cell(s['ratio'], '{:.2f}')}**; target ≥ 1.0: {verdict(s['met'])}.",
    ]
    return "\n".join(lines) + "\n"


def background_table(result: dict[str, Any]) -> str:
    s = result["summary"]
    config = result["config"]
    bg = s["pushbridge background"]
    lines = [
        f"{config['rounds']} rounds; pushbridge: a burst of {config['events']:,} `trigger()` calls then `flush()`; "
        f"SDK: {config['sdk_events']:,} synchronous `trigger` calls, and the same events by hand in "
        "`trigger_batch` calls of 10.",
        "",
        "| sender | events/s (until the server acknowledged the last) |",
        "| --- | --- |",
    ]
    for name in ("pushbridge background", "pusher SDK sync", "pusher SDK trigger_batch"):
        lines.append(f"| {name} | {cell(s[name]['events_per_s'])} |")
    lines += [
        "",
        f"pushbridge background / SDK sync loop, per round: **{cell(s['ratio_vs_sdk_sync'], '{:.1f}')}x**; "
        f"target ≥ 5x: {verdict(s['met']['throughput'])}. "
        f"(Against hand-batched SDK calls: {cell(s['ratio_vs_sdk_batch'], '{:.2f}')}x.)",
        "",
        f"Cost of one `trigger()` on the calling thread (timer overhead {result['timer_overhead_ns']:.0f} ns, "
        "included):",
        "",
        "| p50 | p99 | mean over the burst | max |",
        "| --- | --- | --- | --- |",
        f"| {cell(bg['call_us_p50'], '{:.1f}')} µs | {cell(bg['call_us_p99'], '{:.1f}')} µs "
        f"| {cell(bg['call_us_mean'], '{:.1f}')} µs | {cell(bg['call_us_max'], '{:,.0f}')} µs |",
        "",
        f"Target ≤ 20 µs per call: p50 {verdict(s['met']['call_cost_p50'])}, "
        f"mean over a burst {verdict(s['met']['call_cost_mean'])}.",
    ]
    return "\n".join(lines) + "\n"


def latency_table(result: dict[str, Any]) -> str:
    s = result["summary"]
    config = result["config"]
    lines = [
        f"{config['clients']} pusher-js clients, {config['rate']:g} events/s for {config['seconds']:g} s per sender "
        f"and round, {config['rounds']} rounds; percentiles over every delivery of every round "
        f"(clock check: Node's reading fell within Python's, round trip "
        f"{result['clock_check']['round_trip_us_median']:.0f} µs).",
        "",
        "| sender | p99 ms, median round (min-max) | p50 ms | p99 ms | p99.9 ms | max ms "
        "| first client p50 / p99 ms | delivered | server CPU | clients CPU | other processes, CPUs "
        "| trigger() p50 / p99 µs |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in ("pushbridge sync", "pushbridge background", "pusher SDK"):
        entry = s[name]
        pooled, first, per_round = entry["pooled"], entry["first_client"], entry["per_round"]
        delivered = entry["deliveries"]
        lines.append(
            f"| {name} | **{cell(per_round['p99_ms'], '{:.2f}')}** | {pooled['p50_ms']:.2f} | {pooled['p99_ms']:.2f} "
            f"| {pooled['p999_ms']:.2f} | {pooled['max_ms']:.1f} "
            f"| {first['p50_ms']:.2f} / {first['p99_ms']:.2f} | {delivered:,} (lost {entry['lost']}) "
            f"| {per_round['server_cpu_share']['median']:.0%} | {per_round['clients_cpu_share']['median']:.0%} "
            f"| {cell(per_round['other_processes_cpus'], '{:.2f}')} "
            f"| {per_round['call_us_p50']['median']:,.0f} / {per_round['call_us_p99']['median']:,.0f} |"
        )
    met = s["met"]
    lines += [
        "",
        "Target p99 ≤ 10 ms (median round): "
        + ", ".join(f"{name} {verdict(ok)}" for name, ok in met.items())
        + "; over all deliveries pooled: "
        + ", ".join(f"{name} {verdict(ok)}" for name, ok in s["met_pooled"].items())
        + ".",
    ]
    return "\n".join(lines) + "\n"


def autopush_table(result: dict[str, Any]) -> str:
    s = result["summary"]
    config = result["config"]
    lines = [
        f"{config['rounds']} rounds x {config['saves']:,} saves per model, one transaction per save; µs per save, "
        "`median (min-max)`.",
        "",
        "| backend / database | unregistered | registered | registered incl. flush | ratio | ratio incl. flush "
        "| overhead µs/save | CPU µs/save unregistered / registered | CPU ratio |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, entry in s.items():
        lines.append(
            f"| {key} | {cell(entry['unregistered']['save_us'])} | {cell(entry['registered']['save_us'])} "
            f"| {cell(entry['registered']['save_and_flush_us'])} | {cell(entry['ratio_save_us'], '{:.2f}')} "
            f"| **{cell(entry['ratio_save_and_flush_us'], '{:.2f}')}** | {cell(entry['overhead_save_and_flush_us'])} "
            f"| {entry['unregistered']['cpu_us']['median']:,.0f} / {entry['registered']['cpu_us']['median']:,.0f} "
            f"| {cell(entry['ratio_cpu_us'], '{:.2f}')} |"
        )
    target = result["target"]
    lines += ["", f"Target ≤ {target['ratio']}x, judged on {target['judged_on']}: {verdict(target['met'])}."]
    return "\n".join(lines) + "\n"


def tables(where: Path) -> str:
    """All four sections; plot links relative to ``where``, the directory of the Markdown file."""
    sections = []
    first = None
    for name, title, render in (
        ("trigger_throughput", "1. Trigger throughput (sync)", throughput_table),
        ("background_dispatch", "2. Background dispatch", background_table),
        ("latency", "3. End-to-end latency", latency_table),
        ("autopush", "4. Model auto-push overhead", autopush_table),
    ):
        result = load(name)
        if result is None:
            sections.append(f"### {title}\n\nNo results: `bench/results/{name}.json` is missing.\n")
            continue
        first = first or result
        link = os.path.relpath(BENCH / f"{name}.png", where)
        sections.append(
            f"### {title}\n\nCommand: `{result['command']}` ({result['started']}). "
            f"Plot: [`bench/{name}.png`]({link}).\n\n![{title}]({link})\n\n{render(result)}"
        )
    head = ""
    if first is not None:
        head = f"Machine and versions (from `bench/results/{first['benchmark']}.json`):\n\n{machine_table(first)}\n"
    return head + "\n".join(sections)


def write_tables(markdown: Path) -> None:
    (RESULTS / "trigger_tables.md").write_text(tables(RESULTS))
    if replace_between_markers(markdown, "trigger-tables", tables(markdown.resolve().parent)):
        print(f"updated the tables in {markdown.relative_to(ROOT) if markdown.is_relative_to(ROOT) else markdown}")
    else:
        print(f"{markdown} has no trigger-tables markers; tables are in bench/results/trigger_tables.md")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run of every benchmark")
    parser.add_argument("--only", default=",".join(SCRIPTS), help=f"comma-separated subset of {', '.join(SCRIPTS)}")
    parser.add_argument("--skip-fanout", action="store_true", help="do not run bench/fanout.py")
    parser.add_argument(
        "--markdown", type=Path, default=ROOT / "BENCHMARKS.md", help="file whose tables to rewrite (BENCHMARKS.md)"
    )
    parser.add_argument("--tables-only", action="store_true", help="only redraw plots and rewrite tables")
    args = parser.parse_args(argv)
    python = sys.executable
    failed = []
    started = time.monotonic()
    if not args.tables_only:
        ensure_pusher_js()
        chosen = [name.strip() for name in args.only.split(",") if name.strip()]
        for name in chosen:
            if name not in SCRIPTS:
                parser.error(f"unknown benchmark {name!r}")
            if not run([python, f"bench/{name}.py", *(["--quick"] if args.quick else [])], timeout=900):
                failed.append(name)
        fanout = [
            python,
            "bench/fanout.py",
            "--markdown",
            os.path.relpath(args.markdown, ROOT),
            *(["--quick"] if args.quick else []),
        ]
        if not args.skip_fanout and (BENCH / "fanout.py").exists() and not run(fanout, timeout=900):
            failed.append("fanout")
    if not run([python, "bench/plots.py"], timeout=300):
        failed.append("plots")
    write_tables(args.markdown)
    print(f"\nall done in {time.monotonic() - started:.0f} s" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
