// progress.cpp — the UDP progress channel: a responder thread per process and
// the asking side used by the stall watch.
#include "comm/progress.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include "comm/stall.h"

namespace ft {
namespace comm {
namespace {

constexpr uint32_t kQuery = 0x66745051;   // "ftPQ"
constexpr uint32_t kAnswer = 0x66745041;  // "ftPA"

struct Packet {
  uint32_t magic;
  uint32_t pad;
  uint64_t token;  // the process asked
  uint64_t nonce;  // which question
  int64_t entered;
};

std::vector<uint32_t> local_ipv4() {
  std::vector<uint32_t> out, loop;
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) != 0) return out;
  for (ifaddrs* i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP)) continue;
    const uint32_t a = reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr;
    (i->ifa_flags & IFF_LOOPBACK ? loop : out).push_back(a);
  }
  freeifaddrs(ifs);
  out.insert(out.end(), loop.begin(), loop.end());
  return out;
}

ProgressAddress start_responder() {
  ProgressAddress a;
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return a;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_ANY);
  sa.sin_port = 0;
  socklen_t len = sizeof(sa);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    close(fd);
    return a;
  }
  std::random_device rd;
  a.token = (uint64_t(rd()) << 32) ^ rd() ^ uint64_t(getpid()) ^
            uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
  a.port = ntohs(sa.sin_port);
  const std::vector<uint32_t> ips = local_ipv4();
  for (uint32_t ip : ips)
    if (a.n < 7) a.ip[a.n++] = ip;
  const uint64_t token = a.token;
  // Lives as long as the process (like the MPI engine): blocked in recvfrom.
  std::thread([fd, token] {
    for (;;) {
      Packet p;
      sockaddr_in from{};
      socklen_t fl = sizeof(from);
      const ssize_t n = recvfrom(fd, &p, sizeof(p), 0, reinterpret_cast<sockaddr*>(&from), &fl);
      if (n != ssize_t(sizeof(p)) || p.magic != kQuery || p.token != token) continue;
      p.magic = kAnswer;
      p.entered = Inflight::get().entered();
      sendto(fd, &p, sizeof(p), 0, reinterpret_cast<sockaddr*>(&from), fl);
    }
  }).detach();
  return a;
}

}  // namespace

ProgressAddress progress_address() {
  static std::once_flag once;
  static ProgressAddress a;
  std::call_once(once, [] { a = start_responder(); });
  return a;
}

std::vector<int64_t> ask_progress(const std::vector<ProgressAddress>& peers, double timeout_s) {
  std::vector<int64_t> out(peers.size(), -1);
  size_t open = 0;
  for (size_t i = 0; i < peers.size(); ++i) {
    if (peers[i].port == 0 || peers[i].n == 0)
      out[i] = -2;
    else
      ++open;
  }
  if (open == 0) return out;
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return out;
  std::random_device rd;
  const uint64_t base = (uint64_t(rd()) << 32) ^ rd();
  std::vector<bool> answered(peers.size(), false);
  auto ask_all = [&] {
    for (size_t i = 0; i < peers.size(); ++i) {
      if (answered[i] || out[i] == -2) continue;
      Packet p{kQuery, 0, peers[i].token, base + i, 0};
      for (int k = 0; k < peers[i].n; ++k) {
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_addr.s_addr = peers[i].ip[k];
        to.sin_port = htons(peers[i].port);
        sendto(fd, &p, sizeof(p), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&to), sizeof(to));
      }
    }
  };
  const auto t0 = std::chrono::steady_clock::now();
  const auto deadline =
      t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(timeout_s));
  auto next_ask = t0;
  size_t got = 0;
  while (got < open) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    if (now >= next_ask) {
      ask_all();
      next_ask = now + std::chrono::milliseconds(100);
    }
    const auto wait = std::min(next_ask, deadline) - now;
    pollfd pf{fd, POLLIN, 0};
    const int ms = int(std::chrono::duration_cast<std::chrono::milliseconds>(wait).count()) + 1;
    if (poll(&pf, 1, ms) <= 0) continue;
    Packet p;
    while (recv(fd, &p, sizeof(p), MSG_DONTWAIT) == ssize_t(sizeof(p))) {
      if (p.magic != kAnswer || p.nonce < base || p.nonce - base >= peers.size()) continue;
      const size_t i = size_t(p.nonce - base);
      if (answered[i] || p.token != peers[i].token) continue;
      answered[i] = true;
      out[i] = p.entered;
      ++got;
    }
  }
  close(fd);
  return out;
}

}  // namespace comm
}  // namespace ft
