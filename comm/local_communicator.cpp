// local_communicator.cpp — world size 1: reductions leave data as it is,
// gathers copy, point-to-point goes through a mailbox.
#include "comm/local_communicator.h"

#include <cstring>

namespace ft {
namespace comm {

void LocalCommunicator::check_peer(int peer, const char* call) const {
  if (peer != 0) throw Error(call_error(call, 0, "peer rank " + std::to_string(peer) + " out of range (size 1)"));
}

void LocalCommunicator::allreduce(void*, int64_t, DType, ReduceOp) { check(); }

void LocalCommunicator::broadcast(void*, int64_t, DType, int root) {
  check();
  check_peer(root, "broadcast");
}

void LocalCommunicator::allgather(const void* send, void* recv, int64_t count, DType dtype) {
  check();
  if (send != recv) std::memmove(recv, send, size_t(count) * dtype_size(dtype));
}

void LocalCommunicator::reduce_scatter(const void* send, void* recv, int64_t count, DType dtype, ReduceOp) {
  check();
  if (send != recv) std::memmove(recv, send, size_t(count) * dtype_size(dtype));
}

void LocalCommunicator::send(const void* data, size_t bytes, int peer, int tag) {
  send_async(data, bytes, peer, tag, [](const Status&) {});
  check();
}

void LocalCommunicator::recv(void* data, size_t bytes, int peer, int tag) {
  check();
  check_peer(peer, "recv");
  {
    std::lock_guard<std::mutex> l(mu_);
    auto& box = mail_[tag];
    if (box.empty())
      throw Error(call_error("recv", 0, "no message with tag " + std::to_string(tag) +
                                            " was sent to self; a blocking receive would never complete"));
  }
  recv_async(data, bytes, peer, tag, [](const Status&) {});
  check();
}

std::shared_ptr<Communicator> LocalCommunicator::split(int, int) {
  check();
  return std::make_shared<LocalCommunicator>();
}

void LocalCommunicator::allreduce_async(void*, int64_t, DType, ReduceOp, DoneFn done) {
  check();
  done(Status());
}

void LocalCommunicator::send_async(const void* data, size_t bytes, int peer, int tag, DoneFn done) {
  check();
  check_peer(peer, "send");
  PendingRecv r{nullptr, 0, nullptr};
  {
    std::lock_guard<std::mutex> l(mu_);
    auto& w = waiting_[tag];
    if (w.empty()) {
      const char* p = static_cast<const char*>(data);
      mail_[tag].emplace_back(p, p + bytes);
    } else {
      r = std::move(w.front());
      w.pop_front();
    }
  }
  if (r.done) {
    Status st;
    if (r.bytes != bytes)
      st = failed(call_error("recv", 0,
                             "expected " + std::to_string(r.bytes) + " bytes, got " + std::to_string(bytes)));
    else
      std::memcpy(r.data, data, bytes);
    r.done(st);
  }
  done(Status());
}

void LocalCommunicator::recv_async(void* data, size_t bytes, int peer, int tag, DoneFn done) {
  check();
  check_peer(peer, "recv");
  std::vector<char> msg;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto& box = mail_[tag];
    if (box.empty()) {
      waiting_[tag].push_back({data, bytes, std::move(done)});
      return;
    }
    msg = std::move(box.front());
    box.pop_front();
  }
  Status st;
  if (msg.size() != bytes)
    st = failed(
        call_error("recv", 0, "expected " + std::to_string(bytes) + " bytes, got " + std::to_string(msg.size())));
  else
    std::memcpy(data, msg.data(), bytes);
  done(st);
}

Status LocalCommunicator::failed(const std::string& message) {
  try {
    throw Error(message);
  } catch (...) {
    return async_failure();  // sticky as well, like the MPI backend's
  }
}

}  // namespace comm
}  // namespace ft
