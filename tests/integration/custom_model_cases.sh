#!/usr/bin/env bash
# custom_model_cases.sh BUILD_DIR WORK — examples/custom_model as a user's project: flowtrain
# installed from BUILD_DIR into WORK/prefix, the example built against it with
# find_package(flowtrain), then trained under every strategy, in deterministic mode,
# resumed, and given bad input.
set -euo pipefail
build=$1
W=$2
src=$(cd "$(dirname "$0")/../.." && pwd)
check=$src/tests/integration/check.py
fails=$src/tests/integration/expect_fail.sh
MPI=(mpirun --oversubscribe --bind-to none)
rm -rf "$W" && mkdir -p "$W"
cmake --install "$build" --prefix "$W/prefix" >/dev/null
cmake -S "$src/examples/custom_model" -B "$W/build" -DCMAKE_PREFIX_PATH="$W/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$W/build" -j2 >/dev/null
CT=$W/build/custom_train
cd "$src/examples/custom_model"
run() {  # run NAME NP ARGS... : metrics in $W/NAME.jsonl, checkpoints in $W/NAME
  local name=$1 np=$2
  shift 2
  local cmd=("$CT" --config custom.yaml --set train.run_dir="$W/run-$name" --set train.metrics_file="$W/$name.jsonl" --set train.checkpoint.dir="$W/$name" "$@")
  [ "$np" -gt 1 ] && cmd=("${MPI[@]}" -np "$np" "${cmd[@]}")
  "${cmd[@]}" >"$W/$name.log" 2>&1 || { cat "$W/$name.log"; echo "FAIL: $name"; exit 1; }
  echo "ok: $name: $(grep '^eval' "$W/$name.log" | tail -1)"
}
run np1 1
python3 "$check" accuracy "$W/np1.jsonl" 0.9
run np2 2 --set data.batch_size=16
python3 "$check" accuracy "$W/np2.jsonl" 0.9
run ps_async_np3 3 --set distributed.mode=ps-async --set data.batch_size=16
python3 "$check" accuracy "$W/ps_async_np3.jsonl" 0.85
# Deterministic mode: np 1 and np 2 at the same global batch end bit-identical.
run det_np1 1 --set distributed.deterministic=true --set data.batch_size=32
run det_np2 2 --set distributed.deterministic=true --set data.batch_size=16
python3 "$check" same "$W/det_np1/step-00000300" "$W/det_np2/step-00000300"
# Resume: the step-150 checkpoint alone, resumed, ends where the uninterrupted run did.
mkdir -p "$W/part" && cp -r "$W/np1/step-00000150" "$W/part/" && echo step-00000150 >"$W/part/latest"
"$CT" --config custom.yaml --set train.metrics_file= --set train.checkpoint.dir="$W/part" --resume >"$W/resume.log" 2>&1 \
  || { cat "$W/resume.log"; exit 1; }
grep -q "resumed from .* at step 150" "$W/resume.log"
python3 "$check" same "$W/np1/step-00000300" "$W/part/step-00000300"
echo "ok: resume bit-identical"
# The project's own keys are checked like the built-in ones; so is its data.
"$fails" --one-line "key 'model.width' = 1 is out of range" "$CT" --config custom.yaml --set model.width=1
printf 'model:\n  type: resmlp\n  widht: 8\n' >"$W/typo.yaml"
"$fails" --one-line "$W/typo.yaml:3: unknown key 'model.widht'" "$CT" --config "$W/typo.yaml"
"$fails" --one-line "key 'data.points' must be even" "$CT" --config custom.yaml --set data.points=2047
"$fails" --one-line "input 'points': the model takes \[?, 2\] f32, the dataset's training column 0 gives \[?, 3\] f32" \
  "$CT" --config custom.yaml --overwrite --set data.features=3 --set train.checkpoint.dir=
"$fails" --one-line "is not a registered model (registered: bert, cnn, dnn_classifier, dnn_regressor, kmeans, linear_classifier, linear_regressor, mlp, naive_bayes, resmlp)" \
  "$CT" --config custom.yaml --set model.type=resnet
"$CT" --help-config | grep -q "model.width"
echo "all custom model cases passed"
