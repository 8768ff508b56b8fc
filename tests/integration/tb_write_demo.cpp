// tb_write_demo.cpp — tb_write_demo DIR: an events file of known scalars in DIR, with
// DIR/metrics.jsonl holding the same values (train and eval records, as the trainer writes
// them) and DIR/metrics_off.jsonl with one loss value off by 1e-5 (for tb_events_cases.sh).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/tensor.h"
#include "train/metrics.h"
#include "train/tb_events.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: tb_write_demo DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  try {
    ft::train::EventWriter w(dir);
    ft::train::MetricsLog m(dir + "/metrics.jsonl"), off(dir + "/metrics_off.jsonl");
    const double t0 = 1.7e9;
    for (int64_t step = 10; step <= 200; step += 10) {
      const double loss = 2.3 * std::exp(-step / 40.0) + 0.1, lr = 1e-3 * std::min(1.0, step / 30.0);
      w.scalar("loss", step, loss, t0 + step);
      w.scalar("lr", step, lr, t0 + step);
      nlohmann::json rec = {{"step", step}, {"loss", loss}, {"lr", lr}, {"examples_per_s", 1234.5}};
      m.write(rec);
      if (step == 100) rec["loss"] = loss * (1 + 1e-5);
      off.write(rec);
      if (step % 50 == 0) {
        const double eloss = loss * 1.1, acc = 1.0 - eloss / 3.0;
        w.scalar("eval/loss", step, eloss, t0 + step + 0.5);
        w.scalar("eval/accuracy", step, acc, t0 + step + 0.5);
        const nlohmann::json ev = {{"step", step}, {"eval", "test"}, {"loss", eloss}, {"accuracy", acc}};
        m.write(ev);
        off.write(ev);
      }
    }
    w.flush();
    std::printf("%s\n", w.path().c_str());
  } catch (const ft::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
