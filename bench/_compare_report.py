"""Writes the speed benchmark's outputs: raw JSON, an SVG bar chart, PERFORMANCE.md.

Kept apart from bench/compare.py (which measures) so that the report can be regenerated from
bench/results/compare.json alone: `python3 bench/_compare_report.py [compare.json]`.
"""
import html
import json
import os
import sys

from _memory_report import ENGINE_COLOURS, ENGINE_LABELS, code, write_json

PEERS = ("tf", "ort", "opencv")
# The goals: pbmem's median latency <= 0.8x the fastest peer; conv-heavy models >= 60%
# of the machine's peak end to end.
LATENCY_GOAL = 0.8
PEAK_GOAL = 0.6
# SVG layout, in pixels.
LABEL_WIDTH = 170
BAR_AREA_WIDTH = 520
VALUE_WIDTH = 120
BAR_HEIGHT = 11
BAR_GAP = 2
GROUP_GAP = 12
TITLE_HEIGHT = 40
LEGEND_HEIGHT = 36
FONT = "font-family='sans-serif' font-size='11'"
TITLE_FONT = "font-family='sans-serif' font-size='13' font-weight='bold'"


# Everything below this line in PERFORMANCE.md is written by hand and kept by compare.py.
HAND_WRITTEN_MARKER = "<!-- Sections below are written by hand; bench/compare.py keeps them. -->"


def derive(entry, peak):
    """Adds pbmem's ratio to the fastest peer, its GFLOP/s and its fraction of the peak."""
    engines = entry["engines"]
    peers = {e: s["median_ms"] for e, s in engines.items() if e in PEERS and "median_ms" in s}
    ours = engines.get("pbmem", {}).get("median_ms")
    if peers:
        fastest = min(peers, key=peers.get)
        entry["fastest_peer"] = fastest
        entry["fastest_peer_ms"] = peers[fastest]
        if ours:
            entry["pbmem_over_fastest_peer"] = ours / peers[fastest]
    gflops = entry.get("flops", {}).get("gflops")
    if ours and gflops:
        entry["pbmem_gflops_per_s"] = gflops / (ours / 1e3)
        if peak.get("gflops_per_s"):
            entry["pbmem_fraction_of_peak"] = entry["pbmem_gflops_per_s"] / peak["gflops_per_s"]
    return entry


def ms(value):
    return "n/a" if value is None else (f"{value:.1f}" if value >= 10 else f"{value:.2f}")


def cell(entry, engine, failures):
    summary = entry["engines"].get(engine, {})
    if "median_ms" in summary:
        return ms(summary["median_ms"])
    error = "; ".join(summary.get("errors", [])) or "not run"
    failures.setdefault(error, len(failures) + 1)
    return f"fails [{failures[error]}]"


def latency_table(data, failures):
    engines = data["engines"]
    head = (["Model", "Batch"] + [ENGINE_LABELS[e] + " ms" for e in engines] +
            ["pbmem / fastest peer", "pbmem GFLOP/s", "of peak"])
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for entry in data["cases"]:
        row = [entry["model"], str(entry["batch"])] + [cell(entry, e, failures) for e in engines]
        ratio = entry.get("pbmem_over_fastest_peer")
        row.append("n/a" if ratio is None else
                   f"{ratio:.2f} (vs {ENGINE_LABELS[entry['fastest_peer']]})")
        rate = entry.get("pbmem_gflops_per_s")
        row.append("n/a" if rate is None else f"{rate:.1f}")
        share = entry.get("pbmem_fraction_of_peak")
        row.append("n/a" if share is None else f"{100 * share:.0f}%")
        rows.append("| " + " | ".join(row) + " |")
    return rows


def load_table(data):
    engines = data["engines"]
    head = ["Model", "Batch"] + [f"{ENGINE_LABELS[e]} load / first run ms" for e in engines]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for entry in data["cases"]:
        row = [entry["model"], str(entry["batch"])]
        for e in engines:
            s = entry["engines"].get(e, {})
            row.append(f"{ms(s.get('load_ms'))} / {ms(s.get('first_run_ms'))}"
                       if "load_ms" in s else "n/a")
        rows.append("| " + " | ".join(row) + " |")
    return rows


def write_svg(data, path):
    """One group of horizontal bars per (model, batch): each engine's median latency, scaled to
    the slowest engine of the group, labelled in ms and as a multiple of pbmem's."""
    engines = data["engines"]
    group_height = len(engines) * (BAR_HEIGHT + BAR_GAP) + GROUP_GAP
    width = LABEL_WIDTH + BAR_AREA_WIDTH + VALUE_WIDTH
    height = TITLE_HEIGHT + len(data["cases"]) * group_height + LEGEND_HEIGHT
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
           f"viewBox='0 0 {width} {height}'>",
           f"<rect width='{width}' height='{height}' fill='white'/>",
           f"<text x='10' y='22' {TITLE_FONT}>Median latency per run, {data['threads']} threads "
           f"(bar length relative to the slowest engine of each row; shorter is faster)</text>"]
    y = TITLE_HEIGHT
    for entry in data["cases"]:
        times = {e: entry["engines"].get(e, {}).get("median_ms") for e in engines}
        slowest = max((t for t in times.values() if t), default=1.0)
        out.append(f"<text x='10' y='{y + BAR_HEIGHT * 2}' {FONT}>"
                   f"{html.escape(entry['model'])}, batch {entry['batch']}</text>")
        for i, engine in enumerate(engines):
            top = y + i * (BAR_HEIGHT + BAR_GAP)
            t = times[engine]
            if t:
                length = max(1.0, BAR_AREA_WIDTH * t / slowest)
                out.append(f"<rect x='{LABEL_WIDTH}' y='{top}' width='{length:.1f}' "
                           f"height='{BAR_HEIGHT}' fill='{ENGINE_COLOURS[engine]}'/>")
                label = f"{ms(t)} ms"
            else:
                label = "fails"
            out.append(f"<text x='{LABEL_WIDTH + BAR_AREA_WIDTH + 6}' y='{top + BAR_HEIGHT - 2}' "
                       f"{FONT}>{label}</text>")
        y += group_height
    x = 10
    for engine in engines:
        out.append(f"<rect x='{x}' y='{y + 8}' width='12' height='12' "
                   f"fill='{ENGINE_COLOURS[engine]}'/>")
        out.append(f"<text x='{x + 16}' y='{y + 18}' {FONT}>{ENGINE_LABELS[engine]}</text>")
        x += 140
    out.append("</svg>")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def goal_lines(data):
    lines = []
    ratios = [(e["model"], e["batch"], e["pbmem_over_fastest_peer"]) for e in data["cases"]
              if "pbmem_over_fastest_peer" in e]
    if ratios:
        met = [r for r in ratios if r[2] <= LATENCY_GOAL]
        worst = max(ratios, key=lambda r: r[2])
        lines.append(f"- Latency goal (pbmem ≤ {LATENCY_GOAL}× the fastest peer): met in "
                     f"{len(met)} of {len(ratios)} cases; worst {worst[0]} batch {worst[1]} at "
                     f"{worst[2]:.2f}×.")
    shares = [(e["model"], e["batch"], e["pbmem_fraction_of_peak"]) for e in data["cases"]
              if "pbmem_fraction_of_peak" in e]
    if shares:
        best = max(shares, key=lambda r: r[2])
        lines.append(f"- Peak goal (conv-heavy models ≥ {PEAK_GOAL:.0%} of the measured peak): "
                     f"best {best[0]} batch {best[1]} at {best[2]:.0%}.")
    return lines


def write_markdown(data, path, chart_path):
    failures = {}
    table = latency_table(data, failures)
    machine, v, peak = data["machine"], data["versions"], data["peak"]
    chart = os.path.relpath(chart_path, os.path.dirname(os.path.abspath(path)))
    peak_text = (f"{peak['gflops_per_s']:.1f} GFLOP/s on {peak['threads']} threads "
                 f"({peak['per_thread_gflops_per_s']:.1f} on one, {peak['isa']})"
                 if "gflops_per_s" in peak else f"not measured ({peak.get('error')})")
    lines = [
        "# Performance: pbmem against TensorFlow, ONNX Runtime and OpenCV DNN", "",
        "Generated by `bench/compare.py` (raw numbers: `bench/results/compare.json`).", "",
        "## Median latency per run", ""] + table + [""]
    for error, number in sorted(failures.items(), key=lambda kv: kv[1]):
        lines.append(f"[{number}] {error}")
    lines += ["", f"![latency chart]({chart})", "", "## Goals", ""] + goal_lines(data) + [
        "", "## Load time and first run", "",
        "Load = the engine's load call (pbmem: mmap + parse; TF: GraphDef parse + import; ORT: "
        "session creation; OpenCV: readNetFromTensorflow). First run = the first inference, where "
        "engines prepare (pbmem: shapes, weight packing, memory plan).", ""] + load_table(data) + [
        "", "## How it was measured", "",
        f"Command: {code(data['command'])} ({data['elapsed_seconds']:.0f} s).", "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, "
        f"{machine.get('ram_bytes', 0) / (1 << 30):.1f} GiB RAM, Linux {machine['kernel']}. "
        f"Peak measured by `build/pbmem_peak_flops {data['threads']}`: {peak_text}. Versions: "
        f"TensorFlow {v['tensorflow']}, ONNX Runtime {v['onnxruntime']}, OpenCV {v['opencv']}, "
        f"tf2onnx {v['tf2onnx']}, {v['pbmem']} at commit {v['pbmem_commit']}.", "",
        f"- {data['repeats']} interleaved rounds; in each, every (model, batch) runs on every "
        f"engine in a fresh process, in a rotated engine order. Each process loads the model, "
        f"runs once (first run), {data['warmup']} warm-up runs, then {data['runs']} timed runs. "
        f"Reported: the median of the rounds' medians.",
        f"- All engines get {data['threads']} threads: TF 1.x `Session` on the frozen graph "
        f"(intra/inter-op threads), ONNX Runtime (CPU provider, intra-op threads) on the tf2onnx "
        f"conversion of the same `.pb`, OpenCV DNN (`cv2.setNumThreads`, NCHW blob in), pbmem "
        f"(Python module, `threads=`).",
        "- GFLOP/s = the conv/matmul multiply-adds × 2 of one run (`pbmem bench --json`'s "
        "`gflops`) / pbmem's median latency; the fraction is of the measured peak.", "",
        "## Output agreement with TF (max |engine − TF| / max |TF|, softmax output)", "",
        "TF here is TF's reference kernels (`TF_ENABLE_ONEDNN_OPTS=0`), the tests' oracle, run "
        "once per case apart from the timed runs; every engine, TF included, is timed at its "
        "defaults.", ""]
    for entry in data["cases"]:
        parts = []
        for engine, err in entry.get("output_error", {}).items():
            if err and "relative" in err:
                parts.append(f"{ENGINE_LABELS[engine]} {err['relative']:.1e}")
        lines.append(f"- {entry['model']} batch {entry['batch']}: "
                     f"{', '.join(parts) if parts else 'n/a'}")
    lines += ["", HAND_WRITTEN_MARKER, ""]
    tail = hand_written_tail(path)  # read before the file is rewritten
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n" + tail)


def hand_written_tail(path):
    """What follows HAND_WRITTEN_MARKER in the existing file (analysis sections written by hand:
    profiles, layout and load-time measurements), kept across regenerations."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return ""
    at = text.find(HAND_WRITTEN_MARKER)
    return text[at + len(HAND_WRITTEN_MARKER):].lstrip("\n") if at >= 0 else ""


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "results", "compare.json")
    with open(path) as f:
        data = json.load(f)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    chart = os.path.join(root, "docs", "performance_chart.svg")
    write_svg(data, chart)
    write_markdown(data, os.path.join(root, "docs", "PERFORMANCE.md"), chart)


if __name__ == "__main__":
    main()
