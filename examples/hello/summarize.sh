#!/usr/bin/env bash
# Summarizes a file of numbers (one per line): count, sum, mean. Writes summary.txt and, inside
# a lightning-local app, reports the figures to the work's state with the curl one-liner.
set -euo pipefail
input="${1:?usage: summarize.sh NUMBERS_FILE}"
read -r count sum < <(awk '{ n++; s += $1 } END { print n, s }' "$input")
mean=$(awk -v s="$sum" -v n="$count" 'BEGIN { printf "%.2f", s / n }')
echo "count=$count sum=$sum mean=$mean" | tee summary.txt
if [ -n "${LIGHTNING_STATE_URL:-}" ]; then
  curl -sf -X PATCH -H "Authorization: Bearer $LIGHTNING_STATE_TOKEN" \
    -H 'Content-Type: application/merge-patch+json' \
    -d "{\"count\": $count, \"sum\": $sum, \"mean\": $mean}" "$LIGHTNING_STATE_URL"
fi
