// ps_test.cpp — the parameter-server sharding plan (balance, chunking, packing),
// optimizer state cut into pieces and reassembled, and its byte encoding.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numeric>

#include "optim/factory.h"
#include "ps/plan.h"
#include "ps/state.h"

using namespace ft;
using namespace ft::ps;

namespace {

std::vector<float> ramp(int64_t n, float base) {
  std::vector<float> v(static_cast<size_t>(n), 0.f);
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = base + 0.001f * float(i) - 0.37f * float(i % 7);
  return v;
}

// Every element of every variable is covered by exactly one piece.
void expect_covers(const ShardPlan& p) {
  for (size_t v = 0; v < p.vars.size(); ++v) {
    std::vector<int> hits(size_t(p.vars[v].numel), 0);
    for (const Piece& c : p.pieces)
      if (c.var == int(v))
        for (int64_t i = 0; i < c.count; ++i) ++hits[size_t(c.offset + i)];
    for (size_t i = 0; i < hits.size(); ++i) ASSERT_EQ(hits[i], 1) << p.vars[v].name << " element " << i;
  }
}

}  // namespace

TEST(PsPlan, OneServerHoldsEverythingInVariableOrder) {
  ShardPlan p = ShardPlan::make({{"a", 10}, {"b", 3}, {"c", 7}}, 1, 1 << 20);
  ASSERT_EQ(p.servers(), 1);
  EXPECT_EQ(p.server_elems[0], 48);  // each piece starts on a 16-element boundary
  ASSERT_EQ(p.pieces.size(), 3u);
  EXPECT_EQ(p.pieces[0].name, "a");
  EXPECT_EQ(p.pieces[1].server_offset, 16);
  EXPECT_EQ(p.pieces[2].server_offset, 32);
  EXPECT_FALSE(p.chunked(0));
  expect_covers(p);
}

TEST(PsPlan, GreedyLargestFirstBalancesBytes) {
  // 1600 -> s0, 960 -> s1, 800 -> s1 (960 < 1600), 640 -> s0 (1600 < 1760): 2240 vs 1760.
  ShardPlan p = ShardPlan::make({{"w1", 640}, {"w2", 1600}, {"w3", 800}, {"w4", 960}}, 2, 1 << 20);
  EXPECT_EQ(p.pieces[1].server, 0);  // w2
  EXPECT_EQ(p.pieces[3].server, 1);  // w4
  EXPECT_EQ(p.pieces[2].server, 1);  // w3
  EXPECT_EQ(p.pieces[0].server, 0);  // w1
  EXPECT_EQ(p.server_elems[0], 2240);
  EXPECT_EQ(p.server_elems[1], 1760);
  // Buffer order within a server is variable order: w1 then w2 on server 0.
  EXPECT_EQ(p.pieces[0].server_offset, 0);
  EXPECT_EQ(p.pieces[1].server_offset, 640);
  expect_covers(p);
}

TEST(PsPlan, LargeVariablesAreSplitIntoContiguousChunksAcrossServers) {
  // 1024 floats = 4096 bytes, chunks of 1024 bytes -> 4 chunks of 256.
  ShardPlan p = ShardPlan::make({{"fc/w", 1024}, {"fc/b", 10}}, 2, 1024);
  ASSERT_EQ(p.pieces.size(), 5u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(p.pieces[size_t(i)].name, "fc/w:" + std::to_string(i));
    EXPECT_EQ(p.pieces[size_t(i)].offset, 256 * i);
    EXPECT_EQ(p.pieces[size_t(i)].count, 256);
  }
  EXPECT_EQ(p.pieces[4].name, "fc/b");
  EXPECT_TRUE(p.chunked(0));
  EXPECT_FALSE(p.chunked(1));
  EXPECT_EQ(p.by_server[0].size(), 3u);  // two chunks each, the bias on server 0
  EXPECT_EQ(p.by_server[1].size(), 2u);
  EXPECT_EQ(p.server_elems[0], 512 + 16);
  EXPECT_EQ(p.server_elems[1], 512);
  expect_covers(p);
}

TEST(PsPlan, ChunkBoundariesAreAlignedAndCoverTheVariable) {
  // 100 floats, 120-byte chunks: ceil(400 / 120) = 4 pieces cut at 0, 25, 50, 75
  // rounded down to 16 elements: 0, 16, 48, 64.
  ShardPlan p = ShardPlan::make({{"v", 100}}, 3, 120);
  ASSERT_EQ(p.pieces.size(), 4u);
  std::vector<int64_t> counts, offsets;
  for (const Piece& c : p.pieces) {
    counts.push_back(c.count);
    offsets.push_back(c.offset);
    EXPECT_EQ(c.server_offset % kAlign, 0);
  }
  EXPECT_EQ(counts, (std::vector<int64_t>{16, 32, 16, 36}));
  EXPECT_EQ(offsets, (std::vector<int64_t>{0, 16, 48, 64}));
  expect_covers(p);
  // Chunks smaller than the alignment round away; the rest still covers everything.
  ShardPlan q = ShardPlan::make({{"v", 40}}, 2, 4);
  expect_covers(q);
}

TEST(PsPlan, PackUnpackRoundTripIsExact) {
  ShardPlan p = ShardPlan::make({{"a", 777}, {"b", 5}, {"c", 1300}, {"d", 64}}, 3, 1024);
  std::vector<std::vector<float>> src = {ramp(777, 1), ramp(5, 2), ramp(1300, 3), ramp(64, 4)};
  std::vector<std::vector<float>> dst = {std::vector<float>(777, -9), std::vector<float>(5, -9),
                                         std::vector<float>(1300, -9), std::vector<float>(64, -9)};
  std::vector<const float*> in;
  std::vector<float*> out;
  for (size_t i = 0; i < src.size(); ++i) {
    in.push_back(src[i].data());
    out.push_back(dst[i].data());
  }
  for (int s = 0; s < p.servers(); ++s) {
    std::vector<float> buf(size_t(p.server_elems[size_t(s)]), 0.f);
    p.pack(s, in, buf.data());
    p.unpack(s, buf.data(), out);
  }
  for (size_t i = 0; i < src.size(); ++i)
    EXPECT_EQ(std::memcmp(src[i].data(), dst[i].data(), src[i].size() * 4), 0) << "variable " << i;
}

TEST(PsPlan, HashAndErrors) {
  auto a = ShardPlan::make({{"a", 100}, {"b", 50}}, 2, 1 << 20);
  auto b = ShardPlan::make({{"a", 100}, {"b", 50}}, 2, 1 << 20);
  auto c = ShardPlan::make({{"a", 100}, {"b", 50}}, 1, 1 << 20);
  EXPECT_EQ(a.hash(), b.hash());
  EXPECT_NE(a.hash(), c.hash());
  EXPECT_NE(a.describe().find("2 servers"), std::string::npos);
  EXPECT_THROW(ShardPlan::make({{"a", 1}}, 0, 1024), Error);
  EXPECT_THROW(ShardPlan::make({{"a", 1}}, 1, 0), Error);
  EXPECT_THROW(ShardPlan::make({}, 1, 1024), Error);
}

// Whole-variable updates by one optimizer equal piece updates by one optimizer
// per server, and the reassembled state equals the whole optimizer's state.
TEST(PsState, PieceOptimizersMatchOneOptimizerAndStateReassembles) {
  for (const char* type : {"sgd", "momentum", "adam", "adamw"}) {
    SCOPED_TRACE(type);
    optim::OptimizerOptions oo;
    oo.type = type;
    oo.lr = 0.1;
    oo.weight_decay = 0.01;
    ShardPlan p = ShardPlan::make({{"fc1/w", 300}, {"fc1/b", 7}, {"fc2/w", 130}}, 2, 400);
    std::vector<std::vector<float>> whole = {ramp(300, 0.5f), ramp(7, -0.2f), ramp(130, 0.1f)};
    std::vector<std::vector<float>> grads = {ramp(300, 0.3f), ramp(7, 0.9f), ramp(130, -0.4f)};
    // Reference: one optimizer over whole variables, in 64-byte aligned tensors as in a graph.
    auto ref = optim::make_optimizer(oo);
    std::vector<Tensor> rt;
    for (const auto& w : whole) rt.push_back(Tensor::from<float>({int64_t(w.size())}, w));
    for (int step = 0; step < 3; ++step) {
      std::vector<optim::ParamRef> refs;
      for (size_t v = 0; v < rt.size(); ++v)
        refs.push_back({p.vars[v].name, rt[v], Tensor::view(grads[v].data(), {int64_t(grads[v].size())}, DType::F32)});
      ref->step(refs);
    }
    std::vector<std::vector<float>> rw;
    for (const Tensor& t : rt) rw.push_back(t.to_vector<float>());
    // Pieces: one optimizer and one flat buffer per server.
    std::vector<const float*> win, gin;
    for (size_t v = 0; v < whole.size(); ++v) {
      win.push_back(whole[v].data());
      gin.push_back(grads[v].data());
    }
    optim::OptimizerState merged;
    std::vector<std::vector<float>> pw = {std::vector<float>(300), std::vector<float>(7), std::vector<float>(130)};
    std::vector<float*> pout = {pw[0].data(), pw[1].data(), pw[2].data()};
    for (int s = 0; s < p.servers(); ++s) {
      auto opt = optim::make_optimizer(oo);
      Tensor bt = Tensor::zeros({p.server_elems[size_t(s)]}, DType::F32);  // aligned, as on a server
      std::vector<float> gbuf(size_t(p.server_elems[size_t(s)]));
      float* buf = bt.data<float>();
      p.pack(s, win, buf);
      p.pack(s, gin, gbuf.data());
      for (int step = 0; step < 3; ++step) {
        std::vector<optim::ParamRef> refs;
        for (int i : p.by_server[size_t(s)]) {
          const Piece& c = p.pieces[size_t(i)];
          refs.push_back({c.name, Tensor::view(buf + c.server_offset, {c.count}, DType::F32),
                          Tensor::view(gbuf.data() + c.server_offset, {c.count}, DType::F32)});
        }
        opt->step(refs);
      }
      p.unpack(s, buf, pout);
      merge_state(p, s, decode_state(encode_state(opt->state())), &merged);
    }
    // Pieces are 64-byte aligned, so even the vectorized Adam loop gives the same bits.
    const bool exact = true;
    for (size_t v = 0; v < rw.size(); ++v) {
      if (exact) {
        EXPECT_EQ(std::memcmp(rw[v].data(), pw[v].data(), rw[v].size() * 4), 0) << p.vars[v].name;
      }
      for (size_t i = 0; i < rw[v].size(); ++i)
        ASSERT_NEAR(rw[v][i], pw[v][i], 1e-6 * std::max(1.f, std::fabs(rw[v][i]))) << p.vars[v].name << "[" << i << "]";
    }
    optim::OptimizerState want = ref->state();
    ASSERT_EQ(merged.tensors.size(), want.tensors.size());
    for (const auto& kv : want.tensors) {
      auto it = merged.tensors.find(kv.first);
      ASSERT_NE(it, merged.tensors.end()) << kv.first;
      ASSERT_EQ(it->second.dtype(), kv.second.dtype()) << kv.first;
      ASSERT_EQ(it->second.shape(), kv.second.shape()) << kv.first;
      for (int64_t i = 0; i < kv.second.numel(); ++i)
        ASSERT_NEAR(it->second.at(i), kv.second.at(i), 1e-6 * std::max(1.0, std::fabs(kv.second.at(i)))) << kv.first;
    }
    // Slicing the reassembled state gives each server back what it had.
    for (int s = 0; s < p.servers(); ++s) {
      optim::OptimizerState sl = slice_state(p, s, want);
      optim::OptimizerState again;
      merge_state(p, s, sl, &again);
      for (const auto& kv : again.tensors) {
        if (kv.second.dtype() == DType::I64) {
          EXPECT_EQ(kv.second.at(0), want.tensors.at(kv.first).at(0));
        }
      }
    }
  }
}

TEST(PsState, SliceNamesPiecesAndRejectsWrongSizes) {
  ShardPlan p = ShardPlan::make({{"w", 32}, {"b", 2}}, 1, 64);  // w -> w:0, w:1 (16 each)
  std::vector<float> m(32);
  std::iota(m.begin(), m.end(), 0.f);
  optim::OptimizerState whole;
  whole.tensors["w/m"] = Tensor::from<float>({32}, m);
  whole.tensors["w/t"] = Tensor::from<int64_t>({}, {5});
  whole.tensors["b/m"] = Tensor::from<float>({2}, {9, 8});
  optim::OptimizerState s = slice_state(p, 0, whole);
  ASSERT_EQ(s.tensors.count("w:1/m"), 1u);
  EXPECT_EQ(s.tensors["w:1/m"].to_vector<float>(), std::vector<float>(m.begin() + 16, m.end()));
  EXPECT_EQ(s.tensors["w:0/t"].at(0), 5);
  EXPECT_EQ(s.tensors["w:1/t"].at(0), 5);
  EXPECT_EQ(s.tensors["b/m"].to_vector<float>(), (std::vector<float>{9, 8}));
  whole.tensors["w/m"] = Tensor::from<float>({3}, {0, 1, 2});
  EXPECT_THROW(slice_state(p, 0, whole), Error);
}

TEST(PsState, EncodeDecodeRoundTrip) {
  optim::OptimizerState s;
  s.step = 17;
  s.tensors["a/m"] = Tensor::from<float>({3}, {1.5f, -2, 3});
  s.tensors["a/t"] = Tensor::from<int64_t>({}, {4});
  optim::OptimizerState d = decode_state(encode_state(s));
  EXPECT_EQ(d.step, 17);
  EXPECT_EQ(d.tensors["a/m"].to_vector<float>(), (std::vector<float>{1.5f, -2, 3}));
  EXPECT_EQ(d.tensors["a/t"].shape(), Shape{});
  EXPECT_EQ(d.tensors["a/t"].at(0), 4);
  std::vector<char> bytes = encode_state(s);
  bytes.resize(bytes.size() - 3);
  EXPECT_THROW(decode_state(bytes), Error);
}
