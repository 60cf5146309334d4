#!/usr/bin/env python3
"""Prints the ratios of one `cargo bench --bench otp` run as a Markdown table.

Reads criterion's estimates (target/criterion/<group>/<bench>/new/estimates.json,
median point estimates) from the run that just finished, so every ratio
compares numbers measured in the same run:

  peer / ours   how many times faster ours is (ours_raw vs the peers' raw path,
                ours_keyed vs the peers' prebuilt objects)
  ours / floor  how close ours is to the arithmetic floor (1.00 = at the floor)

  cargo bench --bench otp && scripts/bench-ratios.py
"""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")


def median_ns(group, bench):
    path = root / group / bench / "new" / "estimates.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["median"]["point_estimate"]


def fmt(ns):
    return "—" if ns is None else (f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.0f} ns")


def ratio(a, b):
    return "—" if a is None or b is None else f"{a / b:.2f}×"


groups = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name != "report") if root.exists() else []
if not groups:
    sys.exit(f"no criterion results under {root}: run `cargo bench --bench otp` first")

print("| group | benchmark | median | vs ours | ours / floor |")
print("| --- | --- | --- | --- | --- |")
for group in groups:
    benches = sorted(p.name for p in (root / group).iterdir() if p.is_dir() and p.name != "report")
    times = {b: median_ns(group, b) for b in benches}
    ours_raw, ours_keyed = times.get("ours_raw"), times.get("ours_keyed")
    for bench in benches:
        t = times[bench]
        vs, floor = "", ""
        if bench.startswith("ours"):
            f = times.get(bench.replace("ours", "floor"))
            floor = ratio(t, f) if f else ""
        elif bench.startswith("floor"):
            vs = ""
        else:
            # Peers: their raw path against ours_raw, their prebuilt object against ours_keyed.
            ref = ours_keyed if ("prebuilt" in bench and ours_keyed) else (ours_raw or times.get("ours") or ours_keyed)
            if ref is None:
                ours = [v for k, v in times.items() if k.startswith("ours")]
                ref = ours[0] if ours else None
            vs = f"{ratio(t, ref)} slower" if ref else ""
        print(f"| {group} | {bench} | {fmt(t)} | {vs} | {floor} |")

# Constant time at a glance: correct code vs wrong code, same implementation.
w = root / "verify_sha1_pm1_wrong"
c = root / "verify_sha1_pm1_correct"
if w.exists() and c.exists():
    print()
    print("| implementation | correct / wrong |")
    print("| --- | --- |")
    for bench in sorted(p.name for p in w.iterdir() if p.is_dir() and p.name != "report"):
        print(f"| {bench} | {ratio(median_ns(c.name, bench), median_ns(w.name, bench))} |")
