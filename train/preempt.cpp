// preempt.cpp
#include "train/preempt.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <initializer_list>

namespace ft {
namespace train {
namespace {

std::atomic<int> g_signal{0};
std::atomic<int> g_count{0};
std::atomic<bool> g_installed{false};

// Async-signal-safe: write(2) and _exit only.
void say(const char* s) { (void)!::write(STDERR_FILENO, s, std::strlen(s)); }

void on_signal(int sig) {
  if (g_count.fetch_add(1) == 0) {
    g_signal = sig;
    say("train: signal received: stopping at the next step boundary after a checkpoint (a second signal stops now)\n");
    return;
  }
  say("train: second signal: stopping now; the last complete checkpoint is kept as `latest`\n");
  ::_exit(128 + sig);
}

}  // namespace

void install_preemption_handlers() {
  if (g_installed.exchange(true)) return;
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int s : {SIGTERM, SIGINT, SIGUSR1}) sigaction(s, &sa, nullptr);
}

int preemption_signal() { return g_signal.load(); }

void request_preemption(int sig) {
  if (g_count.fetch_add(1) == 0) g_signal = sig;
}

}  // namespace train
}  // namespace ft
