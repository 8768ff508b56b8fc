#!/usr/bin/env bash
# bad_input_cases.sh TRAIN TABLES RUNS — bad tables and predict inputs: each run
# exits non-zero with one line naming the file, row and column (or key); none
# crashes or hangs. TABLES holds scripts/export_sklearn_data.py's files.
set -uo pipefail
T=$1
D=$2
R=$3
here=$(cd "$(dirname "$0")/.." && pwd)
FAILS=$here/integration/expect_fail.sh
rm -rf "$R" && mkdir -p "$R"
n=0
ok() { n=$((n + 1)); echo "case $n ok: $*"; }
die() { echo "FAIL: $*"; exit 1; }
LIN=(--config configs/tabular/breast_cancer_linear.yaml --set train.steps=20 --set data.batch_size=16
     --set train.run_dir="$R/run" --overwrite --set data.eval_file=$D/breast_cancer_test.csv)
# fails PATTERN TABLE_TEXT [more args]: training on a table holding TABLE_TEXT fails so.
fails() {
  local pattern=$1 text=$2
  shift 2
  printf '%b' "$text" >"$R/t.csv"
  "$FAILS" --one-line "$pattern" "$T" "${LIN[@]}" --set data.train_file="$R/t.csv" "$@" || die "$pattern"
  ok "$pattern"
}
fails "t.csv: row 3: has 2 cells, the header has 3" 'a,b,target\n1,2,0\n3,4\n'
fails "t.csv: row 2, column 'b': 'x1' is not a number" 'a,b,target\n1,x1,0\n3,4,1\n'
fails "t.csv: row 1: no column named 'target' for the label" 'a,b,label\n1,2,0\n3,4,1\n'
fails "t.csv: is empty" ''
fails "t.csv: has a header and no rows of data" 'a,b,target\n'
fails "t.csv: row 3, column 'a': 'nan' is not a finite number" 'a,b,target\n1,2,0\nnan,4,1\n'
fails "t.csv: row 2, column 'b': 'inf' is not a finite number" 'a,b,target\n1,inf,0\n3,4,1\n'
fails "t.csv: row 2, column 'b': '1e999' is not a finite number (past the double range)" 'a,b,target\n1,1e999,0\n3,4,1\n'
fails "t.csv: row 3, column 'a': the value is missing (set data.missing" 'a,b,target\n1,2,0\n,4,1\n'
fails "t.csv: row 2: error parsing data while strict checking enabled (an unclosed quote?)" 'a,b,target\n"1,2,0\n3,4,1\n'
fails "t.csv: row 1: column 'a' is named twice" 'a,a,target\n1,2,0\n3,4,1\n'
fails "t.csv: column 'target': the training labels hold one class" 'a,b,target\n1,2,0\n3,4,0\n'
# An evaluation class never seen in training names its file and row.
printf 'a,b,target\n1,2,0\n3,4,1\n' >"$R/tr.csv"
printf 'a,b,target\n1,2,0\n3,4,7\n' >"$R/ev.csv"
"$FAILS" --one-line "ev.csv: row 3, column 'target': class '7' never occurs in the training labels" \
  "$T" "${LIN[@]}" --set data.train_file="$R/tr.csv" --set data.eval_file="$R/ev.csv" || die "unseen class"
ok "unseen eval class"
# Missing cells imputed: training succeeds with data.missing=mean.
printf 'a,b,target\n1,2,0\n,4,1\n5,,0\n7,8,1\n' >"$R/m.csv"
"$T" "${LIN[@]}" --set data.train_file="$R/m.csv" --set data.eval_file="$R/m.csv" --set data.batch_size=4 \
  --set data.missing=mean -q || die "imputation"
grep -q '"fill"' "$R/run/checkpoints/step-00000020/preprocess.json" || die "no preprocess.json in the checkpoint"
ok "missing cells imputed, preprocessing saved in the checkpoint"
# k above the rows.
"$FAILS" --one-line "model.k = 500 is above the 450 training rows" \
  "$T" --config configs/tabular/blobs_kmeans.yaml --set model.k=500 --set train.run_dir="$R/km" --overwrite \
  --set data.train_file=$D/blobs_train.csv --set data.eval_file=$D/blobs_test.csv || die "k above rows"
ok "k above rows"
# kmeans under a parameter-server mode.
"$FAILS" --one-line "model.type kmeans is fitted by passes" \
  "$T" --config configs/tabular/blobs_kmeans.yaml --set distributed.mode=ps-async --set train.run_dir="$R/km" \
  --overwrite --set data.train_file=$D/blobs_train.csv --set data.eval_file=$D/blobs_test.csv || die "kmeans ps"
ok "kmeans in ps-async"
# libsvm: indices must increase, and values be numbers.
printf '1 1:0.5 3:1\n0 2:1 1:3\n' >"$R/t.libsvm"
"$FAILS" --one-line "t.libsvm: row 2: index 1 after 2 (indices must increase)" \
  "$T" "${LIN[@]}" --set data.type=libsvm --set data.train_file="$R/t.libsvm" --set data.eval_file="$R/t.libsvm" \
  || die "libsvm order"
ok "libsvm index order"
# Predict: columns that do not match the checkpoint's, a missing checkpoint, a missing file.
"$T" "${LIN[@]}" --set data.train_file=$D/breast_cancer_train.csv -q || die "training for predict"
head -1 "$D/breast_cancer_test.csv" | sed 's/mean_radius/radius/' >"$R/p.csv"
tail -n +2 "$D/breast_cancer_test.csv" >>"$R/p.csv"
"$FAILS" --one-line "p.csv: row 1: no column 'mean_radius', which the model was fitted on" \
  "$T" --predict "$R/run" --data "$R/p.csv" --out "$R/preds.csv" || die "predict columns"
ok "predict columns"
"$FAILS" --one-line "$R/none: no such checkpoint or run folder" \
  "$T" --predict "$R/none" --data "$R/p.csv" --out "$R/preds.csv" || die "predict checkpoint"
ok "predict checkpoint missing"
"$FAILS" --one-line "--predict, --data and --out go together" "$T" --predict "$R/run" --data "$R/p.csv" || die "predict usage"
ok "predict usage"
# The columns in another order predict the same (by name).
/usr/bin/python3 - "$D/breast_cancer_test.csv" "$R/shuffled.csv" <<'PY'
import sys
rows = [l.rstrip("\n").split(",") for l in open(sys.argv[1])]
order = list(range(len(rows[0])))[::-1]
open(sys.argv[2], "w").write("".join(",".join(r[i] for i in order) + "\n" for r in rows))
PY
"$T" --predict "$R/run" --data "$D/breast_cancer_test.csv" --out "$R/a.csv" -q || die "predict a"
"$T" --predict "$R/run" --data "$R/shuffled.csv" --out "$R/b.csv" -q || die "predict b"
cmp -s "$R/a.csv" "$R/b.csv" || die "column order changed the predictions"
ok "columns by name"
echo "bad_input_cases: all $n cases pass"
