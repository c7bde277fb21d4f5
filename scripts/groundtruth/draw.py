#!/usr/bin/env python3
"""Draw a ground truth's boxes on one frame of its video, for review.

usage: draw.py GT.json VIDEO FRAME OUT.png [SCALE]

Visible people are green, hidden ones yellow; each box carries its index
in the frame's list. SCALE (default 1) enlarges the output.
"""
import json
import subprocess
import sys

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"


def main():
    gt_path, video, frame, out = sys.argv[1:5]
    scale = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    gt = json.load(open(gt_path))
    people = gt["frames"].get(str(int(frame)), [])
    filters = ["select='eq(n\\,%d)'" % int(frame)]
    if scale != 1:
        filters.append("scale=iw*%d:ih*%d:flags=neighbor" % (scale, scale))
    for i, p in enumerate(people):
        x, y, w, h = (round(v * scale) for v in p["box"])
        colour = "yellow" if p.get("hidden") else "lime"
        filters.append("drawbox=x=%d:y=%d:w=%d:h=%d:color=%s:t=1" % (x, y, w, h, colour))
        filters.append(
            "drawtext=fontfile=%s:text=%d:x=%d:y=%d:fontsize=12:fontcolor=%s:box=1:boxcolor=black@0.6"
            % (FONT, i, x + 1, max(0, y - 13), colour))
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", video, "-vf", ",".join(filters),
                    "-vsync", "0", "-frames:v", "1", out], check=True)


if __name__ == "__main__":
    main()
