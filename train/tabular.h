// tabular.h — tables of numbers as a Dataset (data.type csv or libsvm), and the
// preprocessing fitted on the training split and saved with every checkpoint
// (preprocess.json), so `train --predict` reads new rows the same way.
//
//   data.train_file   the training table (.csv, .tsv; libsvm text for data.type libsvm)
//   data.eval_file    the evaluation table; empty = hold out data.eval_fraction of the training rows
//   data.label        the label column's header name (csv; "" = no labels, for kmeans)
//   data.missing      error | mean | median | zero: empty, NA or ? cells are an error, or imputed
//                     with the training split's per-feature mean or median, or 0
//   data.standardize  features to zero mean, unit variance (statistics of the training split)
//   data.task         auto | classification | regression: integer class labels or float values;
//                     auto asks the model (linear_regressor, dnn_regressor: regression)
//
// Classes are the distinct training labels, sorted (numbers by value, text by
// name); the model sees their index 0..K-1, and predictions are written back as
// the label. Every class of the evaluation split must occur in training.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "data/tabular.h"

namespace ft {
namespace train {

struct Preprocess {
  std::string format;                 // "csv" or "libsvm"
  std::string label;                  // label column name
  std::vector<std::string> features;  // column names, in the model's input order
  std::string task;                   // "classification", "regression" or "none" (no label column)
  std::vector<std::string> classes;   // classification: label text of class 0..K-1
  std::string missing = "error";      // data.missing
  std::vector<double> fill;           // per feature: the value a missing cell takes (imputation)
  std::vector<double> mean, scale;    // per feature: x' = (x - mean) / scale (0 and 1 = unchanged)

  // Fits imputation and standardisation on the training table.
  static Preprocess fit(const data::Table& train, const std::string& format, const std::string& task,
                        const std::string& missing, bool standardize);
  std::string to_json() const;
  // Throws naming `file` and the field on anything malformed.
  static Preprocess from_json(const std::string& text, const std::string& file);

  // Features (N, D) f32 after imputation and standardisation; errors name the
  // table's file, row and column (a missing cell when data.missing is error; a
  // column set that is not the fitted one).
  Tensor features_of(const data::Table& t) const;
  // Labels: (N) i32 class indices (classification; an unseen class is an error
  // naming file and row) or (N) f32 values.
  Tensor labels_of(const data::Table& t) const;
  // The label text of class index k, or of a regression value.
  std::string label_text(int64_t k) const { return classes.at(size_t(k)); }
};

// Reads a table as the config's data section says (data.type csv or libsvm);
// `features` for libsvm: the column count the model was fitted on (0 = from the file).
data::Table read_table(const std::string& type, const std::string& file, const std::string& label, bool label_required,
                       int64_t features = 0);

}  // namespace train
}  // namespace ft
