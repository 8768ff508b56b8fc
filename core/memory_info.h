// memory_info.h — how much memory this process may still use, for refusing a
// model or a memory plan that cannot fit before it is allocated (an allocation
// the kernel over-commits would otherwise grow until the machine swaps).
#pragma once

#include <cstddef>
#include <string>

namespace ft {

// MemAvailable from /proc/meminfo, lowered to the cgroup's memory.max headroom
// when one is set; SIZE_MAX when neither can be read. FT_MEMORY_LIMIT_MB, when
// set, replaces the figure (for tests and for sharing a node between jobs).
size_t available_memory_bytes();

// "1.5 GB", "230 MB", "12 KB": one decimal, powers of 1000.
std::string human_bytes(double bytes);

}  // namespace ft
