// predict.h — predictions of a trained model for new rows (train --predict):
//
//   train --predict RUN_DIR/checkpoints --data new.csv --out preds.csv
//
// CHECKPOINT is a checkpoint folder (step-N), a checkpoints folder (its
// `latest`), or a run folder. The checkpoint carries the config and the fitted
// preprocessing (config.yaml, preprocess.json), so table rows are imputed and
// standardised as in training; their columns must be the fitted ones (by
// name; any order; the label column, when present, is ignored).
//
// The output is CSV, one line per input row, in order:
//   classifiers   class,p_<class>... (the label as in the training data, then
//                 each class's probability)
//   regressors    prediction
//   kmeans        cluster (the nearest centroid, 0-based)
// Models trained on csv or libsvm tables, and the MNIST classifiers (mlp, cnn:
// --data is an IDX image file such as t10k-images-idx3-ubyte).
#pragma once

#include <cstdint>
#include <string>

namespace ft {
namespace train {

struct PredictOptions {
  std::string checkpoint;  // a checkpoint folder, a checkpoints folder or a run folder
  std::string data;        // the rows to predict (the format the model was trained on)
  std::string out;         // the CSV to write ("-" = stdout)
  int64_t batch = 4096;    // rows per executor run
};

// Returns the rows written. Errors name the file (and row and column).
int64_t predict(const PredictOptions& o);

}  // namespace train
}  // namespace ft
