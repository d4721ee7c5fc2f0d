#!/usr/bin/python3
"""Plots a venus-bench JSON file: latency distributions (cumulative, log scale) and bars for
throughput, bulk transfer and worker memory. Run by venus-bench --png with Debian's
python3-matplotlib; usable by hand: venus_bench_plot.py RESULT.json OUT.png"""
import json
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("venus_bench_plot: needs python3-matplotlib (apt-get install python3-matplotlib)")


def cdf(ax, targets, key, title, unit, extra=None):
    drawn = False
    series = [(key, "", "-")]
    if extra:
        series.append((extra[0], ", " + extra[1], "--"))
    for t in targets:
        for k, suffix, style in series:
            samples = sorted(t["samples"].get(k) or [])
            if not samples:
                continue
            n = len(samples)
            ax.step(samples, [(i + 1) / n for i in range(n)], style, where="post",
                    label=t["name"] + suffix)
            drawn = True
    ax.set_title(title)
    ax.set_xlabel(unit + " (log)")
    ax.set_ylabel("fraction of samples")
    ax.grid(True, which="both", alpha=0.3)
    if drawn:
        ax.set_xscale("log")
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)


def bars(ax, targets, keys, title, unit):
    names = [t["name"] for t in targets]
    width = 0.8 / len(keys)
    for k, (key, label) in enumerate(keys):
        values = []
        for t in targets:
            fig = t["figures"].get(key)
            values.append(fig["value"] if fig and fig["value"] is not None else None)
        xs = [i + k * width for i in range(len(names))]
        # A figure a target could not produce gets no bar and an "n/a" label, never a zero.
        rects = ax.bar(xs, [v if v is not None else 0.0 for v in values], width, label=label)
        ax.bar_label(rects, labels=["%.3g" % v if v is not None else "n/a" for v in values],
                     fontsize="x-small")
    ax.set_xticks([i + width * (len(keys) - 1) / 2 for i in range(len(names))])
    ax.set_xticklabels(names, rotation=15, fontsize="small")
    ax.set_title(title)
    ax.set_ylabel(unit)
    if len(keys) > 1:
        ax.legend(fontsize="small")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: venus_bench_plot.py RESULT.json OUT.png")
    with open(sys.argv[1]) as f:
        doc = json.load(f)
    targets = doc["targets"]
    servers = [t for t in targets if t["kind"] == "server"]
    fig, axes = plt.subplots(2, 3, figsize=(17, 9.5))
    cdf(axes[0][0], targets, "round_trip_us", "round trip (command with a reply)", "us",
        extra=("round_trip_context_us", "SUBMIT_CMD"))
    cdf(axes[0][1], targets, "submit_fence_us", "empty submit + fence wait", "us")
    cdf(axes[0][2], servers, "context_start_ms",
        "context start: first reply back to back (solid), paced (dashed)", "ms",
        extra=("context_start_paced_ms", "paced"))
    bars(axes[1][0], targets, [("throughput", "ring"), ("throughput_context", "SUBMIT_CMD")],
         "command throughput (recorded commands)", "million commands/s")
    bars(axes[1][1], targets, [("bulk", "write, copy, read back")], "bulk transfer", "MB/s")
    bars(axes[1][2], servers,
         [("rss_idle", "RSS idle"), ("pss_idle", "PSS idle"), ("rss_after", "RSS after"),
          ("pss_after", "PSS after"), ("pss_many", "PSS, each of many")], "worker memory", "MiB")
    c = doc["config"]
    fig.suptitle("venus-bench: %d round(s), %.3g s / %d iterations per workload, target and round"
                 % (c["rounds"], c["seconds"], c["iterations"]))
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=100)


if __name__ == "__main__":
    main()
