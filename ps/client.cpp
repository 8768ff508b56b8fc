// client.cpp — worker-side pushes and pulls.
#include "ps/client.h"

#include <cstring>
#include <exception>

#include "ps/state.h"

namespace ft {
namespace ps {

struct WorkerClient::Link {
  int rank = 0;
  std::vector<char> out;  // Request + gradient share
  std::vector<char> in;   // Reply + parameter share
  ServerStats stats;
  bool replied = false;   // the outstanding reply arrived
};

WorkerClient::WorkerClient(comm::Communicator& world, const ShardPlan& plan, std::vector<int> servers, double timeout_s)
    : world_(world), plan_(plan), timeout_s_(timeout_s) {
  if (int(servers.size()) != plan.servers())
    throw Error("ps client: " + std::to_string(servers.size()) + " server ranks for a plan of " +
                std::to_string(plan.servers()));
  for (size_t s = 0; s < servers.size(); ++s) {
    auto l = std::make_unique<Link>();
    l->rank = servers[s];
    l->out.resize(sizeof(Request) + size_t(plan.server_elems[s]) * 4);
    l->in.resize(sizeof(Reply) + size_t(plan.server_elems[s]) * 4);
    links_.push_back(std::move(l));
  }
}

WorkerClient::~WorkerClient() {
  // Never free a buffer MPI may still use. On an error the job is about to be
  // aborted: keep the buffers (posted receives may still land) and do not wait.
  if (std::uncaught_exceptions() > 0) {
    for (auto& l : links_) l.release();
    return;
  }
  sends_.wait(timeout_s_);
  replies_.wait(timeout_s_);
}

void WorkerClient::wait_all(InFlight& f, const char* what) {
  if (f.wait(timeout_s_)) {
    world_.check();
    return;
  }
  std::string who;
  for (auto& l : links_)
    if (!l->replied) {
      const std::string h = world_.host_of(l->rank);
      who += (who.empty() ? "" : ", ") + std::to_string(l->rank) + (h.empty() ? "" : " (" + h + ")");
    }
  throw Error(std::string("ps worker rank ") + std::to_string(world_.rank()) + ": no " + what +
              " from parameter server rank(s) " + (who.empty() ? "?" : who) + " within " +
              std::to_string(int(timeout_s_)) + " s");
}

void WorkerClient::send_request(int s, int64_t kind, int64_t step, size_t payload_bytes, int64_t flags) {
  Link& l = *links_[size_t(s)];
  Request r;
  r.kind = kind;
  r.step = step;
  r.flags = flags;
  std::memcpy(l.out.data(), &r, sizeof(r));
  sends_.add();
  world_.send_async(l.out.data(), sizeof(Request) + payload_bytes, l.rank, kTagRequest,
                    [this](const Status&) { sends_.done(); });  // an error is reported by wait_all's check()
}

void WorkerClient::post_reply(int s) {
  Link& l = *links_[size_t(s)];
  l.replied = false;
  replies_.add();
  world_.recv_async(l.in.data(), l.in.size(), l.rank, kTagReply, [this, &l](const Status&) {
    l.replied = true;
    replies_.done();
  });
}

void WorkerClient::pull(int64_t step) {
  FT_CHECK(!pending_ && !done_, "ps client: pull while a pull is outstanding or after done()");
  for (int s = 0; s < servers(); ++s) {
    post_reply(s);
    send_request(s, kPull, step, 0);
  }
  pending_ = true;
}

void WorkerClient::push(int64_t step, const std::vector<const float*>& grads) {
  FT_CHECK(!pending_ && !done_, "ps client: push while a pull is outstanding or after done()");
  wait_all(sends_, "completion of the previous push");  // the send buffers are reused
  for (int s = 0; s < servers(); ++s) {
    Link& l = *links_[size_t(s)];
    plan_.pack(s, grads, reinterpret_cast<float*>(l.out.data() + sizeof(Request)));
    post_reply(s);
    send_request(s, kPush, step, size_t(plan_.server_elems[size_t(s)]) * 4);
  }
  pending_ = true;
}

int64_t WorkerClient::unpack_replies(const std::vector<float*>& vars) {
  int64_t step = 0;
  for (int s = 0; s < servers(); ++s) {
    Link& l = *links_[size_t(s)];
    Reply r;
    std::memcpy(&r, l.in.data(), sizeof(r));
    l.stats = r.stats;
    step = r.step;
    plan_.unpack(s, reinterpret_cast<const float*>(l.in.data() + sizeof(Reply)), vars);
  }
  return step;
}

int64_t WorkerClient::wait(const std::vector<float*>& vars) {
  FT_CHECK(pending_, "ps client: wait without an outstanding pull");
  wait_all(replies_, "parameters");
  pending_ = false;
  return unpack_replies(vars);
}

void WorkerClient::snapshot(const std::vector<float*>& vars, optim::OptimizerState* state) {
  if (pending_) wait(vars);
  wait_all(sends_, "completion of the previous request");
  std::vector<int64_t> lens(links_.size(), 0);
  InFlight got_len;
  for (int s = 0; s < servers(); ++s) {
    post_reply(s);
    if (state) {
      got_len.add();
      world_.recv_async(&lens[size_t(s)], 8, links_[size_t(s)]->rank, kTagStateLen,
                        [&got_len](const Status&) { got_len.done(); });
    }
    send_request(s, kSnapshot, -1, 0, state ? kWithState : 0);
  }
  wait_all(replies_, "snapshot");
  unpack_replies(vars);
  if (!state) {
    wait_all(sends_, "completion of the snapshot request");
    return;
  }
  wait_all(got_len, "optimizer state size");
  std::vector<std::vector<char>> bufs(links_.size());
  InFlight got_state;
  for (int s = 0; s < servers(); ++s) {
    bufs[size_t(s)].resize(size_t(lens[size_t(s)]));
    got_state.add();
    world_.recv_async(bufs[size_t(s)].data(), bufs[size_t(s)].size(), links_[size_t(s)]->rank, kTagState,
                      [&got_state](const Status&) { got_state.done(); });
  }
  wait_all(got_state, "optimizer state");
  *state = optim::OptimizerState();
  for (int s = 0; s < servers(); ++s) merge_state(plan_, s, decode_state(bufs[size_t(s)]), state);
  wait_all(sends_, "completion of the snapshot request");
}

const ServerStats& WorkerClient::server_stats(int s) const { return links_.at(size_t(s))->stats; }

void WorkerClient::done() {
  if (done_) return;
  FT_CHECK(!pending_, "ps client: done() with a pull outstanding");
  wait_all(sends_, "completion of the last push");
  for (int s = 0; s < servers(); ++s) send_request(s, kDone, 0, 0);
  wait_all(sends_, "completion of done");
  done_ = true;
}

}  // namespace ps
}  // namespace ft
