// --transport shm (comm/shm_transport.h): node communicator, the shared
// control block and windows, and the announce / grow / write / wait protocol
// of one intra-node all-to-allv.
#include "comm/shm_transport.h"

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <new>

#include "comm/wait_slice.h"
#include "comm/watchdog.h"
#include "common/check.h"

namespace wideep {
namespace {

// Synchronisation. The windows are ordinary memory mapped into every process
// of the node (Open MPI's osc/sm, memory model MPI_WIN_UNIFIED: checked at
// construction), so the flags are C++ atomics in that memory rather than
// MPI_Win_sync + a node barrier: a lock-free std::atomic is address-free (it
// works between processes that map the same page), a release store after a
// sender's writes and an acquire load before the receiver reads give the
// same happens-before as between threads, and a wait on one flag can name the
// one peer that did not set it (a barrier cannot). Every flag holds the
// sequence number of an exchange (the same count on every node rank, since
// every call is collective) and only grows, so no flag is ever reset.
using Seq = std::atomic<uint64_t>;
static_assert(Seq::is_always_lock_free, "shared-memory flags need lock-free 64-bit atomics");

// One rank's control block. Two slots (two exchanges may be prepared and not
// completed); every flag on its own cache line so that a writer never
// invalidates a line another peer polls:
//   line 0                 ready: the last exchange whose announce is published (owner writes)
//   lines 1..8             need[slot][w]: int64 bytes the owner needs in window w (owner writes)
//   2N lines               done[slot][j]: the exchange of that slot peer j finished with this
//                          rank (push: its rows are written here; in place: it read the
//                          announce) (peer j writes)
//   then [2][N][6] int64   announce[slot][j]: {recv window, offset, bytes} where peer j's rows
//                          go, {send window, offset, bytes} where this rank's rows for j lie
//                          (in place) (owner writes)
constexpr int64_t kLine = 64;
constexpr int kMaxWindows = 32;
constexpr int kNeedLines = 2 * kMaxWindows * 8 / kLine;
int64_t control_bytes(int n) { return (1 + kNeedLines + 2 * n) * kLine + 2 * n * 6 * int64_t{8}; }
Seq& ready_flag(unsigned char* c) { return *reinterpret_cast<Seq*>(c); }
int64_t* needs(unsigned char* c, int slot) { return reinterpret_cast<int64_t*>(c + kLine) + slot * kMaxWindows; }
Seq& done_flag(unsigned char* c, int n, int slot, int from) {
  return *reinterpret_cast<Seq*>(c + (1 + kNeedLines + slot * n + from) * kLine);
}
int64_t* announce(unsigned char* c, int n, int slot, int from) {
  return reinterpret_cast<int64_t*>(c + (1 + kNeedLines + 2 * n) * kLine) + (slot * n + from) * 6;
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// Spins briefly, then yields the core, then sleeps 20 us at a time: ranks
// may outnumber cores, and a waiter that only yields keeps the rank it waits
// for off its core (8 ranks on 2 cores: ~2x shorter waits than yield alone).
constexpr unsigned kBusySpins = 64;  // pause() keeps the core this long
void pause(unsigned spins) {
  if (spins > 1024) {
    struct timespec ts = {0, 20000};
    nanosleep(&ts, nullptr);
  } else if (spins > kBusySpins) {
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

// An exchange buffer in a window: where it lies is the window's segment of
// this rank, which moves when the window grows (inside prepare()).
class ShmTransport::Buffer final : public ExchangeBuffer {
 public:
  Buffer(ShmTransport* t, int index) : t_(t), index_(index) {}
  unsigned char* data() override { return t_->windows_[index_].base[t_->local_]; }
  int64_t bytes() const override { return t_->windows_[index_].capacity[t_->local_]; }
  void reserve(int64_t bytes) override {
    int64_t& want = t_->windows_[index_].want;
    want = std::max(want, bytes);
  }

 private:
  ShmTransport* t_;
  int index_;
};

int shm_largest_node(const Communicator& owner, int ranks_per_node) {
  WIDEEP_ASSERT(ranks_per_node > 0, "ranks per node must be positive");
  int world_rank = 0;
  WIDEEP_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &world_rank));
  WatchdogScope guard(rank_watchdog(), owner.timeout_s() + watchdog_grace_s(owner.timeout_s()),
                      "--transport auto: counting the ranks of each node (blocking collectives)");
  MPI_Comm shared, node;
  WIDEEP_MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_rank, MPI_INFO_NULL, &shared));
  WIDEEP_MPI_CHECK(MPI_Comm_split(shared, world_rank / ranks_per_node, world_rank, &node));
  int size = 1, largest = 1;
  WIDEEP_MPI_CHECK(MPI_Comm_size(node, &size));
  WIDEEP_MPI_CHECK(MPI_Comm_free(&node));
  WIDEEP_MPI_CHECK(MPI_Comm_free(&shared));
  WIDEEP_MPI_CHECK(MPI_Allreduce(&size, &largest, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
  return largest;
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
  int machine_ranks = 1;
  WIDEEP_MPI_CHECK(MPI_Comm_size(shared, &machine_ranks));
  oversubscribed_ = node_oversubscribed(machine_ranks);
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
  for (int s = 0; s < 2; ++s)
    for (int j = 0; j < node_size_; ++j) new (&done_flag(mine, node_size_, s, j)) Seq(0);
  control_.assign(node_size_, nullptr);
  for (int j = 0; j < node_size_; ++j) {
    MPI_Aint bytes;
    int disp;
    WIDEEP_MPI_CHECK(MPI_Win_shared_query(control_win_, j, &bytes, &disp, &control_[j]));
  }
  bytes_from_.assign(node_size_, 0);
  layout_.assign(node_size_, 0);
  // The two bounce windows, empty (their barrier: every control block is
  // initialised before a peer reads it).
  windows_.resize(2);
  for (Window& w : windows_) allocate_window(&w, 0);
}

ShmTransport::~ShmTransport() {
  // No throw from here: the job is ending (collective over the node, as is the constructor).
  for (Window& w : windows_)
    if (w.win != MPI_WIN_NULL) MPI_Win_free(&w.win);
  if (control_win_ != MPI_WIN_NULL) MPI_Win_free(&control_win_);
  if (node_comm_ != MPI_COMM_NULL) MPI_Comm_free(&node_comm_);
}

int64_t ShmTransport::window_bytes() const { return windows_[0].capacity[local_] + windows_[1].capacity[local_]; }

// Collective over the node. First touch here (not in a peer's first timed
// write); the barrier keeps every peer from writing before the owner's memset.
void ShmTransport::allocate_window(Window* w, int64_t bytes) {
  WatchdogScope guard(rank_watchdog(), owner_.timeout_s() + watchdog_grace_s(owner_.timeout_s()),
                      where() + ": allocating a shared window (a blocking collective of the node)");
  MPI_Info info = noncontig_info();
  unsigned char* mine = nullptr;
  WIDEEP_MPI_CHECK(MPI_Win_allocate_shared(bytes, 1, info, node_comm_, &mine, &w->win));
  WIDEEP_MPI_CHECK(MPI_Info_free(&info));
  if (bytes > 0) std::memset(mine, 0, static_cast<size_t>(bytes));
  WIDEEP_MPI_CHECK(MPI_Barrier(node_comm_));
  w->base.assign(node_size_, nullptr);
  w->capacity.assign(node_size_, 0);
  for (int j = 0; j < node_size_; ++j) {
    MPI_Aint got;
    int disp;
    WIDEEP_MPI_CHECK(MPI_Win_shared_query(w->win, j, &got, &disp, &w->base[j]));
    w->capacity[j] = static_cast<int64_t>(got);
  }
}

std::unique_ptr<ExchangeBuffer> ShmTransport::allocate(int64_t bytes) {
  WIDEEP_ASSERT(static_cast<int>(windows_.size()) < kMaxWindows,
                "--transport shm: more than " + std::to_string(kMaxWindows - 2) + " exchange buffers");
  windows_.emplace_back();
  allocate_window(&windows_.back(), round_up(std::max<int64_t>(bytes, 0), kLine));
  windows_.back().want = windows_.back().capacity[local_];
  return std::make_unique<Buffer>(this, static_cast<int>(windows_.size()) - 1);
}

// Collective over the node: window `index` is replaced by one where rank j's
// segment holds capacity[j] bytes, each rank's contents copied over.
void ShmTransport::grow(int index, const std::vector<int64_t>& capacity) {
  for (const Slot& s : slots_)
    if (s.busy && (s.recv_window == index || s.send_window == index))
      throw Error(ErrorCategory::kInternal, where() + ": a shared window must grow while an exchange in flight "
                                                      "uses it (an exchange buffer was reserved larger too late)");
  Window old = windows_[index];
  Window& w = windows_[index];
  allocate_window(&w, capacity[local_]);
  const int64_t keep = std::min(old.capacity[local_], w.capacity[local_]);
  if (keep > 0) std::memcpy(w.base[local_], old.base[local_], static_cast<size_t>(keep));
  w.want = old.want;
  // Nobody writes the new window before every owner copied its contents over.
  WIDEEP_MPI_CHECK(MPI_Barrier(node_comm_));
  WIDEEP_MPI_CHECK(MPI_Win_free(&old.win));
  ++regrowths_;
}

int ShmTransport::window_of(const void* p, int64_t* offset) const {
  const auto* b = static_cast<const unsigned char*>(p);
  for (int i = 2; i < static_cast<int>(windows_.size()); ++i) {
    const unsigned char* base = windows_[i].base[local_];
    if (base != nullptr && b >= base && b < base + std::max(windows_[i].capacity[local_], int64_t{1})) {
      *offset = b - base;
      return i;
    }
  }
  return -1;
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

// Waits until node peer j's ready flag (ready) or its done flag of `slot` in
// this rank's block reaches `seq`.
void ShmTransport::wait_flag(int j, bool ready, int slot, uint64_t seq, const char* what) const {
  const Seq& flag = ready ? ready_flag(control_[j]) : done_flag(control_[local_], node_size_, slot, j);
  const double deadline_s = now_s() + owner_.timeout_s();
  // Once the wait gives up its core (pause()), a short slice: released, this
  // rank preempts a peer that went on computing instead of waiting for the
  // scheduler's tick (docs/results.md: 8 ranks on 2 cores).
  WaitSlice slice(oversubscribed_);
  for (unsigned spins = 0; flag.load(std::memory_order_acquire) < seq; ++spins) {
    if (spins == kBusySpins) slice.shorten();
    pause(spins);
    if ((spins & 127) == 0 && now_s() > deadline_s)
      timeout("rank", std::to_string(world_of_[j]) + " (same node) " + what);
  }
}

int ShmTransport::prepare(const int64_t* send_bytes, const int64_t* send_offset, const void** send, void** recv,
                          const int64_t* recv_bytes, const int64_t* recv_offset, bool in_place) {
  if (node_size_ == 1) {  // no peers: only the buffers asked to grow
    int64_t recv_rel = 0, send_rel = 0;
    const int rw = window_of(*recv, &recv_rel), sw = send != nullptr ? window_of(*send, &send_rel) : -1;
    for (int i = 2; i < static_cast<int>(windows_.size()); ++i)
      if (windows_[i].want > windows_[i].capacity[0]) grow(i, {round_up(windows_[i].want, kLine)});
    if (rw >= 0) *recv = windows_[rw].base[0] + recv_rel;
    if (sw >= 0) *send = windows_[sw].base[0] + send_rel;
    return -1;
  }
  const int slot = slots_[0].busy ? 1 : 0;
  WIDEEP_ASSERT(!slots_[slot].busy, "more than two shared-memory exchanges prepared and not completed");
  Slot& x = slots_[slot];
  const uint64_t e = ++seq_;
  WatchdogScope guard(rank_watchdog(), owner_.timeout_s() + watchdog_grace_s(owner_.timeout_s()), where());
  drain(slot);
  unsigned char* me = control_[local_];
  const int N = node_size_;

  // 1. Announce. Rows into a window of this rank are written where the caller
  //    wants them; any other receive goes through this slot's bounce window.
  int64_t recv_rel = 0, send_rel = 0;
  x.recv_window = window_of(*recv, &recv_rel);
  x.send_window = -1;
  if (in_place) {
    x.send_window = window_of(*send, &send_rel);
    WIDEEP_ASSERT(x.send_window >= 0, "an in-place exchange sends from a buffer of ShmTransport::allocate()");
  }
  for (int j = 0; j < N; ++j) bytes_from_[j] = j == local_ ? 0 : recv_bytes[world_of_[j]];
  int64_t* need = needs(me, slot);
  for (int i = 0; i < static_cast<int>(windows_.size()); ++i) need[i] = windows_[i].want;
  need[slot] = 0;
  if (x.recv_window < 0 && !in_place) need[slot] = shm_window_layout(bytes_from_.data(), N, local_, layout_.data());
  x.recv_bytes.assign(N, 0);
  x.recv_offset.assign(N, 0);
  x.bounce_offset.assign(N, -1);
  for (int j = 0; j < N; ++j) {
    if (j == local_) continue;
    const int peer = world_of_[j];
    int64_t* a = announce(me, N, slot, j);
    x.recv_bytes[j] = recv_bytes[peer];
    x.recv_offset[j] = recv_offset[peer];
    a[0] = a[1] = a[2] = a[3] = a[4] = a[5] = 0;
    if (in_place) {
      a[3] = x.send_window;
      a[4] = send_rel + send_offset[peer];
      a[5] = send_bytes[peer];
      a[0] = -1;
    } else if (x.recv_window >= 0) {
      WIDEEP_ASSERT(recv_rel + recv_offset[peer] + recv_bytes[peer] <= windows_[x.recv_window].want,
                    "rows beyond a shared receive buffer");
      a[0] = x.recv_window;
      a[1] = recv_rel + recv_offset[peer];
      a[2] = recv_bytes[peer];
    } else {
      a[0] = slot;
      a[1] = x.bounce_offset[j] = layout_[j];
      a[2] = recv_bytes[peer];
    }
  }
  ready_flag(me).store(e, std::memory_order_release);

  // 2. Wait for every peer's announce of this exchange.
  for (int j = 0; j < N; ++j)
    if (j != local_) wait_flag(j, true, slot, e, "never announced this exchange");

  // 3. Every node rank saw the same needs: each window grows on all of them or on none.
  std::vector<int64_t> capacity(N);
  for (int i = 0; i < static_cast<int>(windows_.size()); ++i) {
    bool grow_it = false;
    for (int j = 0; j < N; ++j) {
      // Bounce windows with headroom; exchange buffers as their owner reserved them.
      const int64_t need = needs(control_[j], slot)[i], cap = windows_[i].capacity[j];
      capacity[j] = i < 2 ? shm_grown_capacity(cap, need) : std::max(cap, round_up(need, kLine));
      grow_it |= capacity[j] > windows_[i].capacity[j];
    }
    if (grow_it) grow(i, capacity);
  }
  if (x.recv_window >= 0) *recv = windows_[x.recv_window].base[local_] + recv_rel;
  if (x.send_window >= 0) *send = windows_[x.send_window].base[local_] + send_rel;
  x.recv = static_cast<unsigned char*>(*recv);

  // 4. In place: where each peer's rows for this rank lie; then tell it that
  //    its announce is read (its complete waits for that before reusing the slot).
  x.in_place = in_place;
  x.in_place_rows.assign(N, nullptr);
  if (in_place) {
    for (int j = 0; j < N; ++j) {
      if (j == local_) continue;
      const int64_t* a = announce(control_[j], N, slot, local_);
      if (a[5] != x.recv_bytes[j])
        throw Error(ErrorCategory::kInternal, "rank " + std::to_string(world_of_[j]) + " holds " +
                                                  std::to_string(a[5]) + " bytes for rank " +
                                                  std::to_string(world_rank_) + ", which expects " +
                                                  std::to_string(x.recv_bytes[j]) + " in " + where());
      WIDEEP_ASSERT(a[3] >= 2 && a[3] < static_cast<int64_t>(windows_.size()) &&
                        a[4] + a[5] <= windows_[a[3]].capacity[j],
                    "a peer's rows lie outside its shared window");
      x.in_place_rows[j] = windows_[a[3]].base[j] + a[4];
    }
    for (int j = 0; j < N; ++j)
      if (j != local_) done_flag(control_[j], N, slot, local_).store(e, std::memory_order_release);
  }
  x.seq = e;
  x.busy = true;
  return slot;
}

template <typename WriteRows>
void ShmTransport::complete(int slot, const int64_t* send_bytes, const WriteRows& write) {
  if (slot < 0) return;
  Slot& x = slots_[slot];
  WIDEEP_ASSERT(x.busy, "completing a shared-memory exchange that was not prepared");
  WatchdogScope guard(rank_watchdog(), owner_.timeout_s() + watchdog_grace_s(owner_.timeout_s()), where());
  const int N = node_size_;
  if (!x.in_place) {
    // Write each peer's rows once, where it announced; then its done flag.
    for (int i = 1; i < N; ++i) {
      const int j = (local_ + i) % N;
      const int peer = world_of_[j];
      const int64_t* a = announce(control_[j], N, slot, local_);
      if (a[2] != send_bytes[peer])
        throw Error(ErrorCategory::kInternal, "rank " + std::to_string(world_rank_) + " sends " +
                                                  std::to_string(send_bytes[peer]) + " bytes to rank " +
                                                  std::to_string(peer) + ", which expects " + std::to_string(a[2]) +
                                                  " in " + where());
      WIDEEP_ASSERT(a[0] >= 0 && a[0] < static_cast<int64_t>(windows_.size()) &&
                        a[1] + a[2] <= windows_[a[0]].capacity[j],
                    "a peer's announced rows lie outside its window");
      if (a[2] > 0) write(peer, windows_[a[0]].base[j] + a[1]);
      done_flag(control_[j], N, slot, local_).store(x.seq, std::memory_order_release);
    }
  }
  // In place, nothing is left to wait for here: that every peer read the
  // announce matters only when this slot is announced again (drain()).
  x.busy = false;
  if (x.in_place) {
    x.draining = true;
    return;
  }
  // Wait for every peer's rows, copying out what came through the bounce window.
  for (int i = 1; i < N; ++i) {
    const int j = (local_ + N - i) % N;
    wait_flag(j, false, slot, x.seq, "never finished writing its rows");
    if (x.bounce_offset[j] >= 0 && x.recv_bytes[j] > 0)
      std::memcpy(x.recv + x.recv_offset[j], windows_[slot].base[local_] + x.bounce_offset[j],
                  static_cast<size_t>(x.recv_bytes[j]));
  }
}

// Before a slot's announce is overwritten: every node peer has read the one
// of its last in-place exchange.
void ShmTransport::drain(int slot) {
  Slot& x = slots_[slot];
  if (!x.draining) return;
  for (int j = 0; j < node_size_; ++j)
    if (j != local_) wait_flag(j, false, slot, x.seq, "never read the announce of an in-place exchange");
  x.draining = false;
}

void ShmTransport::complete_bytes(int slot, const void* send, const int64_t* send_bytes, const int64_t* send_offset) {
  const auto* out = static_cast<const unsigned char*>(send);
  complete(slot, send_bytes, [&](int peer, unsigned char* dst) {
    std::memcpy(dst, out + send_offset[peer], static_cast<size_t>(send_bytes[peer]));
  });
}

// A reference: the window's index in the top 16 bits, the offset below.
constexpr int kRefShift = 48;

void ShmTransport::write_rows(const RowGather& send, int64_t first_row, int64_t rows, unsigned char* dst,
                              bool by_reference) const {
  const int nseg = send.segments_per_row;
  WIDEEP_ASSERT(!by_reference || send.seg_bytes[0] >= static_cast<int64_t>(sizeof(int64_t)),
                "a first segment too short to hold a reference");
  for (int64_t row = first_row; row < first_row + rows; ++row)
    for (int j = 0; j < nseg; ++j) {
      const void* seg = send.seg[row * nseg + j];
      if (j == 0 && by_reference) {
        int64_t ref = 0;
        if (!reference(seg, &ref))
          throw Error(ErrorCategory::kInternal, where() + ": a row sent by reference lies in no shared buffer");
        std::memcpy(dst, &ref, sizeof ref);
      } else {
        std::memcpy(dst, seg, static_cast<size_t>(send.seg_bytes[j]));
      }
      dst += send.seg_bytes[j];
    }
}

void ShmTransport::complete_rows(int slot, const RowGather& send, const int64_t* send_rows,
                                 const int64_t* send_row_offset) {
  const int64_t row_bytes = send.row_bytes();
  send_bytes_.assign(world_size_, 0);
  for (int p = 0; p < world_size_; ++p) send_bytes_[p] = send_rows[p] * row_bytes;
  complete(slot, send_bytes_.data(), [&](int peer, unsigned char* dst) {
    write_rows(send, send_row_offset[peer], send_rows[peer], dst, false);
  });
}

bool ShmTransport::reference(const void* p, int64_t* ref) const {
  int64_t offset = 0;
  const int w = window_of(p, &offset);
  if (w >= 0) *ref = (int64_t{w} << kRefShift) | offset;
  return w >= 0;
}

const unsigned char* ShmTransport::resolve(int rank, const unsigned char* at) const {
  int64_t ref = 0;
  std::memcpy(&ref, at, sizeof ref);
  const int64_t w = ref >> kRefShift, offset = ref & ((int64_t{1} << kRefShift) - 1);
  const int j = rank >= 0 && rank < world_size_ ? local_of_[rank] : -1;
  if (j < 0 || w < 2 || w >= static_cast<int64_t>(windows_.size()) || offset >= windows_[w].capacity[j])
    throw Error(ErrorCategory::kRemote, "rank " + std::to_string(world_rank_) + ": a row from rank " +
                                            std::to_string(rank) + " refers to bytes outside that rank's shared " +
                                            "buffers (window " + std::to_string(w) + ", offset " +
                                            std::to_string(offset) + ")");
  return windows_[w].base[j] + offset;
}

const void* ShmTransport::rows_in_place(int slot, int rank) const {
  if (slot < 0 || !on_node(rank)) return nullptr;
  return slots_[slot].in_place_rows[local_of_[rank]];
}

void ShmTransport::alltoallv_bytes(const void* send, const int64_t* send_bytes, const int64_t* send_offset,
                                   void* recv, const int64_t* recv_bytes, const int64_t* recv_offset) {
  const int slot = prepare(send_bytes, send_offset, &send, &recv, recv_bytes, recv_offset, false);
  complete_bytes(slot, send, send_bytes, send_offset);
}

void ShmTransport::alltoallv_rows(const RowGather& send, const int64_t* send_rows, const int64_t* send_row_offset,
                                  void* recv, const int64_t* recv_bytes, const int64_t* recv_offset) {
  const int slot = prepare(nullptr, nullptr, nullptr, &recv, recv_bytes, recv_offset, false);
  complete_rows(slot, send, send_rows, send_row_offset);
}

}  // namespace wideep
