#!/usr/bin/env bash
# Lists every `unsafe {` block in the workspace's Rust files that has no `// SAFETY:` comment in
# the comment lines directly above it (STYLE.md: every unsafe block says why it is sound), and
# fails when there is one. Part of `make lint`.
set -euo pipefail
cd "$(dirname "$0")/.."
git ls-files -z '*.rs' | xargs -0 awk '
  FNR == 1 { safety = 0 }
  {
    text = $0; sub(/^[ \t]+/, "", text)
    code = $0; sub(/\/\/.*/, "", code)
    if (code ~ /(^|[^A-Za-z0-9_])unsafe[ \t]*\{/ && !safety) {
      print FILENAME ":" FNR ": " text
      missing++
    }
    if (text ~ /^\/\//) { if (text ~ /^\/\/ SAFETY:/) safety = 1 } else safety = 0
  }
  END {
    if (missing) { print missing " unsafe block(s) without a // SAFETY: line directly above" > "/dev/stderr"; exit 1 }
  }'
