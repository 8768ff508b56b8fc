// ps_strategy.cpp — ps-async and ps-sync: ranks 0..S-1 are parameter servers
// (ps/server.h), ranks S..N-1 workers (ps/client.h). Variables are sharded by
// ps::ShardPlan; servers own the optimizer state and apply updates; workers
// pull parameters before forward and push gradients after backward. A push
// also asks for the next step's parameters, so the servers' update and the
// pull overlap the worker's time between steps (batch preparation, logging).
//
// The chief worker (rank S) gathers every shard and the servers' optimizer
// state for evaluation and checkpoints, reassembled per whole variable, so
// checkpoints are the same as a single process's and resume across modes. On
// resume the servers take their shards of the loaded parameters and state.
//
// A server applies updates with the optimizer the trainer built from the config
// on its rank (ctx.opt), keyed by piece names, and the learning rate of the
// pushing worker's step from the config's schedule.
//
// Metrics records (chief, every train.log_every steps) carry the servers'
// cumulative counters from their latest replies, summed over servers:
//   ps_staleness     {bound, max, hist}: hist[i] = updates applied while their
//                    worker was i steps ahead of the slowest active worker
//   ps_update_delay  {hist}: hist[i] = updates applied i updates after the pull
//                    their gradient was computed from
//   ps_server_bytes_in / _out / ps_server_updates: per server
// (the last histogram bin counts everything at or above it).
//
// Differences from allreduce-sync: the logged loss is the chief's own (not the
// mean over workers); the shared update (train/update.h) clips each worker's own
// gradient by its global norm before the push (servers never see a whole
// gradient), and the servers apply the optimizer step.
#include <cmath>
#include <cstdio>
#include <exception>

#include "core/log.h"
#include "ps/client.h"
#include "ps/plan.h"
#include "ps/server.h"
#include "train/optim_config.h"
#include "optim/clip.h"
#include "train/registry.h"

namespace ft {
namespace train {
namespace {

nlohmann::json hist_json(const int64_t* h) {
  int last = ps::kHistBins - 1;
  while (last > 0 && h[last] == 0) --last;
  return std::vector<int64_t>(h, h + last + 1);
}

class PsStrategy : public Strategy {
 public:
  PsStrategy(const RunConfig& c, const comm::CommPtr& world, bool sync) : sync_(sync), servers_(c.distributed.ps.servers) {
    if (servers_ >= world->size())
      c.fail("distributed.ps.servers", "= " + std::to_string(servers_) + " leaves no worker among " +
                                           std::to_string(world->size()) + " rank(s) (" + c.distributed.mode +
                                           " needs fewer servers than ranks)");
  }

  ~PsStrategy() override {
    // On an error the job is being aborted while transfers may still be posted:
    // keep the server/client (their buffers and completion counters) alive.
    if (std::uncaught_exceptions() > 0) {
      server_.release();
      client_.release();
    }
  }

  std::string name() const override { return sync_ ? "ps-sync" : "ps-async"; }
  Roles roles(int rank, int size) const override {
    return {rank >= servers_, rank == servers_, rank - servers_, size - servers_};
  }
  bool is_worker(int rank) const { return rank >= servers_; }
  bool is_chief(int rank) const { return rank == servers_; }

  void setup(StepContext& ctx) override {
    comm::Communicator& w = *ctx.world;
    std::vector<ps::VarSpec> vars;
    for (const Value& p : ctx.params) {
      const Tensor& t = ctx.g.value(p);
      if (t.dtype() != DType::F32)
        throw Error("distributed.mode " + name() + ": variable '" + p.name() + "' is " + dtype_name(t.dtype()) +
                    "; parameter servers hold f32 variables");
      vars.push_back({p.name(), t.numel()});
    }
    const double chunk_mb = ctx.cfg.distributed.ps.chunk_mb;
    plan_ = ps::ShardPlan::make(vars, servers_, std::max<int64_t>(4, int64_t(chunk_mb * 1024 * 1024)));
    comm::verify_consistent(w, plan_.hash(), "parameter-server sharding plan");
    staleness_ = sync_ ? 0 : ctx.cfg.distributed.ps.staleness;
    // A silent peer ends the job after distributed.stall_timeout_s when set,
    // else after stall_warning_s (the ps modes have no warn-only stage).
    stall_key_ = ctx.cfg.distributed.stall_timeout_s > 0 ? "distributed.stall_timeout_s" : "distributed.stall_warning_s";
    stall_s_ = ctx.cfg.distributed.stall_timeout_s > 0 ? ctx.cfg.distributed.stall_timeout_s
                                                       : ctx.cfg.distributed.stall_warning_s;
    if (is_chief(w.rank()))
      logging::info("{}: {}, {} worker(s), staleness bound {}", name(), plan_.describe(), w.size() - servers_, staleness_);
    // ps-sync workers step together and agree on a stop among themselves.
    workers_ = w.split(is_worker(w.rank()) ? 1 : 0, w.rank());
    if (!is_worker(w.rank())) {
      sched_ = schedule_from_config(ctx.cfg);
      ps::ServerOptions o;
      o.sync = sync_;
      o.staleness = staleness_;
      o.stall_s = stall_s_;
      o.stall_key = stall_key_;
      o.lr = [s = sched_.get()](int64_t step) { return s->lr(step); };
      if (Timeline* tl = ctx.timeline) {  // the first train.trace_steps steps' updates of every worker
        const int64_t limit = ctx.cfg.train.trace_steps * (w.size() - servers_);
        o.on_apply = [tl, limit, n = int64_t(0)](int64_t step, int64_t t0, int64_t t1) mutable {
          if (n++ < limit) tl->span({"apply step " + std::to_string(step + 1), "server_apply", kServerLane, t0, t1, nullptr});
        };
      }
      std::vector<int> workers;
      for (int r = servers_; r < w.size(); ++r) workers.push_back(r);
      server_ = std::make_unique<ps::ParameterServer>(w, plan_, w.rank(), workers, ctx.opt, o);
      std::vector<const float*> data;
      for (const Value& p : ctx.params) data.push_back(ctx.g.value(p).data<float>());
      server_->set_values(data);
      // ctx.opt holds the checkpoint's whole-variable state on resume (empty otherwise).
      server_->load_state(ctx.opt.state());
      return;
    }
    std::vector<int> server_ranks;
    for (int s = 0; s < servers_; ++s) server_ranks.push_back(s);
    client_ = std::make_unique<ps::WorkerClient>(w, plan_, server_ranks, 2 * stall_s_ + 5);
    for (const Value& p : ctx.params) {
      vars_.push_back(ctx.g.value(p).data<float>());
      total_elems_ += ctx.g.value(p).numel();
    }
    fetch_ = {ctx.model.loss};
    fetch_.insert(fetch_.end(), ctx.grads.begin(), ctx.grads.end());
    ex_ = std::make_unique<Executor>(ctx.g, &ctx.pool);
    ex_->set_host_arena(ctx.host_arena);
    checkpoints_ = !ctx.cfg.train.checkpoint.dir.empty();
  }

  StepResult compute(StepContext& ctx, const Executor::Feeds& batch, int64_t step) override {
    if (!started_) {
      client_->pull(step);
      started_ = true;
    }
    if (client_->pending()) {
      const int64_t t0 = Timeline::now_ns();
      client_->wait(vars_);
      if (ctx.timeline)
        ctx.timeline->span({"pull wait", "ps_pull", kCommLane, t0, Timeline::now_ns(), {{"bytes", pull_bytes()}}});
    }
    RunOptions ro;
    ro.step = step;
    ro.trace = ctx.trace;
    ro.profile = ctx.profile;
    auto out = ex_->run(batch, fetch_, ro);
    StepResult r;
    r.loss = out[0].item<float>();
    r.grads.assign(out.begin() + 1, out.end());
    return r;
  }

  // The servers apply the update (with the learning rate of `step` from their schedule).
  void apply(StepContext& ctx, const std::vector<Tensor>& grads, int64_t step, double lr) override {
    std::vector<const float*> g;
    for (const Tensor& t : grads) g.push_back(t.data<float>());
    const int64_t t0 = Timeline::now_ns();
    client_->push(step, g);
    if (ctx.timeline)
      ctx.timeline->span({"push step " + std::to_string(step + 1), "ps_push", kCommLane, t0, Timeline::now_ns(),
                          {{"bytes", pull_bytes()}, {"servers", servers_}}});
  }

  // ps-async workers run at their own pace: each stops on its own signal (mpirun
  // forwards one to every rank). ps-sync workers step together and agree.
  bool agree_stop(StepContext& ctx, bool local) override {
    if (!sync_ || !workers_ || workers_->size() == 1) return local;
    int32_t v = local ? 1 : 0;
    workers_->allreduce(&v, 1, DType::I32, comm::ReduceOp::Max);
    return v != 0;
  }

  std::vector<std::string> comm_plan(StepContext& ctx) const override {
    std::vector<std::string> out = {
        fmt::format("{}: each worker pushes {:.3f} MiB of gradients and pulls as much of parameters per step",
                    name(), pull_bytes() / double(1 << 20)),
        "shards: " + plan_.describe()};
    return out;
  }

  size_t arena_bytes(StepContext&, const Executor::Feeds& batch) override {
    return ex_ ? ex_->stats(batch, fetch_).arena_bytes : 0;
  }

  double pull_bytes() const {
    return double(total_elems_) * 4;
  }

  void sync_params(StepContext& ctx) override {
    if (!client_ || !started_) return;
    if (client_->pending()) client_->wait(vars_);
    if (!is_chief(ctx.world->rank())) return;
    // The chief takes every shard as the servers hold it now, and their optimizer state for checkpoints.
    optim::OptimizerState st;
    client_->snapshot(vars_, checkpoints_ ? &st : nullptr);
    if (checkpoints_) ctx.opt.load_state(st);
  }

  void finish(StepContext& ctx) override {
    if (!client_) return;
    if (client_->pending()) client_->wait(vars_);
    client_->done();
  }

  void serve(StepContext& ctx) override {
    server_->run();
    const ps::ServerStats& s = server_->stats();
    logging::info("{} server rank {}: {} updates, {:.1f} MB in, {:.1f} MB out, max staleness {}", name(),
              ctx.world->rank(), s.applied, double(s.bytes_in) / 1e6, double(s.bytes_out) / 1e6, s.max_staleness);
  }

  void log_fields(nlohmann::json& rec) const override {
    if (!client_) return;
    int64_t stale[ps::kHistBins] = {}, delay[ps::kHistBins] = {}, max_stale = 0;
    std::vector<int64_t> in, out, applied;
    for (int s = 0; s < client_->servers(); ++s) {
      const ps::ServerStats& st = client_->server_stats(s);
      for (int b = 0; b < ps::kHistBins; ++b) {
        stale[b] += st.staleness[b];
        delay[b] += st.delay[b];
      }
      max_stale = std::max(max_stale, st.max_staleness);
      in.push_back(st.bytes_in);
      out.push_back(st.bytes_out);
      applied.push_back(st.applied);
    }
    rec["ps_staleness"] = {{"bound", staleness_}, {"max", max_stale}, {"hist", hist_json(stale)}};
    rec["ps_update_delay"] = {{"hist", hist_json(delay)}};
    rec["ps_server_bytes_in"] = in;
    rec["ps_server_bytes_out"] = out;
    rec["ps_server_updates"] = applied;
  }

 private:
  bool sync_;
  int servers_;
  int64_t staleness_ = 0;
  double stall_s_ = 60;
  std::string stall_key_;
  bool started_ = false, checkpoints_ = false;
  ps::ShardPlan plan_;
  std::unique_ptr<optim::LRSchedule> sched_;
  std::unique_ptr<ps::ParameterServer> server_;
  std::unique_ptr<ps::WorkerClient> client_;
  std::vector<float*> vars_;
  int64_t total_elems_ = 0;
  comm::CommPtr workers_;
  std::vector<Value> fetch_;
  std::unique_ptr<Executor> ex_;
};

}  // namespace

void register_ps_strategies() {
  for (bool sync : {false, true})
    register_strategy({sync ? "ps-sync" : "ps-async",
                       [sync](const RunConfig& c, const comm::CommPtr& world) {
                         return std::make_unique<PsStrategy>(c, world, sync);
                       },
                       StrategyCaps{}});
}

}  // namespace train
}  // namespace ft
