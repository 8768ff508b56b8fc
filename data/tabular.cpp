// tabular.cpp — CSV/TSV through libcsv, and libsvm lines (data/tabular.h).
#include "data/tabular.h"

#include <csv.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>

#include "core/memory_info.h"
#include "core/tensor.h"

namespace ft {
namespace data {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open the table");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(path + ": cannot read the table");
  return text;
}

std::string shown(const std::string& cell) { return cell.size() > 40 ? cell.substr(0, 40) + "..." : cell; }

bool is_missing(const std::string& s) { return s.empty() || s == "NA" || s == "?"; }

// A finite number spelled fully by `s` (surrounding blanks allowed), or why not.
bool parse_number(const std::string& s, double* v, std::string* why) {
  size_t b = s.find_first_not_of(" \t\r"), e = s.find_last_not_of(" \t\r");
  if (b == std::string::npos) {
    *why = "is empty";
    return false;
  }
  const std::string t = s.substr(b, e - b + 1);
  char* end = nullptr;
  errno = 0;
  const double d = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size() || t.find_first_of("xXpP") != std::string::npos) {
    *why = "'" + shown(t) + "' is not a number";
    return false;
  }
  if (std::isnan(d) || std::isinf(d)) {
    *why = "'" + shown(t) + "' is not a finite number" + (errno == ERANGE ? " (past the double range)" : "");
    return false;
  }
  *v = d;
  return true;
}

char delimiter_for(const std::string& name, char given) {
  if (given) return given;
  auto ends = [&](const std::string& x) {
    return name.size() >= x.size() && name.compare(name.size() - x.size(), x.size(), x) == 0;
  };
  return ends(".tsv") || ends(".tab") || ends(".tsv.txt") ? '\t' : ',';
}

// libcsv calls back once per field and once per row end.
struct Rows {
  std::vector<std::vector<std::string>> rows;
  std::vector<int64_t> lines;  // the line each row starts on
  std::vector<std::string> cur;
  int64_t line = 1, row_start = 1;
};

void on_field(void* s, size_t n, void* data) {
  auto* r = static_cast<Rows*>(data);
  r->cur.emplace_back(static_cast<const char*>(s), n);
}
void on_row(int, void* data) {
  auto* r = static_cast<Rows*>(data);
  r->rows.push_back(std::move(r->cur));
  r->lines.push_back(r->row_start);
  r->cur.clear();
}

}  // namespace

Table read_csv(const std::string& path, const CsvOptions& opt) { return read_csv_text(slurp(path), path, opt); }

Table read_csv_text(const std::string& text, const std::string& name, const CsvOptions& opt) {
  if (text.find('\0') != std::string::npos) throw Error(name + ": holds a NUL byte: not a text table");
  Rows r;
  csv_parser p;
  if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) throw Error(name + ": cannot start the CSV parser");
  const char delim = delimiter_for(name, opt.delimiter);
  csv_set_delim(&p, static_cast<unsigned char>(delim));
  if (delim == '\t') csv_set_space_func(&p, [](unsigned char c) { return c == ' ' ? 1 : 0; });
  // Feed one line at a time, so each row knows the line it started on (a quoted
  // field may hold newlines; blank lines are skipped).
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    const size_t end = nl == std::string::npos ? text.size() : nl + 1;
    if (p.pstate == 0 && r.cur.empty()) r.row_start = r.line;  // no row under way
    if (csv_parse(&p, text.data() + pos, end - pos, on_field, on_row, &r) != end - pos) {
      const std::string why = csv_strerror(csv_error(&p));
      csv_free(&p);
      throw Error(name + ": row " + std::to_string(r.line) + ": " + why);
    }
    ++r.line;
    pos = end;
  }
  if (csv_fini(&p, on_field, on_row, &r) != 0) {
    const std::string why = csv_strerror(csv_error(&p));
    csv_free(&p);
    throw Error(name + ": row " + std::to_string(r.row_start) + ": " + why + " (an unclosed quote?)");
  }
  csv_free(&p);
  if (r.rows.empty()) throw Error(name + ": is empty (a header row and at least one row of data expected)");

  const std::vector<std::string>& header = r.rows[0];
  Table t;
  t.file = name;
  int64_t label_col = -1;
  for (size_t c = 0; c < header.size(); ++c) {
    const std::string& h = header[c];
    if (h.empty()) throw Error(name + ": row 1, column " + std::to_string(c + 1) + ": the header names no column");
    for (size_t d = 0; d < c; ++d)
      if (header[d] == h)
        throw Error(name + ": row 1: column '" + shown(h) + "' is named twice (columns " + std::to_string(d + 1) +
                    " and " + std::to_string(c + 1) + ")");
    if (!opt.label.empty() && h == opt.label) {
      label_col = int64_t(c);
      t.label = h;
    } else {
      t.features.push_back(h);
    }
  }
  if (label_col < 0 && !opt.label.empty() && opt.label_required) {
    std::string list;
    for (size_t c = 0; c < header.size() && c < 8; ++c) list += (c ? ", " : "") + shown(header[c]);
    throw Error(name + ": row 1: no column named '" + opt.label + "' for the label (columns: " + list +
                (header.size() > 8 ? ", ..." : "") + "); set data.label");
  }
  if (t.features.empty()) throw Error(name + ": row 1: no feature column beside the label");
  if (r.rows.size() < 2) throw Error(name + ": has a header and no rows of data");

  t.rows = int64_t(r.rows.size()) - 1;
  t.x.reserve(size_t(t.rows) * t.features.size());
  bool numeric_label = true;
  for (size_t i = 1; i < r.rows.size(); ++i) {
    const auto& row = r.rows[i];
    const std::string at = name + ": row " + std::to_string(r.lines[i]);
    if (row.size() != header.size())
      throw Error(at + ": has " + std::to_string(row.size()) + " cells, the header has " +
                  std::to_string(header.size()));
    t.line.push_back(r.lines[i]);
    for (size_t c = 0; c < row.size(); ++c) {
      if (int64_t(c) == label_col) {
        if (is_missing(row[c])) throw Error(at + ", column '" + shown(header[c]) + "': the label is missing");
        t.y_text.push_back(row[c]);
        continue;
      }
      double v = std::nan("");
      std::string why;
      if (!is_missing(row[c]) && !parse_number(row[c], &v, &why))
        throw Error(at + ", column '" + shown(header[c]) + "': " + why);
      t.x.push_back(v);
    }
  }
  if (label_col >= 0) {
    std::vector<double> y(size_t(t.rows));
    std::string why;
    for (size_t i = 0; i < y.size() && numeric_label; ++i) numeric_label = parse_number(t.y_text[i], &y[i], &why);
    if (numeric_label) {
      t.y = std::move(y);
      t.y_text.clear();
    }
  }
  return t;
}

Table read_libsvm(const std::string& path, int64_t features) { return read_libsvm_text(slurp(path), path, features); }

Table read_libsvm_text(const std::string& text, const std::string& name, int64_t features) {
  if (text.find('\0') != std::string::npos) throw Error(name + ": holds a NUL byte: not libsvm text");
  struct Row {
    double y;
    std::vector<std::pair<int64_t, double>> xs;
    int64_t line;
  };
  std::vector<Row> rows;
  int64_t max_index = 0, max_index_line = 0;
  std::istringstream in(text);
  std::string ln;
  for (int64_t line = 1; std::getline(in, ln); ++line) {
    const size_t hash = ln.find('#');
    if (hash != std::string::npos) ln.resize(hash);
    std::istringstream f(ln);
    std::string tok;
    if (!(f >> tok)) continue;  // blank or comment line
    const std::string at = name + ": row " + std::to_string(line);
    Row r;
    r.line = line;
    std::string why;
    if (!parse_number(tok, &r.y, &why)) throw Error(at + ", column 'label': " + why);
    int64_t last = 0;
    while (f >> tok) {
      const size_t colon = tok.find(':');
      double idx = 0, v = 0;
      if (colon == std::string::npos) throw Error(at + ": '" + shown(tok) + "' is not index:value");
      if (!parse_number(tok.substr(0, colon), &idx, &why) || idx != std::floor(idx) || idx < 1 || idx > 1e9)
        throw Error(at + ": '" + shown(tok) + "': the index must be an integer from 1 to 1e9");
      const auto j = int64_t(idx);
      if (!parse_number(tok.substr(colon + 1), &v, &why)) throw Error(at + ", column 'f" + std::to_string(j) + "': " + why);
      if (j <= last)
        throw Error(at + ": index " + std::to_string(j) + " after " + std::to_string(last) + " (indices must increase)");
      if (features > 0 && j > features)
        throw Error(at + ": index " + std::to_string(j) + " is past the " + std::to_string(features) + " features");
      last = j;
      if (j > max_index) max_index = j, max_index_line = line;
      r.xs.emplace_back(j, v);
    }
    rows.push_back(std::move(r));
  }
  if (rows.empty()) throw Error(name + ": is empty (libsvm lines 'label idx:value ...' expected)");
  const int64_t d = features > 0 ? features : max_index;
  if (d == 0) throw Error(name + ": no row has a feature (every line is a label only)");
  // The table is held densely: one double per cell plus a name per feature. One
  // large index in a small file would otherwise ask for gigabytes, so the size
  // is checked against the memory this process may still use first.
  const double need = double(rows.size()) * double(d) * sizeof(double) + double(d) * (sizeof(std::string) + 8);
  const size_t avail = available_memory_bytes();
  if (need > double(avail)) {
    const std::string shape = std::to_string(rows.size()) + " rows x " + std::to_string(d) + " features";
    const std::string what = features > 0 ? shape + " (the width asked for)"
                                          : "row " + std::to_string(max_index_line) + ": index " + std::to_string(d) +
                                                " makes " + shape;
    throw Error(name + ": " + what + ", " + human_bytes(need) + " held densely, more than the " +
                human_bytes(double(avail)) + " of memory available");
  }
  Table t;
  t.file = name;
  t.label = "label";
  t.rows = int64_t(rows.size());
  for (int64_t j = 1; j <= d; ++j) t.features.push_back("f" + std::to_string(j));
  t.x.assign(size_t(t.rows * d), 0.0);
  for (size_t i = 0; i < rows.size(); ++i) {
    t.y.push_back(rows[i].y);
    t.line.push_back(rows[i].line);
    for (const auto& kv : rows[i].xs) t.x[i * size_t(d) + size_t(kv.first - 1)] = kv.second;
  }
  return t;
}

}  // namespace data
}  // namespace ft
