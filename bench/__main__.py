"""Command line: `python -m bench {ack,throughput,scaling,delivery,all} [--smoke] [--json PATH]`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import BenchmarkError, Result, load_average, machine_description

BENCHMARKS = ("ack", "throughput", "scaling", "delivery")
DATABASES = ("sqlite", "postgresql")


def database_list(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in DATABASES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"invalid database list {text!r}: use sqlite and/or postgresql, comma-separated"
        )
    return names


def size_list(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 100:
        raise argparse.ArgumentTypeError(
            f"invalid size list {text!r}: give request counts of at least 100, such as 1000,10000"
        )
    return sizes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure Cosigner against baselines measured in the same run.",
    )
    parser.add_argument("benchmark", choices=(*BENCHMARKS, "all"), help="which benchmark to run")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="run for seconds with tiny sizes, only to prove that the benchmark works",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--databases",
        type=database_list,
        default=list(DATABASES),
        help="databases for throughput, scaling and delivery, comma-separated "
        "(default: sqlite,postgresql; PostgreSQL is skipped when it does not answer, "
        "unless COSIGNER_REQUIRE_POSTGRES=1)",
    )
    parser.add_argument(
        "--scaling-sizes",
        type=size_list,
        metavar="N,N,…",
        help="request counts for the scaling benchmark "
        "(default: 1000,10000,100000,1000000; 1000,5000 with --smoke)",
    )
    return parser


def run_one(name: str, args: argparse.Namespace) -> Result:
    databases = args.databases
    started = time.monotonic()
    if name == "ack":
        from bench import ack

        result = asyncio.run(ack.run(args.smoke))
    elif name == "throughput":
        from bench import throughput

        result = asyncio.run(throughput.run(args.smoke, databases))
    elif name == "scaling":
        from bench import scaling

        result = scaling.run(args.smoke, databases, args.scaling_sizes)
    else:
        from bench import delivery

        result = asyncio.run(delivery.run(args.smoke, databases))
    result.seconds = time.monotonic() - started
    return result


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    names = BENCHMARKS if args.benchmark == "all" else (args.benchmark,)
    machine = machine_description()
    print(
        f"machine: {machine['cpus']} CPUs ({machine['cpu_model']}), {machine['memory']}, "
        f"Python {machine['python']}, SQLite {machine['sqlite']}, "
        f"PostgreSQL {machine['postgresql']}; load average {machine['load_average_at_start']}",
        flush=True,
    )
    output: dict[str, Any] = {"machine": machine, "results": [], "failures": []}
    failed = False
    for name in names:
        print(f"\nrunning {name}{' (smoke)' if args.smoke else ''}…", flush=True)
        try:
            result = run_one(name, args)
        except BenchmarkError as error:
            failed = True
            print(f"error: benchmark {name} failed: {error}", file=sys.stderr, flush=True)
            output["failures"].append({"name": name, "error": str(error)})
            continue
        print(result.render(), flush=True)
        failed = failed or bool(result.errors)
        print(
            f"({name} took {result.seconds:.0f} s; load average now {load_average()})", flush=True
        )
        output["results"].append(result.to_json())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(output, indent=2, default=str) + "\n")
        print(f"\nwrote {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
