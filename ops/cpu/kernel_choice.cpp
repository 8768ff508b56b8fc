// cpu/kernel_choice.cpp — per-shape choice between kernel implementations by timing.
#include "ops/cpu/kernel_choice.h"

#include <atomic>
#include <chrono>
#include <limits>
#include <map>
#include <mutex>
#include <unordered_map>

#include "core/log.h"
#include "core/thread_pool.h"

namespace ft {
namespace ops {
namespace {

struct Choices {
  std::mutex mu;
  std::unordered_map<std::string, size_t> chosen;
  std::map<std::string, std::string> winners;  // key -> the chosen candidate's name
  std::map<std::string, std::string> preset;   // preset_kernel_choices, not yet resolved
  std::vector<std::string> lines;
  std::string forced;
  // Under mu: key k's choice is candidate i, named `name`, reported once as `line`.
  void record(const std::string& k, size_t i, const std::string& name, const std::string& line) {
    if (!chosen.emplace(k, i).second) return;
    winners[k] = name;
    lines.push_back(line);
    logging::info("kernel choice: {}", line);
  }
  static Choices& get() {
    static Choices* c = new Choices();
    return *c;
  }
};

double seconds() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::atomic<bool> g_invariant{false};  // set_thread_count_invariant

}  // namespace

void set_thread_count_invariant(bool on) { g_invariant.store(on); }
bool thread_count_invariant() { return g_invariant.load(std::memory_order_relaxed); }

void run_chosen(const std::string& key, KernelCtx& ctx, const std::vector<KernelCandidate>& cands, int rule) {
  FT_CHECK(!cands.empty(), "run_chosen: no candidate for " + key);
  if (cands.size() == 1) return cands[0].fn(ctx);
  const std::string k = key + ", " + std::to_string(ctx.pool ? ctx.pool->threads() : 1) + " thread(s)";
  Choices& c = Choices::get();
  {
    std::unique_lock<std::mutex> l(c.mu);
    if (!c.forced.empty())
      for (const KernelCandidate& cand : cands)
        if (("," + c.forced + ",").find("," + std::string(cand.name) + ",") != std::string::npos) {
          l.unlock();
          return cand.fn(ctx);
        }
    auto it = c.chosen.find(k);
    if (it != c.chosen.end()) {
      l.unlock();
      return cands[it->second].fn(ctx);
    }
    // Untimed: the kernel the run chose before its resume, else the caller's rule.
    size_t pick = cands.size();
    const char* how = "";
    auto p = c.preset.find(k);
    if (p != c.preset.end()) {
      const std::string name = p->second;
      c.preset.erase(p);
      for (size_t i = 0; i < cands.size() && pick == cands.size(); ++i)
        if (name == cands[i].name) pick = i, how = "as before the resume";
      if (pick == cands.size())
        logging::info("kernel choice: {}: the kernel chosen before the resume ({}) is not in this build; choosing again",
                      k, name);
    }
    if (pick == cands.size() && rule >= 0 && size_t(rule) < cands.size()) pick = size_t(rule), how = "by shape";
    if (pick < cands.size()) {
      c.record(k, pick, cands[pick].name, k + ": -> " + cands[pick].name + " (" + how + ")");
      l.unlock();
      return cands[pick].fn(ctx);
    }
  }
  // First call with this key: each candidate once to warm up (primitive creation,
  // scratch growth), then the best of two timed runs. Not under the lock: a kernel
  // may wait on the pool, which runs other kernels.
  std::vector<double> ms(cands.size(), std::numeric_limits<double>::infinity());
  std::vector<std::string> why(cands.size());
  for (size_t i = 0; i < cands.size(); ++i) {
    try {
      cands[i].fn(ctx);
      for (int r = 0; r < 2; ++r) {
        const double t0 = seconds();
        cands[i].fn(ctx);
        ms[i] = std::min(ms[i], (seconds() - t0) * 1e3);
      }
    } catch (const std::exception& e) {
      why[i] = e.what();
    }
  }
  size_t best = cands.size();
  for (size_t i = 0; i < cands.size(); ++i)
    if (ms[i] < std::numeric_limits<double>::infinity() && (best == cands.size() || ms[i] < ms[best])) best = i;
  FT_CHECK(best < cands.size(), "run_chosen: every candidate failed for " + k + ": " + why[0]);
  std::string line = k + ":";
  for (size_t i = 0; i < cands.size(); ++i)
    line += std::string(" ") + cands[i].name +
            (why[i].empty() ? " " + fmt::format("{:.3f} ms", ms[i]) : " (cannot: " + why[i] + ")") +
            (i + 1 < cands.size() ? "," : "");
  line += std::string(" -> ") + cands[best].name;
  {
    std::lock_guard<std::mutex> l(c.mu);
    c.record(k, best, cands[best].name, line);
  }
  if (best + 1 != cands.size()) cands[best].fn(ctx);  // the outputs are the winner's
}

void force_kernel_choice(const std::string& names) {
  Choices& c = Choices::get();
  std::lock_guard<std::mutex> l(c.mu);
  c.forced = names;
}

std::map<std::string, std::string> kernel_choice_winners() {
  Choices& c = Choices::get();
  std::lock_guard<std::mutex> l(c.mu);
  std::map<std::string, std::string> all = c.preset;  // presets not reached yet are kept
  for (const auto& kv : c.winners) all[kv.first] = kv.second;
  return all;
}

void preset_kernel_choices(const std::map<std::string, std::string>& winners) {
  Choices& c = Choices::get();
  std::lock_guard<std::mutex> l(c.mu);
  for (const auto& kv : winners) {
    c.chosen.erase(kv.first);
    c.winners.erase(kv.first);
    c.preset[kv.first] = kv.second;
  }
}

std::vector<std::string> kernel_choices() {
  Choices& c = Choices::get();
  std::lock_guard<std::mutex> l(c.mu);
  return c.lines;
}

}  // namespace ops
}  // namespace ft
