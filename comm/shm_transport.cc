// --transport shm (comm/shm_transport.h): node communicator, the shared
// control and data windows, and the announce / write / copy-out protocol of
// one intra-node all-to-allv.
#include "comm/shm_transport.h"

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <new>

#include "comm/watchdog.h"
#include "common/check.h"

namespace wideep {
namespace {

// Synchronisation. The windows are ordinary memory mapped into every process
// of the node (Open MPI's osc/sm, memory model MPI_WIN_UNIFIED: checked at
// construction), so the flags are C++ atomics in that memory rather than
// MPI_Win_sync + a node barrier: a lock-free std::atomic is address-free (it
// works between processes that map the same page), a release store after a
// sender's memcpy and an acquire load before the receiver reads give the
// same happens-before as between threads, and a wait on one flag can name the
// one peer that did not set it (a barrier cannot). Every flag holds the
// sequence number of an exchange (the same count on every node rank, since
// every call is collective) and only grows, so no flag is ever reset.
using Seq = std::atomic<uint64_t>;
static_assert(Seq::is_always_lock_free, "shared-memory flags need lock-free 64-bit atomics");

// One rank's control block, every field on its own cache line so that a
// writer never invalidates a line another peer polls:
//   line 0          ready: the exchange whose announce below is published (owner writes)
//   line 1          need:  int64 window bytes the owner needs for that exchange
//   lines 2..N+1    done[j]: the exchange whose rows peer j finished writing here (peer j writes)
//   then N pairs    announce[j] = {offset, bytes}: where peer j's rows go and how many (owner writes)
constexpr int64_t kLine = 64;
int64_t control_bytes(int n) { return (2 + n) * kLine + n * 2 * static_cast<int64_t>(sizeof(int64_t)); }
Seq& ready_flag(unsigned char* c) { return *reinterpret_cast<Seq*>(c); }
int64_t& need_bytes(unsigned char* c) { return *reinterpret_cast<int64_t*>(c + kLine); }
Seq& done_flag(unsigned char* c, int from) { return *reinterpret_cast<Seq*>(c + (2 + from) * kLine); }
int64_t* announce(unsigned char* c, int n, int from) {
  return reinterpret_cast<int64_t*>(c + (2 + n) * kLine) + 2 * from;  // [0] offset, [1] bytes
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// Spins briefly, then yields the core, then sleeps 20 us at a time: ranks
// may outnumber cores, and a waiter that only yields keeps the rank it waits
// for off its core (8 ranks on 2 cores: ~2x shorter waits than yield alone).
void pause(unsigned spins) {
  if (spins > 1024) {
    struct timespec ts = {0, 20000};
    nanosleep(&ts, nullptr);
  } else if (spins > 64) {
    sched_yield();
  }
}

MPI_Info noncontig_info() {
  MPI_Info info;
  WIDEEP_MPI_CHECK(MPI_Info_create(&info));
  // Each rank's segment starts on its own pages (and NUMA node, where it first touches them).
  WIDEEP_MPI_CHECK(MPI_Info_set(info, "alloc_shared_noncontig", "true"));
  return info;
}

}  // namespace

int64_t shm_window_layout(const int64_t* recv_bytes, int node_size, int self, int64_t* offset) {
  int64_t at = 0;
  for (int j = 0; j < node_size; ++j) {
    offset[j] = at;
    if (j != self) at += round_up(recv_bytes[j], kLine);
  }
  return at;
}

int64_t shm_grown_capacity(int64_t capacity_bytes, int64_t need_bytes) {
  if (need_bytes <= capacity_bytes) return capacity_bytes;
  return round_up(need_bytes + need_bytes / 4, int64_t{1} << 16);
}

ShmTransport::ShmTransport(const Communicator& owner, int ranks_per_node) : owner_(owner) {
  WIDEEP_ASSERT(ranks_per_node > 0, "ranks per node must be positive");
  WIDEEP_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &world_rank_));
  WIDEEP_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &world_size_));
  WatchdogScope guard(rank_watchdog(), owner_.timeout_s() + watchdog_grace_s(owner_.timeout_s()),
                      "setting up --transport shm (node communicator and windows; blocking collectives)");
  MPI_Comm shared;
  WIDEEP_MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_rank_, MPI_INFO_NULL, &shared));
  // A node is at most one shared-memory domain and at most ranks_per_node
  // ranks: "2 nodes of 4" on one machine moves rows between the two halves by MPI.
  WIDEEP_MPI_CHECK(MPI_Comm_split(shared, world_rank_ / ranks_per_node, world_rank_, &node_comm_));
  WIDEEP_MPI_CHECK(MPI_Comm_free(&shared));
  WIDEEP_MPI_CHECK(MPI_Comm_rank(node_comm_, &local_));
  WIDEEP_MPI_CHECK(MPI_Comm_size(node_comm_, &node_size_));
  world_of_.assign(node_size_, -1);
  WIDEEP_MPI_CHECK(MPI_Allgather(&world_rank_, 1, MPI_INT, world_of_.data(), 1, MPI_INT, node_comm_));
  local_of_.assign(world_size_, -1);
  for (int j = 0; j < node_size_; ++j) local_of_[world_of_[j]] = j;

  MPI_Info info = noncontig_info();
  unsigned char* mine = nullptr;
  WIDEEP_MPI_CHECK(MPI_Win_allocate_shared(control_bytes(node_size_), 1, info, node_comm_, &mine, &control_win_));
  WIDEEP_MPI_CHECK(MPI_Info_free(&info));
  int* model = nullptr;
  int found = 0;
  WIDEEP_MPI_CHECK(MPI_Win_get_attr(control_win_, MPI_WIN_MODEL, &model, &found));
  if (!found || *model != MPI_WIN_UNIFIED)
    throw Error(ErrorCategory::kSystem, "--transport shm: this MPI's shared windows are not MPI_WIN_UNIFIED "
                                        "(plain loads and stores are not coherent); use --transport mpi");
  std::memset(mine, 0, static_cast<size_t>(control_bytes(node_size_)));
  new (&ready_flag(mine)) Seq(0);
  for (int j = 0; j < node_size_; ++j) new (&done_flag(mine, j)) Seq(0);
  control_.assign(node_size_, nullptr);
  for (int j = 0; j < node_size_; ++j) {
    MPI_Aint bytes;
    int disp;
    WIDEEP_MPI_CHECK(MPI_Win_shared_query(control_win_, j, &bytes, &disp, &control_[j]));
  }
  data_.assign(node_size_, nullptr);
  capacity_.assign(node_size_, 0);
  layout_.assign(node_size_, 0);
  pending_.assign(node_size_, 0);
  bytes_from_.assign(node_size_, 0);
  grow_windows();  // empty data windows (its barrier: every control block is initialised before a peer reads it)
}

ShmTransport::~ShmTransport() {
  // No throw from here: the job is ending (collective over the node, as is the constructor).
  if (data_win_ != MPI_WIN_NULL) MPI_Win_free(&data_win_);
  if (control_win_ != MPI_WIN_NULL) MPI_Win_free(&control_win_);
  if (node_comm_ != MPI_COMM_NULL) MPI_Comm_free(&node_comm_);
}

// Collective over the node: every rank frees its data window and allocates
// one of max(capacity, the grown need). Called by every node rank alike,
// since each decides from the same announced needs.
void ShmTransport::grow_windows() {
  const bool first = data_win_ == MPI_WIN_NULL;
  const int64_t want = first ? 0 : shm_grown_capacity(capacity_[local_], need_bytes(control_[local_]));
  WatchdogScope guard(rank_watchdog(), owner_.timeout_s() + watchdog_grace_s(owner_.timeout_s()),
                      where() + ": growing the receive windows (a blocking collective of the node)");
  if (data_win_ != MPI_WIN_NULL) WIDEEP_MPI_CHECK(MPI_Win_free(&data_win_));
  MPI_Info info = noncontig_info();
  unsigned char* mine = nullptr;
  WIDEEP_MPI_CHECK(MPI_Win_allocate_shared(want, 1, info, node_comm_, &mine, &data_win_));
  WIDEEP_MPI_CHECK(MPI_Info_free(&info));
  // First touch here, not in the first timed write of a peer; the barrier
  // keeps every peer from writing before the owner's memset is over.
  if (want > 0) std::memset(mine, 0, static_cast<size_t>(want));
  WIDEEP_MPI_CHECK(MPI_Barrier(node_comm_));
  for (int j = 0; j < node_size_; ++j) {
    MPI_Aint bytes;
    int disp;
    WIDEEP_MPI_CHECK(MPI_Win_shared_query(data_win_, j, &bytes, &disp, &data_[j]));
    capacity_[j] = static_cast<int64_t>(bytes);
  }
  if (!first) ++regrowths_;
}

std::string ShmTransport::where() const {
  const CommContext& c = owner_.context();
  return "shared-memory all-to-allv in step " + std::to_string(c.step) + " layer " + std::to_string(c.layer) +
         " phase " + c.phase;
}

void ShmTransport::timeout(const char* what, const std::string& missing) const {
  char secs[32];
  std::snprintf(secs, sizeof secs, "%g", owner_.timeout_s());
  throw Error(ErrorCategory::kTimeout, "rank " + std::to_string(world_rank_) + ": timeout after " + secs + " s in " +
                                           where() + "; not completed: " + what + " " + missing);
}

template <typename WriteRows>
void ShmTransport::exchange(const int64_t* send_bytes, void* recv, const int64_t* recv_bytes,
                            const int64_t* recv_offset, const WriteRows& write) {
  if (node_size_ == 1) return;
  const uint64_t e = ++seq_;
  const double deadline_s = now_s() + owner_.timeout_s();
  WatchdogScope guard(rank_watchdog(), owner_.timeout_s() + watchdog_grace_s(owner_.timeout_s()), where());
  unsigned char* me = control_[local_];

  // 1. Announce where each peer's rows go. Safe to overwrite: every peer read
  //    the previous announce before it set its done flag of the previous exchange.
  for (int j = 0; j < node_size_; ++j) bytes_from_[j] = j == local_ ? 0 : recv_bytes[world_of_[j]];
  need_bytes(me) = shm_window_layout(bytes_from_.data(), node_size_, local_, layout_.data());
  for (int j = 0; j < node_size_; ++j) {
    announce(me, node_size_, j)[0] = layout_[j];
    announce(me, node_size_, j)[1] = bytes_from_[j];
  }
  ready_flag(me).store(e, std::memory_order_release);

  // 2. Wait for every peer's announce of this exchange. A peer announces only
  //    after copying out its previous exchange, so its window is free to write.
  bool grow = false;
  for (int j = 0; j < node_size_; ++j) {
    if (j == local_) continue;
    for (unsigned spins = 0; ready_flag(control_[j]).load(std::memory_order_acquire) < e; ++spins) {
      pause(spins);
      if ((spins & 127) == 0 && now_s() > deadline_s)
        timeout("rank", std::to_string(world_of_[j]) + " (same node) never announced its receive window");
    }
  }
  for (int j = 0; j < node_size_; ++j) grow |= need_bytes(control_[j]) > capacity_[j];
  // 3. Every node rank saw the same needs, so all of them grow together or none.
  if (grow) grow_windows();

  // 4. Write each peer's rows once, straight into its window; then its done flag.
  for (int i = 1; i < node_size_; ++i) {
    const int j = (local_ + i) % node_size_;
    const int peer = world_of_[j];
    const int64_t* slot = announce(control_[j], node_size_, local_);
    if (slot[1] != send_bytes[peer])
      throw Error(ErrorCategory::kInternal, "rank " + std::to_string(world_rank_) + " sends " +
                                                std::to_string(send_bytes[peer]) + " bytes to rank " +
                                                std::to_string(peer) + ", which expects " + std::to_string(slot[1]) +
                                                " in " + where());
    if (slot[1] > 0) write(peer, data_[j] + slot[0]);
    done_flag(control_[j], local_).store(e, std::memory_order_release);
  }

  // 5. Copy each peer's rows out as soon as its done flag says they are all there.
  auto* in = static_cast<unsigned char*>(recv);
  int left = 0;
  for (int j = 0; j < node_size_; ++j) left += pending_[j] = j != local_;
  for (unsigned spins = 0; left > 0; ++spins) {
    bool any = false;
    for (int j = 0; j < node_size_; ++j) {
      if (!pending_[j] || done_flag(me, j).load(std::memory_order_acquire) < e) continue;
      const int peer = world_of_[j];
      if (recv_bytes[peer] > 0)
        std::memcpy(in + recv_offset[peer], data_[local_] + layout_[j], static_cast<size_t>(recv_bytes[peer]));
      pending_[j] = 0;
      --left;
      any = true;
    }
    if (any || left == 0) {
      spins = 0;
      continue;
    }
    pause(spins);
    if ((spins & 127) == 0 && now_s() > deadline_s) {
      std::string missing;
      for (int j = 0; j < node_size_; ++j)
        if (pending_[j]) missing += (missing.empty() ? "" : ", ") + std::to_string(world_of_[j]);
      timeout("rows from rank", missing + " (same node) never finished writing into this rank's window");
    }
  }
}

void ShmTransport::alltoallv_bytes(const void* send, const int64_t* send_bytes, const int64_t* send_offset,
                                   void* recv, const int64_t* recv_bytes, const int64_t* recv_offset) {
  const auto* out = static_cast<const unsigned char*>(send);
  exchange(send_bytes, recv, recv_bytes, recv_offset, [&](int peer, unsigned char* dst) {
    std::memcpy(dst, out + send_offset[peer], static_cast<size_t>(send_bytes[peer]));
  });
}

void ShmTransport::alltoallv_rows(const RowGather& send, const int64_t* send_rows, const int64_t* send_row_offset,
                                  void* recv, const int64_t* recv_bytes, const int64_t* recv_offset) {
  const int nseg = send.segments_per_row;
  const int64_t row_bytes = send.row_bytes();
  std::vector<int64_t>& bytes = send_bytes_;
  bytes.assign(world_size_, 0);
  for (int p = 0; p < world_size_; ++p) bytes[p] = send_rows[p] * row_bytes;
  exchange(bytes.data(), recv, recv_bytes, recv_offset, [&](int peer, unsigned char* dst) {
    for (int64_t row = send_row_offset[peer]; row < send_row_offset[peer] + send_rows[peer]; ++row)
      for (int j = 0; j < nseg; ++j) {
        std::memcpy(dst, send.seg[row * nseg + j], static_cast<size_t>(send.seg_bytes[j]));
        dst += send.seg_bytes[j];
      }
  });
}

}  // namespace wideep
