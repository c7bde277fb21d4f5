#!/bin/sh
# Zoom into a region of one frame for review; grid lines every 10 source
# pixels (aligned to the frame when X and Y are multiples of 10).
# usage: crop.sh VIDEO FRAME X Y W H OUT.png [SCALE]
set -eu
video=$1 frame=$2 x=$3 y=$4 w=$5 h=$6 out=$7 scale=${8:-3}
ffmpeg -loglevel error -y -i "$video" \
	-vf "select='eq(n\,$frame)',crop=$w:$h:$x:$y,scale=iw*$scale:ih*$scale:flags=neighbor,drawgrid=w=10*$scale:h=10*$scale:t=1:c=white@0.25" \
	-vsync 0 -frames:v 1 "$out"
