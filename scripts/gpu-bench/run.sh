#!/usr/bin/env bash
# Concord learning benches on one GPU, from the repository root: bash .gpu/run.sh   (results in $OUT; kit from scripts/gpu-bench/prepare.py)
#   (i)  bench/uncertainty.py --skip-rca, all LIDC cases, 2-4x the default iterations (one process: its
#        cost ratios are timed with the GPU to itself);
#   (ii) bench/active_learning.py, one process per (seed, strategy) in parallel (training is bound by
#        the single-threaded patch loader, ~15-20 ms a step; 12 processes use 12 of the 16 cores),
#        summarised together by --from-log; curves merged and plotted with learning.simulation.save_plot.
# Each part runs under `timeout`; the whole script stays under ~8.3 min. Files in $OUT (7):
#   env.txt uncertainty.out uncertainty.err al.out al.log al/curves.json al/curves.png
# Local dry run (tiny sizes, CPU): SMOKE=1 PY=/path/python3.12 SITE=/tmp/site-dry OUT=/tmp/out bash .gpu/run.sh
set -uo pipefail
OUT=${OUT:?set OUT to the output folder}
PY=${PY:-python3}
SITE=${SITE:-/tmp/site}
W=${WORK:-/tmp/concord-gpu-work}
mkdir -p "$OUT/al" "$W"
T0=$SECONDS
STRATS="random mc_entropy pulaski_anatomical kcenter"
if [[ ${SMOKE:-0} == 1 ]]; then
  DEV=${DEV:-cpu}
  U_T=900; U_THREADS=2
  U_ARGS="--max-cases 20 --seg-iterations 5 --prob-iterations 5 --dae-iterations 5 --samples 4 --repeats 1"
  AL_T=900; AL_SEEDS=1
  AL_ARGS="--rounds 1 --batch 4 --iterations 5 --max-cases 24"
else
  DEV=${DEV:-cuda}
  # (i) estimate on an H200 host: load 5 s + CUDA/imports 15 s + segmenter 3000 x ~22 ms (66 s)
  #     + PULASki 2000 x ~12 ms (24 s) + Focal-Tversky 2000 x ~6 ms (12 s) + DAE 1500 x ~9 ms (14 s)
  #     + test-side CPU work (GED/Hungarian over 289 cases x 16 samples, summaries) ~40 s  => ~3 min of 4.5.
  U_T=270; U_THREADS=4
  U_ARGS="--max-cases 2000 --seg-iterations 2400 --prob-iterations 3000 --dae-iterations 1200 --repeats 20"
  # (ii) per process: load 400 cases 2 s + imports/CUDA 15 s + 7 trainings (full data + 6 rounds)
  #      x 500 steps x ~25 ms (90 s; 12 processes share the GPU) + scoring/eval ~20 s  => ~2.2 min of 3.5.
  AL_T=210; AL_SEEDS=3
  AL_ARGS="--rounds 5 --batch 16 --iterations 500 --max-cases 400"
fi

echo "== install wheels into $SITE" >&2
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" .gpu/whl/*.whl || exit 1
"$PY" -m compileall -q -j 0 "$SITE" >/dev/null 2>&1
export PYTHONPATH="$SITE:$PWD" PYTHONUNBUFFERED=1 MPLCONFIGDIR="$W/mpl" MPLBACKEND=Agg
{
  echo "date: $(date -u +%FT%TZ)  nproc: $(nproc)  mem: $(free -g | awk '/Mem:/{print $2}') GiB"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -2
  "$PY" -c "import sys, torch, monai, nibabel, geomloss, numpy, scipy, sklearn
print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda,
      'available', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')
print('monai', monai.__version__, 'nibabel', nibabel.__version__, 'geomloss', geomloss.__version__,
      'numpy', numpy.__version__, 'scipy', scipy.__version__, 'sklearn', sklearn.__version__)"
  echo "uncertainty: $U_ARGS threads $U_THREADS timeout ${U_T}s"
  echo "active learning: $AL_SEEDS seeds x {$STRATS} processes: $AL_ARGS timeout ${AL_T}s"
} 2>&1 | tee "$OUT/env.txt" >&2

echo "== (i) uncertainty ($((SECONDS - T0))s)" >&2
OMP_NUM_THREADS=$U_THREADS timeout -k 10 "$U_T" "$PY" bench/uncertainty.py --data .gpu/lidc --skip-rca \
  --device "$DEV" --threads "$U_THREADS" $U_ARGS 2>&1 >"$OUT/uncertainty.out" | tee "$OUT/uncertainty.err" >&2
U_RC=${PIPESTATUS[0]}
echo "uncertainty exit $U_RC ($((SECONDS - T0))s)" | tee -a "$OUT/env.txt" >&2
[[ $U_RC == 0 ]] || echo "{\"bench\": \"uncertainty\", \"speedup\": null, \"error\": \"exit $U_RC (124: timed out)\"}" >>"$OUT/uncertainty.out"

# An exclusive-process GPU takes one CUDA context only: then one process, the default-sized run, 1 seed.
MODE=$(nvidia-smi --query-gpu=compute_mode --format=csv,noheader 2>/dev/null | head -1)
if [[ $MODE == Exclusive* ]]; then
  AL_SEEDS=1; STRATS=$(echo $STRATS | tr ' ' ',')
  [[ ${SMOKE:-0} == 1 ]] || AL_ARGS="--rounds 4 --batch 8 --iterations 300 --max-cases 200"
fi
echo "== (ii) active learning, $AL_SEEDS seeds x {$STRATS} (GPU mode ${MODE:-?}) ($((SECONDS - T0))s)" | tee -a "$OUT/env.txt" >&2
pids=()
for ((s = 0; s < AL_SEEDS; s++)); do
  for st in $STRATS; do
    OMP_NUM_THREADS=1 timeout -k 10 "$AL_T" "$PY" bench/active_learning.py --data .gpu/lidc --device "$DEV" \
      --threads 1 --seeds 1 --first-seed "$s" --strategies "$st" $AL_ARGS --out "$W/al-$s-$st" \
      >"$W/al-$s-$st.out" 2>"$W/al-$s-$st.err" &
    pids+=("$!:$s-$st")
  done
done
for p in "${pids[@]}"; do
  wait "${p%%:*}"
  echo "al ${p#*:} exit $?" | tee -a "$OUT/env.txt" >&2
done
cat "$W"/al-*.err >"$OUT/al.log"
grep -hE "full-data Dice|Error|Traceback" "$OUT/al.log" | tail -30 >&2
"$PY" bench/active_learning.py --from-log "$OUT/al.log" --device "$DEV" $AL_ARGS \
  >"$OUT/al.out" 2>>"$OUT/al.log" \
  || echo '{"bench": "active_learning", "speedup": null, "error": "no complete curve in al.log"}' >>"$OUT/al.out"
"$PY" - "$W" "$OUT/al" <<'EOF' 2>&1 | tee -a "$OUT/env.txt" >&2
# Merge the per-process curves into one curves.json and plot them with the harness's own save_plot.
import json, sys
from pathlib import Path
from learning.simulation import SimulationConfig, SimulationResult, save_plot
from learning.simulation.harness import RoundRecord
work, out = Path(sys.argv[1]), Path(sys.argv[2])
runs = []
for d in sorted(work.glob("al-*-*/")):
    f = d / "curves.json" if (d / "curves.json").exists() else d / "curves.partial.json"
    if f.exists():
        runs += json.loads(f.read_text())
(out / "curves.json").write_text(json.dumps(runs, indent=1))
res = [SimulationResult(strategy=r["strategy"], seed=r["seed"], pool=r["pool"], test=r["test"],
                        full_data_dice=r["full_data_dice"], records=tuple(RoundRecord(**x) for x in r["records"]),
                        acquired=tuple(tuple(a) for a in r["acquired"]),
                        config=SimulationConfig(**{**r["config"], "channels": tuple(r["config"]["channels"])}),
                        elapsed_s=r["elapsed_s"]) for r in runs]
if res:
    save_plot(res, out / "curves.png")
print(f"merged {len(runs)} curves into {out / 'curves.json'}")
EOF

echo "== done in $((SECONDS - T0))s; JSON last lines:" >&2
echo "uncertainty: $(tail -n 1 "$OUT/uncertainty.out" 2>/dev/null)"
echo "active_learning: $(tail -n 1 "$OUT/al.out" 2>/dev/null)"
