#!/usr/bin/env python3
"""report_summary_check.py PROGRAM_OUTPUT SUMMARY QUEUE — compares `mqshim report --summary`
with what a test program says it did: its "CALL name ok|ERRNO" lines (every call it made) and
"SENT|RECEIVED class bytes text" lines (every message). QUEUE is the queue's row in the queue
table: its name, or the start of it (`key=0x…` for the row `key=0x… id=N`), or `total` for the
total row (all queues). The tables are cut into columns at the gaps of their "----" rule lines (blank cells,
as strace -c leaves them, stay blank). Exit status 0 when they agree, else 1 with the differences.
"""
import sys
from collections import Counter, defaultdict


def tables(text):
    """Each table of the summary: (its column names, its rows as lists of cells)."""
    lines = text.splitlines()
    out = []
    i = 0
    while i < len(lines):
        if i + 1 < len(lines) and lines[i + 1].startswith("---") and not lines[i].startswith("---"):
            rule = lines[i + 1]
            spans, start = [], 0
            for part in rule.split(" "):
                spans.append((start, start + len(part)))
                start += len(part) + 1
            # The last column (errnos) runs to the end of the line.
            spans.append((start, None))

            def cells(line):
                return [line[a:b].strip() if b is not None else line[a:].strip() for a, b in spans]

            names = cells(lines[i])
            rows = []
            j = i + 2
            # Rows, a rule, and the total row, which ends the table.
            while j < len(lines) and lines[j].strip():
                if lines[j].startswith("---"):
                    if j + 1 < len(lines):
                        rows.append(cells(lines[j + 1]))
                    j += 2
                    break
                rows.append(cells(lines[j]))
                j += 1
            out.append((names, rows))
            i = j
        else:
            i += 1
    return out


def main(program_output, summary_path, queue):
    calls, errors, errnos = Counter(), Counter(), defaultdict(Counter)
    sent = received = sent_bytes = received_bytes = 0
    with open(program_output) as f:
        for line in f:
            w = line.split()
            if not w:
                continue
            if w[0] == "CALL":
                calls[w[1]] += 1
                if w[2] != "ok":
                    errors[w[1]] += 1
                    errnos[w[1]][w[2]] += 1
            elif w[0] == "SENT":
                sent += 1
                sent_bytes += int(w[2])
            elif w[0] == "RECEIVED":
                received += 1
                received_bytes += int(w[2])
    with open(summary_path) as f:
        text = f.read()
    found = tables(text)
    if len(found) != 2:
        print(f"want 2 tables (calls, queues), found {len(found)}:\n{text}", file=sys.stderr)
        return 1
    (call_names, call_cells), (queue_names, queue_cells) = found
    call_rows = [dict(zip(call_names, r)) for r in call_cells]
    # The queue table has two "bytes" columns (sent, received): by position.
    queue_rows = [dict(zip(["queue", "sent", "sent_bytes", "received", "received_bytes"], r)) for r in queue_cells]
    if queue_names[:5] != ["queue", "sent", "bytes", "received", "bytes"]:
        print(f"queue table columns: {queue_names}", file=sys.stderr)
        return 1
    wrong = []
    by_name = {r["call"]: r for r in call_rows}
    for name in sorted(set(calls) | (set(by_name) - {"total"})):
        r = by_name.get(name)
        if r is None:
            wrong.append(f"{name}: {calls[name]} calls made, no row")
            continue
        shown_errnos = Counter({e.split(":")[0]: int(e.split(":")[1]) for e in (r.get("errnos") or "").split()})
        got = (int(r["calls"] or 0), int(r["errors"] or 0), shown_errnos)
        want = (calls[name], errors[name], errnos[name])
        if got != want:
            wrong.append(f"{name}: summary says calls/errors/errnos {got}, the program made {want}")
    total = by_name.get("total")
    if total is None or int(total["calls"]) != sum(calls.values()) or int(total["errors"] or 0) != sum(errors.values()):
        wrong.append(f"total row {total} != {sum(calls.values())} calls, {sum(errors.values())} errors")
    rows = [r for r in queue_rows if r["queue"] == queue or r["queue"].startswith(queue + " ")]
    if len(rows) != 1:
        wrong.append(f"queue {queue!r}: {len(rows)} rows in {[r['queue'] for r in queue_rows]}")
    else:
        r = rows[0]
        got = (int(r["sent"]), int(r["sent_bytes"]), int(r["received"]), int(r["received_bytes"]))
        want = (sent, sent_bytes, received, received_bytes)
        if got != want:
            wrong.append(f"queue {queue}: sent/bytes/received/bytes {got}, the program {want}")
    if wrong:
        print("\n".join(wrong) + "\n--- summary:\n" + text, file=sys.stderr)
        return 1
    print(f"summary agrees: {sum(calls.values())} calls of {len(calls)} kinds, {sent} messages sent, {received} received")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
