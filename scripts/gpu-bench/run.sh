#!/usr/bin/env bash
# Concord learning benches on one GPU, from the repository root: bash .gpu/run.sh   (results in $OUT; kit from scripts/gpu-bench/prepare.py)
# The two parts run side by side (tiny nets leave the GPU mostly idle; the 16 cores are the limit):
#   (i)  bench/uncertainty.py --skip-rca, all LIDC cases, wider probabilistic U-Nets (16-32-64) and 2-5x the
#        default iterations, 2 threads. Its cost ratios share the GPU with (ii): read them as indicative only.
#   (ii) bench/active_learning.py, one process per (seed, strategy) (training is bound by the single-threaded
#        patch loader; 3 seeds x 5 strategies = 15 processes), summarised together by --from-log; curves merged
#        and plotted with learning.simulation.save_plot.
# Each part runs under `timeout` (U_T, AL_T); the whole script stays under ~7.5 min. Files in $OUT (7):
#   env.txt uncertainty.out uncertainty.err al.out al.log al/curves.json al/curves.png
# Local dry run (tiny sizes, CPU): SMOKE=1 PY=/path/python3 SITE=/tmp/site-dry OUT=/tmp/out bash .gpu/run.sh
set -uo pipefail
OUT=${OUT:?set OUT to the output folder}
PY=${PY:-python3}
SITE=${SITE:-/tmp/site}
W=${WORK:-/tmp/concord-gpu-work}
mkdir -p "$OUT/al" "$W"
T0=$SECONDS
STRATS="random mc_entropy pulaski_anatomical kcenter tta_diverse"
if [[ ${SMOKE:-0} == 1 ]]; then
  DEV=${DEV:-cpu}
  U_T=900; U_THREADS=1
  U_ARGS="--max-cases 20 --seg-iterations 5 --prob-iterations 5 --dae-iterations 5 --samples 4 --repeats 1 --dae-seeds 1"
  AL_T=900; AL_SEEDS=1
  AL_ARGS="--rounds 1 --batch 4 --iterations 5 --max-cases 24"
else
  DEV=${DEV:-cuda}
  # (i) unmeasured on a GPU so far: sized so that even at ~3x the single-process step times estimated
  #     earlier (segmenter ~22 ms, PULASki ~12 ms, DAE ~9 ms a step) the trainings end by ~300 s; the
  #     GED figures are logged to uncertainty.err as soon as they exist, so a timeout still leaves them.
  U_T=420; U_THREADS=2
  U_ARGS="--max-cases 2000 --seg-iterations 1500 --prob-iterations 3000 --dae-iterations 600 --prob-channels 16,32,64,128 --dae-seeds 2 --repeats 10"
  # (ii) per process: load 400 cases + imports/CUDA ~20 s + 7 trainings (full data + 6 rounds) x 500 steps.
  AL_T=400; AL_SEEDS=3
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

echo "== (i) uncertainty, in the background ($((SECONDS - T0))s)" >&2
(
  OMP_NUM_THREADS=$U_THREADS timeout -k 10 "$U_T" "$PY" bench/uncertainty.py --data .gpu/lidc --skip-rca \
    --device "$DEV" --threads "$U_THREADS" $U_ARGS >"$OUT/uncertainty.out" 2>"$OUT/uncertainty.err"
  U_RC=$?
  echo "uncertainty exit $U_RC ($((SECONDS - T0))s)" | tee -a "$OUT/env.txt" >&2
  [[ $U_RC == 0 ]] || echo "{\"bench\": \"uncertainty\", \"speedup\": null, \"error\": \"exit $U_RC (124: timed out)\"}" >>"$OUT/uncertainty.out"
) &
U_PID=$!

# An exclusive-process GPU takes one CUDA context only: then (i) first, alone, and (ii) as one process,
# the default-sized run, 1 seed, in the time left.
MODE=$(nvidia-smi --query-gpu=compute_mode --format=csv,noheader 2>/dev/null | head -1)
if [[ $MODE == Exclusive* ]]; then
  wait "$U_PID"
  AL_SEEDS=1; STRATS=$(echo $STRATS | tr ' ' ','); AL_T=180
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
wait "$U_PID"
grep -hE "GED|Spearman|AUROC|costs|Error|Traceback" "$OUT/uncertainty.err" | tail -20 >&2
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
