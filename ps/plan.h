// plan.h — the sharding plan of a parameter-server job: which server holds
// which contiguous range of which variable, and where that range sits in the
// server's flat f32 buffer.
//
// Variables are f32 and flattened. A variable larger than chunk_bytes is cut
// into ceil(bytes / chunk_bytes) near-equal contiguous chunks named
// "<var>:<i>"; a smaller variable is one piece named "<var>". Chunk boundaries
// and pieces' offsets in a server buffer are multiples of kAlign elements (64
// bytes), so a vectorized optimizer walks a piece exactly as it walks that part
// of the whole variable and rounds identically. Pieces are placed
// greedily largest-first on the server holding the fewest bytes so far (ties:
// the lower server index), so servers are balanced by bytes. Every rank builds
// the same plan from the same variable list.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ft {
namespace ps {

constexpr int64_t kAlign = 16;  // f32 elements = 64 bytes

struct VarSpec {
  std::string name;
  int64_t numel = 0;  // f32 elements
};

struct Piece {
  int var = 0;               // index into ShardPlan::vars
  int index = 0;             // chunk number within the variable (0 when whole)
  std::string name;          // "<var>" or "<var>:<index>": the optimizer-state key
  int64_t offset = 0;        // first element within the variable
  int64_t count = 0;         // elements
  int server = 0;            // server index 0..servers-1
  int64_t server_offset = 0; // first element within the server's flat buffer
};

struct ShardPlan {
  std::vector<VarSpec> vars;
  std::vector<Piece> pieces;                // variable order, then offset order
  std::vector<int64_t> server_elems;        // f32 elements of each server's buffer (pieces + padding)
  std::vector<std::vector<int>> by_server;  // piece indices per server, in buffer order

  // Throws ft::Error for servers < 1, chunk_bytes <= 0 or an empty variable list.
  static ShardPlan make(const std::vector<VarSpec>& vars, int servers, int64_t chunk_bytes);
  int servers() const { return int(server_elems.size()); }
  bool chunked(int var) const;  // the variable is split into more than one piece
  // Copies each piece of the variables (flat f32 pointers, vars order) into / out of
  // the server's flat buffer (server_elems[s] floats).
  void pack(int server, const std::vector<const float*>& var_data, float* server_buf) const;
  void unpack(int server, const float* server_buf, const std::vector<float*>& var_data) const;
  uint64_t hash() const;        // same on every rank that built the same plan
  std::string describe() const;  // "2 servers: 1.6 MB in 4 pieces, 1.1 MB in 3 pieces"
};

}  // namespace ps
}  // namespace ft
