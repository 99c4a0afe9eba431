#!/usr/bin/env python3
"""report_chrome_check.py TRACE.json — checks a Chrome/Perfetto trace against the Trace Event
Format (the object form) and the promises of `mqshim report --chrome`, then prints one line per
flow arrow for the calling test to compare with what its program did:

    FLOW <send pid> <send call> <send class> <send payload> -> <receive pid> <receive call> <receive class> <receive payload>

Checks: every event has the fields its phase requires, with the right types; complete ("X")
slices of one thread nest or are disjoint; every pid/tid with events is named by process_name /
thread_name metadata; each flow id has exactly one "s" and one "f" (with "bp":"e"), of one name
and category, the "s" no later than the "f", each strictly inside a slice of its own thread.
Exit status 0 when the trace passes, 1 with the problems on stderr when not.
"""
import json
import sys
from collections import defaultdict

problems = []


def problem(text):
    problems.append(text)


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


# Fields each phase requires (Trace Event Format, "Event Descriptions").
REQUIRED = {
    "X": {"name": str, "ts": is_number, "dur": is_number, "pid": is_int, "tid": is_int},
    "B": {"name": str, "ts": is_number, "pid": is_int, "tid": is_int},
    "E": {"ts": is_number, "pid": is_int, "tid": is_int},
    "i": {"name": str, "ts": is_number, "pid": is_int, "tid": is_int},
    "s": {"name": str, "cat": str, "id": lambda v: is_int(v) or isinstance(v, str), "ts": is_number, "pid": is_int, "tid": is_int},
    "f": {"name": str, "cat": str, "id": lambda v: is_int(v) or isinstance(v, str), "ts": is_number, "pid": is_int, "tid": is_int},
    "M": {"name": str, "pid": is_int, "args": dict},
}


def check_fields(i, e):
    ph = e.get("ph")
    if ph not in REQUIRED:
        problem(f"event {i}: phase {ph!r} is not one mqshim writes")
        return False
    ok = True
    for field, kind in REQUIRED[ph].items():
        v = e.get(field)
        good = isinstance(v, kind) if isinstance(kind, type) else kind(v)
        if not good:
            problem(f"event {i} ({ph}): field {field!r} missing or of the wrong type: {v!r}")
            ok = False
    if ph == "X" and is_number(e.get("dur")) and e["dur"] < 0:
        problem(f"event {i}: negative dur")
    if "args" in e and not isinstance(e["args"], dict):
        problem(f"event {i}: args is not an object")
    if ph == "i" and e.get("s", "t") not in ("g", "p", "t"):
        problem(f"event {i}: instant scope {e.get('s')!r}")
    if ph == "f" and e.get("bp") != "e":
        problem(f"event {i}: flow end without \"bp\":\"e\" (it would bind to the next slice, not the receive)")
    if ph == "M":
        if e["name"] not in ("process_name", "thread_name", "process_sort_index", "thread_sort_index", "process_labels"):
            problem(f"event {i}: unknown metadata {e['name']!r}")
        if e["name"] == "thread_name" and not is_int(e.get("tid")):
            problem(f"event {i}: thread_name without tid")
        if e["name"].endswith("_name") and not isinstance(e["args"].get("name"), str):
            problem(f"event {i}: {e['name']} without args.name")
    return ok


def main(path):
    with open(path) as f:
        trace = json.load(f)
    if not isinstance(trace, dict) or not isinstance(trace.get("traceEvents"), list):
        print(f"{path}: not the object form {{\"traceEvents\": [...]}}", file=sys.stderr)
        return 1
    if trace.get("displayTimeUnit", "ms") not in ("ms", "ns"):
        problem(f"displayTimeUnit {trace.get('displayTimeUnit')!r} is neither ms nor ns")
    events = [e for i, e in enumerate(trace["traceEvents"]) if isinstance(e, dict) and check_fields(i, e)]
    if len(events) != len(trace["traceEvents"]):
        problem("some events are malformed (above)")

    process_names = {e["pid"] for e in events if e["ph"] == "M" and e["name"] == "process_name"}
    thread_names = {(e["pid"], e["tid"]) for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    slices = defaultdict(list)
    for e in events:
        if e["ph"] == "M":
            continue
        if e["pid"] not in process_names:
            problem(f"pid {e['pid']} has no process_name")
            process_names.add(e["pid"])
        if (e["pid"], e["tid"]) not in thread_names:
            problem(f"thread {e['pid']}/{e['tid']} has no thread_name")
            thread_names.add((e["pid"], e["tid"]))
        if e["ph"] == "X":
            slices[(e["pid"], e["tid"])].append(e)

    # Slices of one thread nest or are disjoint (a viewer would otherwise drop or misplace them).
    for thread, xs in slices.items():
        xs.sort(key=lambda e: (e["ts"], -e["dur"]))
        open_ends = []
        for e in xs:
            while open_ends and open_ends[-1] <= e["ts"]:
                open_ends.pop()
            end = e["ts"] + e["dur"]
            if open_ends and end > open_ends[-1] + 1e-9:
                problem(f"thread {thread}: slice {e['name']} at {e['ts']} overlaps its neighbour without nesting")
            open_ends.append(end)

    def ns(v):
        return round(v * 1000)

    def enclosing(e):
        """The slice of e's thread that e lies in: strictly inside (a viewer may bind an end on
        the boundary to the neighbour), unless the slice is too short to have an inside."""
        t = ns(e["ts"])
        for x in slices.get((e["pid"], e["tid"]), []):
            start, end = ns(x["ts"]), ns(x["ts"]) + ns(x["dur"])
            if start < t < end or (end - start < 2 and start <= t <= end):
                return x
        return None

    flows = defaultdict(lambda: {"s": [], "f": []})
    for e in events:
        if e["ph"] in ("s", "f"):
            flows[e["id"]][e["ph"]].append(e)
    lines = []
    for fid, ends in sorted(flows.items(), key=lambda kv: str(kv[0])):
        if len(ends["s"]) != 1 or len(ends["f"]) != 1:
            problem(f"flow {fid}: {len(ends['s'])} starts and {len(ends['f'])} ends (want one each)")
            continue
        s, f = ends["s"][0], ends["f"][0]
        if (s["name"], s["cat"]) != (f["name"], f["cat"]):
            problem(f"flow {fid}: start and end differ in name or category")
        if s["ts"] > f["ts"]:
            problem(f"flow {fid}: ends ({f['ts']}) before it starts ({s['ts']})")
        send, receive = enclosing(s), enclosing(f)
        if send is None or receive is None:
            problem(f"flow {fid}: an end is outside every slice of its thread")
            continue

        def message(x):
            a = x.get("args", {})
            if isinstance(a.get("msgp"), dict):
                return a["msgp"].get("mtype"), a["msgp"].get("mtext")
            return a.get("msg_prio"), a.get("msg_ptr")

        (sc, sp), (rc, rp) = message(send), message(receive)
        lines.append(f"FLOW {send['pid']} {send['name']} {sc} {json.dumps(sp)} -> {receive['pid']} {receive['name']} {rc} {json.dumps(rp)}")
    for line in lines:
        print(line)
    if problems:
        for p in problems:
            print(f"{path}: {p}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
