// tabular.h — tables of numbers from text files: CSV/TSV with a header (parsed by
// libcsv, RFC 4180 quoting) and libsvm's sparse "label idx:value ..." lines.
//
// Every error is one line naming the file, the row (1-based line of the file;
// the header is row 1) and the column (by header name where there is one):
//   iris.csv: row 7, column 'petal_width': 'abc' is not a number
// Empty cells, NA and ? are missing values, kept as NaN for the caller to
// reject or impute; a literal nan or inf cell (or a number past the double
// range) is an error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ft {
namespace data {

struct Table {
  std::string file;
  std::vector<std::string> features;  // column names, in file order, without the label
  std::string label;                  // the label column's name ("" = none read)
  int64_t rows = 0;
  std::vector<double> x;              // rows x features, row-major; NaN = missing
  std::vector<double> y;              // rows label values (numeric labels)
  std::vector<std::string> y_text;    // rows label cells, when the label column is not numeric
  std::vector<int64_t> line;          // the file line of each row (for errors found later)
  int64_t cols() const { return int64_t(features.size()); }
};

struct CsvOptions {
  std::string label;           // the label column's header name; "" = no label column
  bool label_required = true;  // a missing label column is an error (false: read features only)
  char delimiter = 0;          // 0: tab for .tsv/.tab files, else ','
};

// Reads a delimited table with a header row. Label cells may be numbers or text
// (class names); feature cells must be numbers or empty.
Table read_csv(const std::string& path, const CsvOptions& opt);
Table read_csv_text(const std::string& text, const std::string& name, const CsvOptions& opt);

// Reads libsvm lines "label idx:value idx:value ..." (indices 1-based, increasing,
// absent = 0). `features` = 0 takes the largest index seen; otherwise an index
// above it is an error. Feature names are f1..fN.
Table read_libsvm(const std::string& path, int64_t features = 0);
Table read_libsvm_text(const std::string& text, const std::string& name, int64_t features = 0);

}  // namespace data
}  // namespace ft
