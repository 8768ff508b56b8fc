// ps_check.cpp — checks for the parameter-server tests.
//   ps_check compare A B [rtol]   checkpoints A and B (folders, or checkpoint dirs with
//                                 `latest`) hold the same tensors: names, shapes, dtypes,
//                                 and |a-b| <= rtol * max(|a|, |b|) (rtol 0 = bit-exact)
//   ps_check metrics FILE [--min-accuracy X] [--staleness-bound K] [--expect-stale]
//                                 the last eval record reaches X; every ps_staleness
//                                 histogram is non-empty with nothing above K (and, with
//                                 --expect-stale, some count above 0)
// Exit 0 when the check holds, 1 with a message naming what differs.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "train/checkpoint.h"

using namespace ft;

namespace {

int fail(const std::string& m) {
  std::fprintf(stderr, "ps_check: %s\n", m.c_str());
  return 1;
}

bool same_maps(const std::string& what, const train::TensorMap& a, const train::TensorMap& b, double rtol,
               std::string* err) {
  if (a.size() != b.size()) {
    *err = what + ": " + std::to_string(a.size()) + " tensors vs " + std::to_string(b.size());
    return false;
  }
  double worst = 0;
  std::string worst_name;
  for (const auto& kv : a) {
    auto it = b.find(kv.first);
    if (it == b.end()) {
      *err = what + ": '" + kv.first + "' missing from the second checkpoint";
      return false;
    }
    const Tensor &x = kv.second, &y = it->second;
    if (x.shape() != y.shape() || x.dtype() != y.dtype()) {
      *err = what + ": '" + kv.first + "' is " + shape_str(x.shape()) + " " + dtype_name(x.dtype()) + " vs " +
             shape_str(y.shape()) + " " + dtype_name(y.dtype());
      return false;
    }
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double u = x.at(i), v = y.at(i), d = std::fabs(u - v);
      const double scale = std::max(std::fabs(u), std::fabs(v));
      const double rel = d == 0 ? 0 : d / std::max(scale, 1e-30);
      if (d > rtol * scale || (rtol == 0 && d != 0)) {
        char buf[256];
        std::snprintf(buf, sizeof(buf), "%s: '%s'[%lld] = %.9g vs %.9g (relative difference %.3g > %.3g)",
                      what.c_str(), kv.first.c_str(), static_cast<long long>(i), u, v, rel, rtol);
        *err = buf;
        return false;
      }
      if (rel > worst && scale > 1e-6) {
        worst = rel;
        worst_name = kv.first;
      }
    }
  }
  std::printf("%s: %zu tensors agree (largest relative difference %.3g in '%s')\n", what.c_str(), a.size(), worst,
              worst_name.c_str());
  return true;
}

int compare(const std::string& a, const std::string& b, double rtol) {
  train::Checkpoint x = train::CheckpointManager::load(a), y = train::CheckpointManager::load(b);
  if (x.state.step != y.state.step) return fail("steps differ: " + std::to_string(x.state.step) + " vs " + std::to_string(y.state.step));
  std::string err;
  if (!same_maps("model", x.model, y.model, rtol, &err)) return fail(err);
  if (!same_maps("optimizer", x.optimizer, y.optimizer, rtol, &err)) return fail(err);
  std::printf("checkpoints at step %lld match (rtol %g)\n", static_cast<long long>(x.state.step), rtol);
  return 0;
}

int metrics(int argc, char** argv) {
  std::string path = argv[2];
  double min_acc = -1;
  int64_t bound = -1;
  bool expect_stale = false;
  for (int i = 3; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--min-accuracy" && i + 1 < argc) min_acc = std::atof(argv[++i]);
    else if (a == "--staleness-bound" && i + 1 < argc) bound = std::atoll(argv[++i]);
    else if (a == "--expect-stale") expect_stale = true;
    else return fail("unknown option " + a);
  }
  std::ifstream f(path);
  if (!f) return fail(path + ": cannot open");
  std::string line;
  nlohmann::json last_eval;
  int stale_records = 0;
  int64_t seen_max = 0;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    if (j.contains("eval")) last_eval = j;
    if (!j.contains("ps_staleness")) continue;
    ++stale_records;
    const auto& s = j["ps_staleness"];
    auto hist = s.at("hist").get<std::vector<int64_t>>();
    int64_t total = 0;
    for (size_t k = 0; k < hist.size(); ++k) {
      total += hist[k];
      if (hist[k] > 0) seen_max = std::max<int64_t>(seen_max, int64_t(k));
      if (bound >= 0 && int64_t(k) > bound && hist[k] > 0)
        return fail(path + ": step " + std::to_string(j["step"].get<int64_t>()) + ": " + std::to_string(hist[k]) +
                    " update(s) with staleness " + std::to_string(k) + " > bound " + std::to_string(bound));
    }
    if (bound >= 0 && s.at("max").get<int64_t>() > bound)
      return fail(path + ": max staleness " + std::to_string(s.at("max").get<int64_t>()) + " > bound " +
                  std::to_string(bound));
    if (total == 0) return fail(path + ": empty staleness histogram at step " + std::to_string(j["step"].get<int64_t>()));
  }
  if (bound >= 0 && stale_records == 0) return fail(path + ": no record carries ps_staleness");
  if (expect_stale && seen_max == 0) return fail(path + ": no update was stale (expected some with a slowed worker)");
  if (min_acc >= 0) {
    if (last_eval.is_null()) return fail(path + ": no eval record");
    double acc = last_eval.at("accuracy").get<double>();
    if (acc < min_acc) return fail(path + ": final test accuracy " + std::to_string(acc) + " < " + std::to_string(min_acc));
    std::printf("final test accuracy %.4f >= %.4f\n", acc, min_acc);
  }
  if (bound >= 0)
    std::printf("%d records: staleness never above the bound %lld (largest seen %lld)\n", stale_records,
                static_cast<long long>(bound), static_cast<long long>(seen_max));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc >= 4 && std::strcmp(argv[1], "compare") == 0) return compare(argv[2], argv[3], argc > 4 ? std::atof(argv[4]) : 1e-5);
    if (argc >= 3 && std::strcmp(argv[1], "metrics") == 0) return metrics(argc, argv);
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  std::fprintf(stderr, "usage: ps_check compare A B [rtol] | ps_check metrics FILE [--min-accuracy X] "
                       "[--staleness-bound K] [--expect-stale]\n");
  return 2;
}
