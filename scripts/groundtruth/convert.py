#!/usr/bin/env python3
"""Turn candidate person boxes into a draft ground truth to be checked by hand.

usage: convert.py CANDIDATES.json MIN_SCORE > draft.json

CANDIDATES maps a frame index to [{"x1", "y1", "x2", "y2", "s"}, ...] in
frame pixels (the output of a detector run outside the project).
"""
import json
import sys

W, H = 768, 576


def main():
    cands = json.load(open(sys.argv[1]))
    min_score = float(sys.argv[2])
    frames = {}
    for k, ds in cands.items():
        people = []
        for d in sorted(ds, key=lambda d: d["x1"]):
            if d["s"] < min_score:
                continue
            x1, y1 = max(0, d["x1"]), max(0, d["y1"])
            x2, y2 = min(W, d["x2"]), min(H, d["y2"])
            people.append({"box": [round(x1), round(y1), round(x2 - x1), round(y2 - y1)], "hidden": False})
        frames[k] = people
    json.dump({"video": "vtest.avi", "width": W, "height": H, "frames": frames, "events": []}, sys.stdout)


if __name__ == "__main__":
    main()
