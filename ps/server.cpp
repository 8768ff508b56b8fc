// server.cpp — the parameter-server loop: receive, apply, answer.
#include "ps/server.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>

#include "ps/state.h"

namespace ft {
namespace ps {
namespace {
double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

struct ParameterServer::Worker {
  int rank = 0;
  std::vector<char> in;     // Request + gradient (recv buffer)
  std::vector<char> out;    // Reply + parameters (send buffer)
  std::vector<char> state;  // serialized optimizer state (send buffer)
  int64_t state_len = 0;
  InFlight sending;         // sends from out/state not yet complete
  bool active = true;
  int64_t clock = -1;       // steps pushed (-1: not heard from yet)
  int64_t want = -1;        // pull held for this step (-1: none)
  int64_t applied_at_grant = 0;
  std::vector<float> grad;  // sync: this worker's gradient for sync_step_
  int64_t grad_step = -1;
  double last_heard = 0;
};

ParameterServer::ParameterServer(comm::Communicator& world, const ShardPlan& plan, int index, std::vector<int> workers,
                                 optim::Optimizer& opt, ServerOptions o)
    : world_(world), plan_(plan), index_(index), opt_(opt), o_(std::move(o)) {
  const size_t n = size_t(plan.server_elems.at(size_t(index)));
  params_ = Tensor::zeros({int64_t(n)}, DType::F32);
  n_ = n;
  if (o_.sync) sum_.assign(n, 0.f);
  const double t0 = now_s();
  for (int r : workers) {
    auto w = std::make_unique<Worker>();
    w->rank = r;
    w->in.resize(sizeof(Request) + n * 4);
    w->out.resize(sizeof(Reply) + n * 4);
    w->last_heard = t0;
    workers_.push_back(std::move(w));
  }
  if (!o_.lr) throw Error("parameter server: no learning-rate function");
}

ParameterServer::~ParameterServer() {
  // Never free a buffer MPI may still use. On an error the job is about to be
  // aborted: keep the buffers (posted receives may still land) and do not wait.
  if (std::uncaught_exceptions() > 0) {
    for (auto& w : workers_) w.release();
    return;
  }
  for (auto& w : workers_) w->sending.wait(o_.stall_s);
}

void ParameterServer::set_values(const std::vector<const float*>& vars) { plan_.pack(index_, vars, params_.data<float>()); }

void ParameterServer::load_state(const optim::OptimizerState& whole) { opt_.load_state(slice_state(plan_, index_, whole)); }

void ParameterServer::post_recv(int w) {
  Worker& k = *workers_[size_t(w)];
  world_.recv_async(k.in.data(), k.in.size(), k.rank, kTagRequest, [this, w](const Status&) { inbox_.put(w); });
}

void ParameterServer::run() {
  for (size_t w = 0; w < workers_.size(); ++w) post_recv(int(w));
  auto active = [&] {
    for (auto& w : workers_)
      if (w->active) return true;
    return false;
  };
  while (active()) {
    int w = -1;
    if (inbox_.take(&w, 0.05)) {
      world_.check();
      handle(w);
    }
    check_stall();
  }
  for (auto& w : workers_)
    if (!w->sending.wait(o_.stall_s))
      throw Error("parameter server " + std::to_string(index_) + ": a reply to worker rank " +
                  std::to_string(w->rank) + " was not received within " + std::to_string(o_.stall_s) + " s");
  world_.check();
}

int64_t ParameterServer::slowest_clock() const {
  int64_t m = INT64_MAX;
  for (auto& w : workers_)
    if (w->active) m = std::min(m, w->clock);
  return m;
}

void ParameterServer::handle(int wi) {
  Worker& w = *workers_[size_t(wi)];
  Request r;
  std::memcpy(&r, w.in.data(), sizeof(r));
  w.last_heard = now_s();
  const float* grad = reinterpret_cast<const float*>(w.in.data() + sizeof(Request));
  switch (r.kind) {
    case kPull:
      stats_.bytes_in += int64_t(sizeof(Request));
      if (w.clock < 0) w.clock = r.step;
      if (o_.sync && sync_step_ < 0) sync_step_ = r.step;
      w.want = r.step;
      post_recv(wi);
      break;
    case kPush: {
      stats_.bytes_in += int64_t(sizeof(Request) + n_ * 4);
      if (w.clock < 0) w.clock = r.step;
      if (o_.sync) {
        if (r.step != sync_step_)
          throw Error("parameter server " + std::to_string(index_) + ": worker rank " + std::to_string(w.rank) +
                      " pushed step " + std::to_string(r.step) + " while step " + std::to_string(sync_step_) +
                      " is being aggregated");
        w.grad.assign(grad, grad + n_);
        w.grad_step = r.step;
        w.clock = r.step + 1;
        w.want = r.step + 1;
        post_recv(wi);
        apply_sync_if_complete();
      } else {
        // Staleness of this gradient: how far its step is ahead of the slowest active worker.
        int64_t gap = r.step - slowest_clock();
        if (gap < 0) gap = 0;
        hist_add(stats_.staleness, gap);
        stats_.max_staleness = std::max(stats_.max_staleness, gap);
        hist_add(stats_.delay, stats_.applied - w.applied_at_grant);
        apply(grad, r.step);
        w.clock = r.step + 1;
        w.want = r.step + 1;
        post_recv(wi);
      }
      break;
    }
    case kSnapshot:
      stats_.bytes_in += int64_t(sizeof(Request));
      reply(wi, -1);
      if (r.flags & kWithState) send_state(wi);
      post_recv(wi);
      break;
    case kDone:
      stats_.bytes_in += int64_t(sizeof(Request));
      w.active = false;
      w.want = -1;
      if (o_.sync) apply_sync_if_complete();
      break;
    default:
      throw Error("parameter server " + std::to_string(index_) + ": unknown request kind " + std::to_string(r.kind) +
                  " from rank " + std::to_string(w.rank));
  }
  grant_pulls();
}

void ParameterServer::apply(const float* grad, int64_t step) {
  const auto t0 = std::chrono::steady_clock::now();
  opt_.set_lr(o_.lr(step));
  std::vector<optim::ParamRef> refs;
  for (int i : plan_.by_server[size_t(index_)]) {
    const Piece& c = plan_.pieces[size_t(i)];
    refs.push_back({c.name, Tensor::view(params_.data<float>() + c.server_offset, {c.count}, DType::F32),
                    Tensor::view(const_cast<float*>(grad) + c.server_offset, {c.count}, DType::F32)});
  }
  opt_.step(refs);
  ++stats_.applied;
  stats_.opt_steps = opt_.steps();
  if (o_.on_apply) {
    auto ns = [](std::chrono::steady_clock::time_point t) {
      return int64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
    };
    o_.on_apply(step, ns(t0), ns(std::chrono::steady_clock::now()));
  }
}

void ParameterServer::apply_sync_if_complete() {
  int n = 0;
  for (auto& w : workers_) {
    if (!w->active) continue;
    if (w->grad_step != sync_step_) return;  // still waiting for this worker
    ++n;
  }
  if (n == 0) return;
  // Sum in worker-rank order, then divide: the same arithmetic as a mean allreduce.
  bool first = true;
  for (auto& w : workers_) {
    if (!w->active) continue;
    if (first) std::memcpy(sum_.data(), w->grad.data(), sum_.size() * 4);
    else
      for (size_t i = 0; i < sum_.size(); ++i) sum_[i] += w->grad[i];
    first = false;
    w->grad_step = -1;
  }
  const float fn = float(n);
  for (float& v : sum_) v /= fn;
  hist_add(stats_.staleness, 0);
  hist_add(stats_.delay, 0);
  apply(sum_.data(), sync_step_);
  ++sync_step_;
}

void ParameterServer::grant_pulls() {
  const int64_t slowest = slowest_clock();
  for (size_t i = 0; i < workers_.size(); ++i) {
    Worker& w = *workers_[i];
    if (!w.active || w.want < 0) continue;
    const bool ready = o_.sync ? w.want <= sync_step_ : slowest >= 0 && w.want - slowest <= o_.staleness;
    if (!ready) continue;
    reply(int(i), w.want);
    w.applied_at_grant = stats_.applied;
    w.want = -1;
  }
}

void ParameterServer::reply(int wi, int64_t step) {
  Worker& w = *workers_[size_t(wi)];
  if (!w.sending.wait(o_.stall_s))
    throw Error("parameter server " + std::to_string(index_) + ": worker rank " + std::to_string(w.rank) +
                " did not receive its previous reply within " + std::to_string(o_.stall_s) + " s");
  stats_.bytes_out += int64_t(w.out.size());
  Reply rep;
  rep.step = step;
  rep.stats = stats_;
  std::memcpy(w.out.data(), &rep, sizeof(rep));
  std::memcpy(w.out.data() + sizeof(Reply), params_.data<float>(), n_ * 4);
  w.sending.add();
  world_.send_async(w.out.data(), w.out.size(), w.rank, kTagReply, [&w](const Status&) { w.sending.done(); });
}

void ParameterServer::send_state(int wi) {
  Worker& w = *workers_[size_t(wi)];
  w.sending.wait(o_.stall_s);  // out may still be in flight: state uses its own buffers
  w.state = encode_state(opt_.state());
  w.state_len = int64_t(w.state.size());
  stats_.bytes_out += 8 + w.state_len;
  w.sending.add(2);
  world_.send_async(&w.state_len, 8, w.rank, kTagStateLen, [&w](const Status&) { w.sending.done(); });
  world_.send_async(w.state.data(), w.state.size(), w.rank, kTagState, [&w](const Status&) { w.sending.done(); });
}

void ParameterServer::check_stall() {
  // Only a worker that holds others up counts: in sync mode one whose gradient for the
  // step is missing while a pull waits; in async mode one below the clock that the
  // lowest held pull needs. A worker that is merely busy (the chief evaluating) while
  // nobody waits for it is left alone.
  int64_t lowest_want = INT64_MAX;
  for (auto& w : workers_)
    if (w->active && w->want >= 0) lowest_want = std::min(lowest_want, w->want);
  if (lowest_want == INT64_MAX) return;
  const double t = now_s();
  for (auto& w : workers_) {
    if (!w->active || w->want >= 0) continue;  // done, or waiting for us
    // (clock -1: not heard from yet, which holds every async pull back.)
    const bool blocking = o_.sync ? w->grad_step != sync_step_ : w->clock < 0 || w->clock < lowest_want - o_.staleness;
    if (!blocking) continue;
    if (t - w->last_heard > o_.stall_s) {
      char buf[96];
      std::snprintf(buf, sizeof(buf), "%.1f", t - w->last_heard);
      const std::string host = world_.host_of(w->rank), here = world_.host_of(world_.rank());
      char limit[32];
      std::snprintf(limit, sizeof(limit), "%g", o_.stall_s);
      throw Error("parameter server " + std::to_string(index_) + " (rank " + std::to_string(world_.rank()) +
                  (here.empty() ? "" : " on " + here) + "): worker rank " + std::to_string(w->rank) +
                  (host.empty() ? "" : " (" + host + ")") + " sent nothing for " + buf + " s, past " + o_.stall_key +
                  " = " + limit + "; ending the job");
    }
  }
}

}  // namespace ps
}  // namespace ft
