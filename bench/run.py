"""Run benchmarks and rewrite their sections of docs/BENCHMARKS.md: ``python -m bench.run [NAME ...]``."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable

from bench import (
    api_load,
    batched_errors,
    checkpoint_cost,
    concurrent_clients,
    detection,
    escalation,
    evidence_size,
    gpu_check,
    ledger_ingest,
    limited_networks,
    loopback_chain,
    performance,
    probe_classifier,
    receipt_cost,
    receipt_decoding,
    routing,
    simulation,
    swarm_decode,
    verification_cost,
    verification_load,
)
from bench.report import Section, write_sections

BENCHMARKS: dict[str, Callable[[], Section]] = {
    "ledger-ingest": ledger_ingest.run,
    "swarm-decode": swarm_decode.run,
    "receipt-cost": receipt_cost.run,
    "receipt-decoding": receipt_decoding.run,
    "verification-cost": verification_cost.run,
    "evidence-size": evidence_size.run,
    "routing": routing.run,
    "simulation": simulation.run,
    "api-load": api_load.run,
    "probe-classifier": probe_classifier.run,
    "escalation": escalation.run,
    "detection": detection.run,
    "gpu-check": gpu_check.run,
    "checkpoint-cost": checkpoint_cost.run,
    "limited-networks": limited_networks.run,
    "concurrent-clients": concurrent_clients.run,
    "loopback-chain": loopback_chain.run,
    "batched-errors": batched_errors.run,
    "verification-load": verification_load.run,
    "performance": performance.run,  # last: the opening table, from what the benchmarks above kept
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", choices=[*BENCHMARKS, []], help="benchmarks to run (default: all)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    names = args.names or list(BENCHMARKS)
    if "performance" not in names and any(name in performance.INPUTS for name in names):
        names.append("performance")  # its rows of those benchmarks change with them
    sections = []
    for name in names:
        logging.info("running %s ...", name)
        sections.append(BENCHMARKS[name]())
    write_sections(sections)
    logging.info("wrote %s", ", ".join(names))


if __name__ == "__main__":
    main()
