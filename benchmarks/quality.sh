#!/usr/bin/env bash
# Time-to-quality of a recipe through the command line, as a user would run it:
# train with the full-mode defaults (from scratch), draw 10,000 samples, score them
# with every metric of gan_utils.evaluation.evaluate (the shipped MNIST classifier's features).
#   bash benchmarks/quality.sh gan
# Writes artifacts/benchmarks/<model>/ and prints the training minutes and the scores.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: bash benchmarks/quality.sh MODEL}
out=artifacts/benchmarks/$model
PY=${PY:-.venv/bin/python}
rm -rf "$out"
unset GAN_QUICK
"$PY" -m gan_utils train "$model" --out "$out"
"$PY" -m gan_utils sample "$out" --n 10000 --out "$out/samples.npz"
"$PY" -m gan_utils evaluate "$out/samples.npz" --format json --no-floor | tee "$out/scores.json"
"$PY" - "$out" <<'PY'
import json, sys
h = json.load(open(f"{sys.argv[1]}/history.json"))
print(f"training time: {sum(h['seconds']) / 60:.1f} min over {len(h['seconds'])} epochs "
      f"(median {sorted(h['seconds'])[len(h['seconds']) // 2]:.1f} s/epoch)")
PY
