#!/usr/bin/python3
"""Checks a venus-bench JSON file for sane figures (not for speed): every target that was asked
for is there, every figure a target did not declare unavailable is a positive finite number,
p50 <= p99, and the latency samples behind them exist. Exit status 1 with one line per problem.

usage: check_bench_json.py RESULT.json --targets NAME... [--require-all NAME]
       [--allow-unavailable NAME:WORKLOAD]"""
import argparse
import json
import math
import sys

# Which workload each figure belongs to (a target may declare a workload unavailable).
WORKLOAD = {
    "throughput": "throughput", "throughput_context": "throughput_context",
    "round_trip_p50": "round_trip", "round_trip_p99": "round_trip",
    "round_trip_context_p50": "round_trip_context", "round_trip_context_p99": "round_trip_context",
    "submit_fence_p50": "submit_fence", "submit_fence_p99": "submit_fence",
    "bulk": "bulk",
    "context_start_p50": "context_start", "context_start_p99": "context_start",
    "context_start_paced_p50": "context_start_paced",
    "context_start_paced_p99": "context_start_paced",
    "context_ready_p50": "context_ready", "context_ready_p99": "context_ready",
    "rss_idle": "memory_idle", "pss_idle": "memory_idle",
    "rss_after": "memory_after", "pss_after": "memory_after",
    "spare_pss": "memory_idle",
    "pss_many": "memory_many",
}
# Figures only some servers have (a spare worker forked ahead of time).
OPTIONAL_FIGURES = {"spare_pss"}
NATIVE_FIGURES = {"throughput", "round_trip_p50", "round_trip_p99", "submit_fence_p50",
                  "submit_fence_p99", "bulk"}
SAMPLES = {"round_trip": "round_trip_us", "round_trip_context": "round_trip_context_us",
           "submit_fence": "submit_fence_us",
           "context_start": "context_start_ms", "context_start_paced": "context_start_paced_ms",
           "context_ready": "context_ready_ms"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("json")
    ap.add_argument("--targets", nargs="+", required=True)
    ap.add_argument("--require-all", action="append", default=[],
                    help="a target that must produce every figure (none unavailable)")
    ap.add_argument("--allow-unavailable", action="append", default=[],
                    help="TARGET:WORKLOAD that --require-all lets be unavailable")
    args = ap.parse_args()
    with open(args.json) as f:
        doc = json.load(f)
    problems = []
    by_name = {t["name"]: t for t in doc["targets"]}
    for name in args.targets:
        t = by_name.get(name)
        if t is None:
            problems.append(f"{name}: missing from the results")
            continue
        unavailable = t.get("unavailable", {})
        allowed = {a.split(":", 1)[1] for a in args.allow_unavailable
                   if a.split(":", 1)[0] == name}
        missing = {k: v for k, v in unavailable.items() if k not in allowed}
        if name in args.require_all and missing:
            problems.append(f"{name}: unavailable workloads {missing}")
        if "server" in unavailable or "native" in unavailable:
            problems.append(f"{name}: did not run: {unavailable}")
            continue
        expected = (NATIVE_FIGURES if t["kind"] == "native"
                    else (set(WORKLOAD) - OPTIONAL_FIGURES) | (OPTIONAL_FIGURES & set(t["figures"])))
        figures = t["figures"]
        if set(figures) != expected:
            problems.append(f"{name}: figures {sorted(figures)} instead of {sorted(expected)}")
        for key in expected & set(figures):
            value = figures[key]["value"]
            if WORKLOAD[key] in unavailable:
                if value is not None:
                    problems.append(f"{name}: {key} has a value but its workload is unavailable")
                continue
            if value is None or not math.isfinite(value) or value <= 0:
                problems.append(f"{name}: {key} = {value!r} is not a positive finite number")
        for workload, samples_key in SAMPLES.items():
            if workload in unavailable or (t["kind"] == "native" and
                                           workload in ("context_start", "context_start_paced",
                                                        "context_ready", "round_trip_context")):
                continue
            samples = t["samples"][samples_key]
            if not samples or any(not math.isfinite(s) or s <= 0 for s in samples):
                problems.append(f"{name}: {samples_key} samples missing or not positive")
        for stem in ("round_trip", "round_trip_context", "submit_fence", "context_start",
                     "context_start_paced", "context_ready"):
            p50 = figures.get(stem + "_p50", {}).get("value")
            p99 = figures.get(stem + "_p99", {}).get("value")
            if p50 is not None and p99 is not None and p50 > p99:
                problems.append(f"{name}: {stem} p50 {p50} > p99 {p99}")
        for phase in ("memory_idle", "memory_after"):
            if phase in unavailable or t["kind"] == "native":
                continue
            for m in t["per_round"][phase]:
                if m["processes"] < 1 or m["pss_kib"] <= 0 or m["rss_kib"] < m["pss_kib"]:
                    problems.append(f"{name}: {phase} {m} is not a plausible worker")
        if "memory_many" not in unavailable and t["kind"] != "native":
            for m in t["per_round"]["memory_many_per_context"]:
                # Several contexts' workers, averaged: more processes than one context has.
                if m["processes"] < 2 or m["pss_kib"] <= 0 or m["rss_kib"] < m["pss_kib"]:
                    problems.append(f"{name}: memory_many {m} is not plausible for many workers")
    if not doc.get("goals"):
        problems.append("no goals reported")
    for p in problems:
        print("check_bench_json: " + p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
