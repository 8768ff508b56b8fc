// log.cpp
#include "core/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>

#include "core/tensor.h"

namespace ft {
namespace logging {
namespace {

std::atomic<int> g_level{int(Level::Info)};
std::mutex g_mu;
std::string g_prefix;
int g_live = -1;           // -1: not decided yet (stdout's isatty on first use)
bool g_line_open = false;  // a live progress line is on the terminal

std::string timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const int ms = int(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char b[80];
  std::snprintf(b, sizeof(b), "%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return b;
}

bool live_locked() {
  // Under mpirun a rank's stdout is Open MPI's pseudo-terminal whatever mpirun's
  // own is: plain lines there.
  if (g_live < 0) g_live = ::isatty(STDOUT_FILENO) && !std::getenv("OMPI_COMM_WORLD_SIZE") ? 1 : 0;
  return g_live == 1;
}

void close_line_locked() {
  if (!g_line_open) return;
  std::fputc('\n', stdout);
  std::fflush(stdout);
  g_line_open = false;
}

}  // namespace

Level parse_level(const std::string& name) {
  for (int l = 0; l <= int(Level::Off); ++l)
    if (name == level_name(Level(l))) return Level(l);
  throw Error("log level '" + name + "' is not one of debug, info, warn, error, off");
}

const char* level_name(Level l) {
  switch (l) {
    case Level::Debug: return "debug";
    case Level::Info: return "info";
    case Level::Warn: return "warn";
    case Level::Error: return "error";
    default: return "off";
  }
}

void set_level(Level l) { g_level = int(l); }
Level level() { return Level(g_level.load()); }

void set_rank(int rank, int size) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_prefix = size > 1 ? "[r" + std::to_string(rank) + "] " : "";
}

bool live_progress() {
  std::lock_guard<std::mutex> lock(g_mu);
  return live_locked();
}

void set_live_progress(bool on) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_live = on ? 1 : 0;
}

void write(Level l, const std::string& msg) {
  if (!enabled(l)) return;
  char lv[8];
  std::snprintf(lv, sizeof(lv), "%-5s", level_name(l));
  const std::string line = timestamp() + " " + lv + " " + g_prefix + msg + "\n";
  std::lock_guard<std::mutex> lock(g_mu);
  close_line_locked();
  std::FILE* f = l >= Level::Warn ? stderr : stdout;
  if (f == stderr) std::fflush(stdout);
  std::fputs(line.c_str(), f);
  std::fflush(f);
}

void progress(const std::string& msg) {
  if (!enabled(Level::Info)) return;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    if (live_locked()) {
      // \r back to the start, the line, then clear what a longer earlier line left.
      std::fprintf(stdout, "\r%s %s%s\x1b[K", timestamp().c_str(), g_prefix.c_str(), msg.c_str());
      std::fflush(stdout);
      g_line_open = true;
      return;
    }
  }
  write(Level::Info, msg);
}

void end_progress() {
  std::lock_guard<std::mutex> lock(g_mu);
  close_line_locked();
}

}  // namespace logging
}  // namespace ft
