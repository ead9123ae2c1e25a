"""Writes the memory benchmark's outputs: raw JSON, a hand-written SVG bar chart, MEMORY.md.

Kept apart from bench/memory.py (which measures) so that the report can be regenerated from
bench/results/memory.json alone: `python3 bench/_memory_report.py [memory.json]`.
"""
import html
import re
import json
import os
import sys

MB = float(1 << 20)
ENGINE_LABELS = {"tf": "TensorFlow", "ort": "ONNX Runtime", "opencv": "OpenCV DNN",
                 "pbmem": "pbmem"}
ENGINE_COLOURS = {"tf": "#e8710a", "ort": "#7f7f7f", "opencv": "#5b8def", "pbmem": "#1a9850"}
PLAN_FIELDS = ["predicted_peak_bytes", "arena_bytes", "lower_bound_bytes", "naive_bytes",
               "weights_bytes", "weights_packed_bytes", "weights_mapped_bytes", "scratch_bytes",
               "io_bytes", "peak_step", "peak_node"]
# SVG layout, in pixels.
LABEL_WIDTH = 150
BAR_AREA_WIDTH = 560
VALUE_LABEL_WIDTH = 110
BAR_HEIGHT = 11
BAR_GAP = 2
GROUP_GAP = 12
PANEL_TITLE_HEIGHT = 40
AXIS_HEIGHT = 22
LEGEND_HEIGHT = 44
FONT = "font-family='sans-serif' font-size='11'"
TITLE_FONT = "font-family='sans-serif' font-size='13' font-weight='bold'"
AXIS_STEPS = (1, 2, 2.5, 5)
TARGET_TICKS = 6


def write_json(data, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=1, sort_keys=False)
        f.write("\n")


def mb(value, digits=1):
    return "n/a" if value is None else f"{value / MB:.{digits}f}"


def plan_of(entry):
    """pbmem's plan for one case: the CLI's, else the Python API's (marked), else None."""
    plan = entry.get("plan") or {}
    if "predicted_peak_bytes" in plan:
        return plan, "cli"
    extras = entry["engines"].get("pbmem", {}).get("extras", {})
    py_plan = extras.get("plan", {})
    if "predicted_peak_bytes" in py_plan:
        return py_plan, "python"
    return None, None


def measured(entry, engine):
    return entry["engines"].get(engine, {}).get("peak_delta_bytes")


# --- SVG ---

def nice_step(maximum):
    raw = maximum / TARGET_TICKS
    magnitude = 10 ** len(str(int(max(raw, 1)))) / 10
    for factor in AXIS_STEPS + (10,):
        if factor * magnitude >= raw:
            return factor * magnitude
    return 10 * magnitude


def svg_panel(data, batch, top, engines):
    entries = [e for e in data["results"] if e["batch"] == batch]
    values = [measured(e, g) for e in entries for g in engines]
    markers = [marker_value(e) for e in entries]
    top_value = max([v for v in values + markers if v] + [MB]) / MB
    step = nice_step(top_value)
    axis_max = step * (int(top_value / step) + 1)
    scale = BAR_AREA_WIDTH / axis_max
    group_height = len(engines) * (BAR_HEIGHT + BAR_GAP) + GROUP_GAP
    height = PANEL_TITLE_HEIGHT + len(entries) * group_height + AXIS_HEIGHT
    out = [f"<text x='{LABEL_WIDTH}' y='{top + 22}' {TITLE_FONT}>"
           f"Batch {batch}: peak RSS above baseline (MB, median of {data['repeats']})</text>"]
    plot_top, plot_bottom = top + PANEL_TITLE_HEIGHT, top + height - AXIS_HEIGHT
    tick = 0.0
    while tick <= axis_max + 1e-9:
        x = LABEL_WIDTH + tick * scale
        out.append(f"<line x1='{x:.1f}' y1='{plot_top - 4}' x2='{x:.1f}' y2='{plot_bottom}' "
                   f"stroke='#ddd'/>")
        out.append(f"<text x='{x:.1f}' y='{plot_bottom + 14}' {FONT} text-anchor='middle'>"
                   f"{tick:g}</text>")
        tick += step
    y = plot_top
    for entry in entries:
        out.append(f"<text x='{LABEL_WIDTH - 8}' y='{y + group_height / 2 - 2:.1f}' {FONT} "
                   f"text-anchor='end'>{html.escape(entry['model'])}</text>")
        for engine in engines:
            value = measured(entry, engine)
            colour = ENGINE_COLOURS[engine]
            if value is None:
                out.append(f"<text x='{LABEL_WIDTH + 4}' y='{y + BAR_HEIGHT - 2}' {FONT} "
                           f"fill='{colour}'>{ENGINE_LABELS[engine]}: fails (see notes)</text>")
            else:
                width = max(value / MB * scale, 1)
                out.append(f"<rect x='{LABEL_WIDTH}' y='{y}' width='{width:.1f}' "
                           f"height='{BAR_HEIGHT}' fill='{colour}'><title>"
                           f"{ENGINE_LABELS[engine]} {entry['model']} batch {batch}: "
                           f"{mb(value)} MB</title></rect>")
                out.append(f"<text x='{LABEL_WIDTH + width + 4:.1f}' y='{y + BAR_HEIGHT - 2}' "
                           f"{FONT}>{mb(value)}</text>")
            if engine == "pbmem" and marker_value(entry):
                mx = LABEL_WIDTH + marker_value(entry) / MB * scale
                out.append(f"<line x1='{mx:.1f}' y1='{y - 2}' x2='{mx:.1f}' "
                           f"y2='{y + BAR_HEIGHT + 2}' stroke='black' stroke-width='2'/>")
            y += BAR_HEIGHT + BAR_GAP
        y += GROUP_GAP
    return out, height


def marker_value(entry):
    """pbmem's predicted RSS growth: accounted peak plus the weights read in place from the file."""
    plan, _ = plan_of(entry)
    if not plan:
        return None
    return plan["predicted_peak_bytes"] + plan.get("weights_mapped_bytes", 0)


def write_svg(data, path):
    engines = data["engines"]
    batches = sorted({e["batch"] for e in data["results"]})
    width = LABEL_WIDTH + BAR_AREA_WIDTH + VALUE_LABEL_WIDTH
    body, top = [], LEGEND_HEIGHT
    for batch in batches:
        panel, height = svg_panel(data, batch, top, engines)
        body += panel
        top += height
    legend, x = [], LABEL_WIDTH
    for engine in engines:
        legend.append(f"<rect x='{x}' y='10' width='12' height='12' "
                      f"fill='{ENGINE_COLOURS[engine]}'/>")
        legend.append(f"<text x='{x + 16}' y='20' {FONT}>{ENGINE_LABELS[engine]}</text>")
        x += 16 + 7 * len(ENGINE_LABELS[engine]) + 18
    legend.append(f"<line x1='{LABEL_WIDTH + 1}' y1='28' x2='{LABEL_WIDTH + 1}' y2='40' "
                  f"stroke='black' stroke-width='2'/>")
    legend.append(f"<text x='{LABEL_WIDTH + 8}' y='38' {FONT}>pbmem plan: predicted peak + "
                  f"weights mapped from the file</text>")
    svg = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{top + 8}' "
           f"viewBox='0 0 {width} {top + 8}'>",
           f"<rect width='{width}' height='{top + 8}' fill='white'/>"] + legend + body + ["</svg>"]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(svg) + "\n")


# --- Markdown ---

def cell(entry, engine, failures):
    summary = entry["engines"].get(engine)
    if summary is None:
        return "—"
    if summary.get("peak_delta_bytes") is None:
        key = (engine, "; ".join(summary.get("errors") or ["no successful run"]))
        failures.setdefault(key, []).append(f"{entry['model']} b{entry['batch']}")
        return "fails"
    text = mb(summary["peak_delta_bytes"])
    return text + ("*" if summary.get("errors") else "")


def code(text):
    """`text` as an inline code span, whatever backticks it contains."""
    text = str(text)
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def ratio(a, b, digits=2):
    return "n/a" if not a or not b else f"{a / b:.{digits}f}"


def main_table(data, failures):
    engines = data["engines"]
    head = (["Model", "Batch"] + [ENGINE_LABELS[e] for e in engines] +
            ["pbmem / TF", "pbmem predicted peak", "lower bound", "naive sum",
             "arena / lower bound"])
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for entry in data["results"]:
        plan, source = plan_of(entry)
        mark = "" if source != "python" else "†"
        row = [entry["model"], str(entry["batch"])] + [cell(entry, e, failures) for e in engines]
        row.append(ratio(measured(entry, "pbmem"), measured(entry, "tf")))
        if plan:
            row += [mb(plan["predicted_peak_bytes"]) + mark, mb(plan["lower_bound_bytes"]) + mark,
                    mb(plan["naive_bytes"]) + mark,
                    ratio(plan["arena_bytes"], plan["lower_bound_bytes"], 3)]
        else:
            row += ["n/a"] * 4
        rows.append("| " + " | ".join(row) + " |")
    return rows


def plan_table(data):
    head = ["Model", "Batch", "measured", "steady run", "predicted + mapped", "predicted peak",
            "max_bytes_in_use", "arena", "lower bound", "lower bound, graph order",
            "packed weights", "mapped weights", "scratch", "I/O", "peak node"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    any_plan = False
    for entry in data["results"]:
        plan, _ = plan_of(entry)
        if not plan:
            continue
        any_plan = True
        pbmem = entry["engines"].get("pbmem", {})
        stats = pbmem.get("extras", {}).get("stats", {})
        rows.append("| " + " | ".join([
            entry["model"], str(entry["batch"]), mb(measured(entry, "pbmem")),
            mb(pbmem.get("run_delta_bytes")), mb(marker_value(entry)),
            mb(plan["predicted_peak_bytes"]), mb(stats.get("max_bytes_in_use")),
            mb(plan["arena_bytes"]), mb(plan["lower_bound_bytes"]),
            mb(plan.get("default_order_lower_bound_bytes")),
            mb(plan.get("weights_packed_bytes")), mb(plan.get("weights_mapped_bytes")),
            mb(plan.get("scratch_bytes")), mb(plan.get("io_bytes")),
            f"{code(plan.get('peak_node', '?'))} (step {plan.get('peak_step', '?')})"]) + " |")
    return rows if any_plan else ["No pbmem plan was available (see the notes)."]


def phase_table(data):
    engines = data["engines"]
    head = ["Model", "Batch"] + [f"{ENGINE_LABELS[e]} load / warm-up / run / spread"
                                 for e in engines]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for entry in data["results"]:
        row = [entry["model"], str(entry["batch"])]
        for engine in engines:
            s = entry["engines"].get(engine, {})
            if s.get("peak_delta_bytes") is None:
                row.append("fails")
            else:
                row.append(f"{mb(s['load_delta_bytes'])} / {mb(s['warmup_delta_bytes'])} / "
                           f"{mb(s['run_delta_bytes'])} / "
                           f"{mb(s['min_bytes'])}–{mb(s['max_bytes'])}")
        rows.append("| " + " | ".join(row) + " |")
    return rows


def output_check_lines(data):
    worst = {}
    for entry in data["results"]:
        for engine, s in entry["engines"].items():
            check = s.get("vs_tf_output")
            if not check:
                continue
            if "shape_mismatch" in check:
                worst.setdefault(engine, []).append(
                    f"{entry['model']} b{entry['batch']}: shape {check['shape_mismatch']}")
            else:
                current = worst.get(engine + "/rel", 0.0)
                worst[engine + "/rel"] = max(current, check["relative"])
    lines = []
    for engine in data["engines"]:
        if engine + "/rel" in worst:
            lines.append(f"- {ENGINE_LABELS[engine]}: max |Δ| / max |TF| = "
                         f"{worst[engine + '/rel']:.1e} over all cases")
        for mismatch in worst.get(engine, []):
            lines.append(f"- {ENGINE_LABELS[engine]}: output {mismatch}")
    return lines


def tf_api_lines(data):
    lines, seen = [], set()
    for entry in data["results"]:
        extras = entry["engines"].get("tf", {}).get("extras", {})
        info = extras.get("get_memory_info")
        if info and repr(info) not in seen:
            seen.add(repr(info))
            text = info.get("error") or info.get("value")
            lines.append(f"- `tf.config.experimental.get_memory_info('CPU:0')` → {code(text)}")
    trace_rows = []
    for entry in data["results"]:
        trace = entry["engines"].get("tf", {}).get("extras", {}).get("trace")
        if trace:
            trace_rows.append(
                f"| {entry['model']} | {entry['batch']} | {mb(trace['sum_total_bytes'])} | "
                f"{mb(trace['max_node_peak_bytes'])} | {trace['max_allocator_bytes_in_use']} | "
                f"{mb(measured(entry, 'tf'))} |")
    if trace_rows:
        lines += ["", "A `RunOptions(trace_level=FULL_TRACE)` run (after the peak was read) gives "
                  "per-node allocation records in `RunMetadata.step_stats`:", "",
                  "| Model | Batch | Σ per-node total_bytes (MB) | largest per-node peak (MB) | "
                  "allocator_bytes_in_use | TF measured (MB) |", "|---|---|---|---|---|---|"]
        lines += trace_rows
        lines += ["", "The sum over nodes is what TF allocated in the step (comparable to pbmem's "
                  "naive sum, not to a peak); `allocator_bytes_in_use` is 0 because TF's CPU "
                  "allocator does not collect statistics unless enabled from C++. TF offers no "
                  "Python API that returns a CPU peak, and the `MaxBytesInUse` op is not "
                  "registered in the tensorflow-cpu wheel."]
    return lines


# Known failure messages and what was found to cause them (checked on the zoo's graphs).
FAILURE_EXPLANATIONS = [
    ("opencv", ("Input layer not found", "ReadVariableOp/resource"),
     "the named node is a Const (a frozen BatchNorm parameter) that feeds a Reshape through an "
     "Identity; OpenCV's TensorFlow importer does not make that constant a layer, so the "
     "Reshape's data input is not found. Keras 3 writes these BatchNorms as Reshape(Const) → Rsqrt/Mul/Sub; "
     "MobileNetV2's graph has no such Reshape and loads."),
]


def explain(engine, message):
    for known_engine, needles, why in FAILURE_EXPLANATIONS:
        if engine == known_engine and all(n in message for n in needles):
            return why
    return None


def failure_lines(data, failures):
    lines, explained = [], set()
    for (engine, message), where in sorted(failures.items()):
        lines.append(f"- {ENGINE_LABELS[engine]} fails on {', '.join(where)}: {code(message)}")
        why = explain(engine, message)
        if why and why not in explained:
            explained.add(why)
            lines.append(f"  Cause: {why}")
    for entry in data["results"]:
        for engine, s in entry["engines"].items():
            if s.get("peak_delta_bytes") is not None and s.get("errors"):
                lines.append(f"- {ENGINE_LABELS[engine]} {entry['model']} b{entry['batch']}: "
                             f"{s['runs'] - s['ok']} of {s['runs']} runs failed "
                             f"(* in the table; median of the rest): {code('; '.join(s['errors']))}")
    plan_errors = {}
    for entry in data["results"]:
        plan = entry.get("plan") or {}
        if "error" in plan:
            plan_errors.setdefault(plan["error"], []).append(
                f"{entry['model']} b{entry['batch']}")
    for message, where in plan_errors.items():
        fallback = any(plan_of(e)[1] == "python" for e in data["results"])
        lines.append(f"- `pbmem plan --json` unavailable ({', '.join(where)}): {code(message)}" +
                     ("; the plan columns marked † come from the Python API "
                      "(`Model.plan(batch=N)`), which reports the same fields." if fallback
                      else ""))
    for entry in data["results"]:
        oc = entry["engines"].get("opencv", {}).get("extras", {}).get("memory_consumption")
        if oc and "error" in oc:
            lines.append(f"- OpenCV's own estimate `Net.getMemoryConsumption` could not be called "
                         f"from Python: {code(oc['error'])}")
            break
    for name, info in data.get("onnx", {}).items():
        if "error" in info:
            lines.append(f"- ONNX conversion of {name}: {code(info['error'])}")
    return lines or ["- none"]


def ratio_range(data, numerator, denominator):
    """(low, low entry, high, high entry) of measured numerator/denominator, or None."""
    ratios = [(measured(e, numerator) / measured(e, denominator), e) for e in data["results"]
              if measured(e, numerator) and measured(e, denominator)]
    if not ratios:
        return None
    low, high = min(ratios, key=lambda r: r[0]), max(ratios, key=lambda r: r[0])
    return low[0], low[1], high[0], high[1]


def summary_lines(data):
    lines = []
    for other in ("tf", "ort", "opencv"):
        found = ratio_range(data, "pbmem", other)
        if found:
            low, low_at, high, high_at = found
            lines.append(f"- pbmem / {ENGINE_LABELS[other]} peak RSS growth: {low:.2f}× "
                         f"({low_at['model']} b{low_at['batch']}) to {high:.2f}× "
                         f"({high_at['model']} b{high_at['batch']}).")
    plans = [(plan_of(e)[0], e) for e in data["results"] if plan_of(e)[0]]
    if plans:
        tight = [p["arena_bytes"] / p["lower_bound_bytes"] for p, _ in plans
                 if p.get("lower_bound_bytes")]
        if tight:
            lines.append(f"- pbmem's arena / lower bound: {min(tight):.3f} to {max(tight):.3f}.")
        exact = [e for p, e in plans
                 if e["engines"].get("pbmem", {}).get("extras", {}).get("stats", {})
                 .get("max_bytes_in_use") == p["predicted_peak_bytes"]]
        lines.append(f"- pbmem's accounted peak during the run equals the predicted peak to the "
                     f"byte in {len(exact)} of {len(plans)} cases.")
    return (["Summary (medians; details below):", ""] + lines + [""]) if lines else []


def hand_written_sections(path):
    """docs/MEMORY_LIMIT.md (the hard limit and fit, with a real example) is appended to the
    generated MEMORY.md so that regenerating keeps it."""
    extra = os.path.join(os.path.dirname(path), "MEMORY_LIMIT.md")
    if not os.path.exists(extra):
        return []
    with open(extra) as f:
        return [f.read()]


# A fixed section (not measured): how to see one plan and one run in detail.
REPORT_AND_TRACE_LINES = [
    "## Memory report and trace", "",
    "`pbmem report MODEL [--batch N] [--input-shape NAME=d0,d1,...] -o report.html` writes one "
    "self-contained HTML page (inline CSS and SVG: no scripts, fonts or images from elsewhere) "
    "about the runtime's plan for those shapes (batch 1 where the first dimension is unknown "
    "and no --batch is given):",
    "",
    "- a header: model, file size, input shapes, the predicted peak and its parts, the arena "
    "against the live-bytes lower bound, the op order and the planner that won;",
    "- a plot of the planned bytes in use per schedule step, stacked: packed weights, scratch "
    "and graph outputs (held through the run) and the live activations, with the arena's top "
    "(the predicted peak) dashed and the busiest step marked with its node (the same "
    "`peak_step` and `peak_node` as `pbmem plan --json`); hovering a step names its node;",
    "- the largest tensors live at that step: bytes, shape, lifetime, the node that produced "
    "it and the nodes that read its buffer (views and in-place outputs keep it live);",
    "- the weights by layer: packed (allocated, counted in the peak) and mapped (read in place "
    "from the file), largest first, with each layer's share;",
    "- the largest batch that fits 64 MiB to 2 GiB, from `fit` (or why there is none).",
    "",
    "![pbmem report of MobileNetV2 at batch 1](report_screenshot.png)",
    "",
    "`pbmem run MODEL ... --trace trace.json` writes a Chrome trace of the run (Trace Event "
    "Format: open it in `chrome://tracing` or Perfetto) after the run succeeded: one complete "
    "event per step on one track (name = node, category = op; arguments: output shapes and "
    "bytes, live activation bytes), a stacked counter `planned bytes` (packed weights, "
    "scratch, I/O, live activations, rest of the arena) whose sum is what the allocators hold "
    "(its maximum is `max_bytes_in_use`), and a counter `bytes_in_use` with the accountant's "
    "value after each step. Without `--trace` the run loop only tests a null observer pointer; "
    "with it, each step reads the clock twice and nothing is formatted until the run is over.",
    "",
]


def write_markdown(data, path, chart_path):
    failures = {}
    table = main_table(data, failures)
    machine, v = data["machine"], data["versions"]
    chart = os.path.relpath(chart_path, os.path.dirname(os.path.abspath(path)))
    onnx_opsets = sorted({str(i.get("opset")) for i in data.get("onnx", {}).values()
                          if "opset" in i})
    lines = [
        "# Memory: pbmem against TensorFlow, ONNX Runtime and OpenCV DNN", "",
        "Generated by `bench/memory.py` (raw numbers: `bench/results/memory.json`). "
        "MB = 2^20 bytes.", ""] + summary_lines(data) + [
        "## How it was measured", "",
        f"Command: {code(data['command'])} ({data['elapsed_seconds']:.0f} s).", "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, "
        f"{machine.get('ram_bytes', 0) / (1 << 30):.1f} GiB RAM, Linux {machine['kernel']}, "
        f"Python {machine['python']}. Versions: TensorFlow {v['tensorflow']}, ONNX Runtime "
        f"{v['onnxruntime']}, OpenCV {v['opencv']}, tf2onnx {v['tf2onnx']}"
        f"{' (opset ' + ', '.join(onnx_opsets) + ')' if onnx_opsets else ''}, "
        f"{v['pbmem']} at commit {v['pbmem_commit']}.", "",
        f"- Every (engine, model, batch) runs in a fresh Python process. Baseline = VmRSS after "
        f"importing numpy and the engine's module and loading the input array, before the "
        f"model is loaded. The peak (VmHWM) is reset by writing `5` to `/proc/self/clear_refs` "
        f"(checked in every process: VmHWM must fall back to VmRSS), so the import's own peak "
        f"is not counted, and again after loading and after the warm-up run. Reported: the "
        f"largest of the three phases' peaks − baseline.",
        f"- Each engine loads the model, runs it once to warm up and once measured, fetching "
        f"the softmax output, with {data['threads']} threads: TF 1.x `Session` on the frozen "
        f"graph (`import_graph_def`, intra/inter-op threads = {data['threads']}); ONNX Runtime "
        f"`InferenceSession` (CPU provider, default options: arena and memory patterns on) on "
        f"the tf2onnx conversion of the same `.pb` (`python -m tf2onnx.convert --graphdef "
        f"MODEL.pb --inputs images:0 --outputs Identity:0,Identity_1:0`, cached next to the "
        f"`.pb`); OpenCV `cv2.dnn.readNetFromTensorflow` on "
        f"the `.pb` (NCHW blob in); pbmem's Python module `pbmem.load(path).run(...)`.",
        f"- {data['repeats']} repeat(s), engines interleaved (the order rotates per case and "
        f"repeat); the tables show medians. The machine is shared, so single runs are noisy.",
        f"- pbmem's predicted peak, lower bound, naive sum and arena come from "
        f"`pbmem plan MODEL --batch N --json -o Identity_1 --threads {data['threads']}` (the "
        f"plan of exactly the measured run). The predicted peak counts pbmem's accounted "
        f"memory (packed weights, arena, scratch, I/O); weights that are read in place from the "
        f"file (`weights_mapped_bytes`) appear in RSS as file pages on top of it. The lower bound "
        f"is the largest set of tensors that must be live at once; the naive sum gives every "
        f"tensor its own buffer.",
        "- The models are the frozen Keras applications of `tests/py/models.py` (random "
        "weights, same `.pb` files as the tests), input 224×224×3 (Inception v3: 299×299×3).",
        "", "## Peak RSS above baseline (MB, median)", ""] + table + [
        "", f"![peak RSS per engine]({chart})", "",
        "## pbmem: prediction against measurement (MB)", "",
        "`measured` is the peak RSS growth above (load, first run and second run); `steady "
        "run` is the peak during the second run alone (the peak is reset after the first, "
        "which also prepares the model: packs weights and plans the arena). `predicted + "
        "mapped` is what the plan says a run holds (accounted peak + mapped weight pages); "
        "`max_bytes_in_use` is what pbmem's allocator accounted during the measured run "
        "(`Model.stats()`). The lower bound is for the order pbmem schedules; `graph order` is "
        "the same bound for the GraphDef's own topological order. The "
        "remainder is memory pbmem does not account for: the parsed graph, oneDNN's JIT code, "
        "first-use costs of the thread pool and libraries (the baseline is taken before any "
        "inference, unlike `tests/py/test_memory_rss.py`, which warms up first), and during "
        "the first run the model file's pages, resident while the weights are packed.", ""] + plan_table(data) + [
        "", "## Phases and spread (MB)", "",
        "Peaks above the baseline in each phase (the peak is reset between phases): load, the "
        "first (warm-up) run, and the measured second run, which is the steady state of a "
        "long-lived process; spread = min–max over the repeats of the overall peak.", ""] + phase_table(data) + [
        "", "## Outputs against TensorFlow", "",
        "Each engine's softmax output on the same input, compared with TF's reference kernels "
        "(`TF_ENABLE_ONEDNN_OPTS=0`, the tests' oracle; every engine, TF included, is measured "
        "at its defaults):", ""] + \
        (output_check_lines(data) or ["- no comparison available"]) + [
        "", "## What TensorFlow reports through its own API", ""] + \
        (tf_api_lines(data) or ["- no TF run succeeded"]) + [
        ""] + REPORT_AND_TRACE_LINES + [
        "## Notes and failures", ""] + failure_lines(data, failures) + [""] + hand_written_sections(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    source = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "results", "memory.json")
    with open(source) as f:
        loaded = json.load(f)
    docs = os.path.join(os.path.dirname(here), "docs")
    write_svg(loaded, os.path.join(docs, "memory_chart.svg"))
    write_markdown(loaded, os.path.join(docs, "MEMORY.md"), os.path.join(docs, "memory_chart.svg"))
