// log.h — the one log of a process: levels, timestamps, and a rank prefix where
// more than one rank speaks. Lines are formatted with fmt:
//
//   2026-12-02 03:12:45.123 info  step     50/1200  loss 0.4123 ...
//   2026-12-02 03:12:45.123 warn  [r1] stall: rank 1 has waited 60.0 s on ...
//
// debug and info go to stdout, warn and error to stderr. On a terminal,
// progress() keeps one live line that is rewritten in place; elsewhere (a file,
// a pipe, CI) it is an ordinary info line. Thread-safe.
#pragma once

#include <fmt/format.h>

#include <string>
#include <utility>

namespace ft {
namespace logging {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3, Off = 4 };

// "debug" | "info" | "warn" | "error" | "off"; throws ft::Error on other names.
Level parse_level(const std::string& name);
const char* level_name(Level l);
void set_level(Level l);
Level level();
inline bool enabled(Level l) { return l >= level(); }
// Prefix every line with [r<rank>] when size > 1.
void set_rank(int rank, int size);
// Whether progress() rewrites a live line (stdout is a terminal), and forcing it.
bool live_progress();
void set_live_progress(bool on);

void write(Level l, const std::string& msg);
// A progress line: rewritten in place on a terminal, else written at info level.
void progress(const std::string& msg);
// Ends a live progress line (a newline), so what follows starts on its own line.
void end_progress();

template <class... A>
void debug(fmt::format_string<A...> f, A&&... a) {
  if (enabled(Level::Debug)) write(Level::Debug, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
void info(fmt::format_string<A...> f, A&&... a) {
  if (enabled(Level::Info)) write(Level::Info, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
void warn(fmt::format_string<A...> f, A&&... a) {
  if (enabled(Level::Warn)) write(Level::Warn, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
void error(fmt::format_string<A...> f, A&&... a) {
  if (enabled(Level::Error)) write(Level::Error, fmt::format(f, std::forward<A>(a)...));
}

}  // namespace logging
}  // namespace ft
