// Tests of the Communicator base class's default exscan_sum_int64 and
// allreduce_exscan_sum_int64 (what the NCCL backend uses, having no scan: a
// recursive doubling over alltoallv_bytes), on an in-process fake: R threads,
// one fake communicator each, exchanging through shared mailboxes.
#include <gtest/gtest.h>

#include <condition_variable>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "comm/communicator.h"

namespace wideep {
namespace {

// A reusable barrier for R threads (C++17 has none).
class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  void wait() {
    std::unique_lock<std::mutex> lock(m_);
    const int gen = gen_;
    if (++count_ == n_) {
      count_ = 0;
      ++gen_;
      cv_.notify_all();
      return;
    }
    cv_.wait(lock, [&] { return gen != gen_; });
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int n_, count_ = 0, gen_ = 0;
};

struct World {
  explicit World(int r) : size(r), barrier(r), box(static_cast<size_t>(r) * r) {}
  int size;
  Barrier barrier;
  std::vector<std::vector<unsigned char>> box;  // [src * R + dst] bytes in flight
  int64_t bytes_moved = 0;
  std::mutex stat_m;
};

// Implements only what the base defaults call: alltoallv_bytes, allreduce_sum_int64.
class FakeComm final : public Communicator {
 public:
  FakeComm(World* w, int rank) : w_(w), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return w_->size; }
  const char* backend_name() const override { return "fake"; }

  void alltoallv_bytes(const void* send, const int64_t* send_bytes, const int64_t* send_offset, void* recv,
                       const int64_t* recv_bytes, const int64_t* recv_offset) override {
    const int R = w_->size;
    int64_t moved = 0;
    for (int p = 0; p < R; ++p) {
      auto& b = w_->box[static_cast<size_t>(rank_) * R + p];
      const auto* src = static_cast<const unsigned char*>(send) + send_offset[p];
      b.assign(src, src + send_bytes[p]);
      moved += send_bytes[p];
    }
    {
      std::lock_guard<std::mutex> lock(w_->stat_m);
      w_->bytes_moved += moved;
    }
    w_->barrier.wait();
    for (int p = 0; p < R; ++p) {
      const auto& b = w_->box[static_cast<size_t>(p) * R + rank_];
      if (static_cast<int64_t>(b.size()) != recv_bytes[p]) throw std::runtime_error("size mismatch");
      if (!b.empty()) std::memcpy(static_cast<unsigned char*>(recv) + recv_offset[p], b.data(), b.size());
    }
    w_->barrier.wait();
  }
  void allgather_int64(const int64_t* send, int64_t n, int64_t* recv) override {
    const int R = w_->size;
    std::vector<int64_t> sb(R, n * 8), so(R, 0), rb(R, n * 8), ro(R);
    for (int p = 0; p < R; ++p) ro[p] = p * n * 8;
    alltoallv_bytes(send, sb.data(), so.data(), recv, rb.data(), ro.data());
  }
  void allreduce_sum_int64(int64_t* data, int64_t n) override {
    std::vector<int64_t> all(static_cast<size_t>(w_->size) * n);
    allgather_int64(data, n, all.data());
    for (int64_t i = 0; i < n; ++i) {
      data[i] = 0;
      for (int p = 0; p < w_->size; ++p) data[i] += all[static_cast<size_t>(p) * n + i];
    }
  }

  void alltoall_int64(const int64_t*, int64_t*) override { unused(); }
  void alltoallv_rows(const RowGather&, const int64_t*, const int64_t*, void*, const int64_t*, const int64_t*) override {
    unused();
  }
  void raw_alltoallv_bytes(const void*, const int64_t*, const int64_t*, void*, const int64_t*, const int64_t*) override {
    unused();
  }
  void allreduce_max_double(double*, int64_t) override { unused(); }
  void allreduce_sum_double(double*, int64_t) override { unused(); }
  void barrier() override { w_->barrier.wait(); }
  void exchange(const std::vector<P2PTransfer>&, const std::vector<P2PTransfer>&) override { unused(); }
  void* alloc_bytes(int64_t) override { unused(); }
  void free_bytes(void*) override { unused(); }
  void abort(int) override { unused(); }

 private:
  [[noreturn]] static void unused() { throw std::logic_error("not used by the tested defaults"); }
  World* w_;
  int rank_;
};

int64_t value(int rank, int64_t i) { return (rank + 1) * 1000 + i * 7 + (rank * i) % 5; }

TEST(CommunicatorDefaults, ExscanAndAllreduceExscan) {
  for (int R : {1, 2, 3, 5, 8, 13}) {
    World w(R);
    const int64_t n = 6, m = 4;
    std::vector<std::vector<int64_t>> scan(R, std::vector<int64_t>(n)), scan2(R, std::vector<int64_t>(n)),
        sum(R, std::vector<int64_t>(m));
    std::vector<std::thread> threads;
    for (int r = 0; r < R; ++r)
      threads.emplace_back([&, r] {
        FakeComm c(&w, r);
        std::vector<int64_t> mine(n);
        for (int64_t i = 0; i < n; ++i) mine[i] = value(r, i);
        c.exscan_sum_int64(mine.data(), scan[r].data(), n);
        for (int64_t i = 0; i < m; ++i) sum[r][i] = value(r, 10 + i);
        c.allreduce_exscan_sum_int64(sum[r].data(), m, mine.data(), scan2[r].data(), n);
      });
    for (auto& t : threads) t.join();
    for (int r = 0; r < R; ++r) {
      for (int64_t i = 0; i < n; ++i) {
        int64_t want = 0;
        for (int q = 0; q < r; ++q) want += value(q, i);
        ASSERT_EQ(scan[r][i], want) << "R " << R << " rank " << r;
        ASSERT_EQ(scan2[r][i], want) << "R " << R << " rank " << r;
      }
      for (int64_t i = 0; i < m; ++i) {
        int64_t want = 0;
        for (int q = 0; q < R; ++q) want += value(q, 10 + i);
        ASSERT_EQ(sum[r][i], want) << "R " << R << " rank " << r;
      }
    }
  }
}

TEST(CommunicatorDefaults, ExscanMovesLogRoundsNotAnAllgather) {
  // 16 ranks: every rank sends n values in at most ceil(log2 16) = 4 rounds.
  const int R = 16;
  const int64_t n = 100;
  World w(R);
  std::vector<std::thread> threads;
  for (int r = 0; r < R; ++r)
    threads.emplace_back([&, r] {
      FakeComm c(&w, r);
      std::vector<int64_t> mine(n, r), out(n);
      c.exscan_sum_int64(mine.data(), out.data(), n);
    });
  for (auto& t : threads) t.join();
  EXPECT_LE(w.bytes_moved, static_cast<int64_t>(R) * 4 * n * 8);
  EXPECT_LT(w.bytes_moved, static_cast<int64_t>(R) * (R - 1) * n * 8 / 2);  // an allgather's would be this x2
}

}  // namespace
}  // namespace wideep
