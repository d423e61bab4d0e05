"""Run every benchmark in sequence and print one table: figure, target, met or not.

    .venv/bin/python -m bench.run_all [--only ingest worker ...]

`console` (bench.console_scale: 1M orders, 5M history rows) generates its data for minutes,
so it runs only when named: `--only console`, or `--with-console` to add it to the rest.
`history` (bench.history, issue 12's P5) runs by default, last: its first run generates a
1,000,000-order database (about 15 minutes here) and keeps it; later runs reuse it.

Each benchmark also writes bench/results/<name>.json; this writes bench/results/summary.json.
A benchmark that crashes is reported as such and the others still run.
"""

import argparse
import json
import traceback

from bench import (
    ack_latency,
    common,
    console_scale,
    end_to_end,
    history,
    ingest,
    memory,
    sustained,
    worker,
)

BENCHMARKS = {
    "ingest": ingest.run,
    "sustained": sustained.run,
    "ack_latency": ack_latency.run,
    "end_to_end": end_to_end.run,
    "worker": worker.run,
    "memory": memory.run,
    "console": console_scale.run,
    "history": history.run,
}
#: Run only when named: minutes of data generation.
LONG = ("console",)
#: Run unless --only names others: every benchmark but the long ones.
DEFAULT = [name for name in BENCHMARKS if name not in LONG]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), default=DEFAULT)
    parser.add_argument(
        "--with-console", action="store_true", help="also run console (minutes of data generation)"
    )
    args = parser.parse_args()
    names = args.only + (["console"] if args.with_console and "console" not in args.only else [])
    rows = []
    for name in names:
        common.log(f"===== {name} =====")
        sustained_run = next((r for r in rows if r["benchmark"] == "sustained"), None)
        try:
            if name == "memory" and sustained_run:
                result = memory.run(system=sustained_run["details"])
            else:
                result = BENCHMARKS[name]()
        except Exception as exc:
            traceback.print_exc()
            rows.append(
                {
                    "benchmark": name,
                    "label": f"CRASHED: {exc}"[:60],
                    "figure": None,
                    "target": "",
                    "met": False,
                }
            )
            continue
        rows += result if isinstance(result, list) else [result]
    print_table(rows)
    common.RESULTS.mkdir(parents=True, exist_ok=True)
    (common.RESULTS / "summary.json").write_text(json.dumps(rows, indent=2, default=str) + "\n")


def print_table(rows: list[dict]) -> None:
    print()
    print(f"{'benchmark':<14} {'measure':<40} {'figure':>10} {'target':>10}  met")
    print("-" * 84)
    for row in rows:
        figure = "-" if row["figure"] is None else f"{row['figure']:.4g}"
        met = "yes" if row["met"] else "NO"
        print(f"{row['benchmark']:<14} {row['label']:<40} {figure:>10} {row['target']:>10}  {met}")


if __name__ == "__main__":
    main()
