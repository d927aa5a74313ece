// --transport shm: the intra-node rows of the MPI backend's all-to-allvs
// through MPI-3 shared memory (MPI_Win_allocate_shared on the node's ranks).
// The kernel backends' exchange buffers are windows of the node (allocate()),
// so a sender writes each row once, straight into the receiver's receive
// buffer, and a receiver can read a sender's rows where they lie (in place: no
// copy at all); rows into a buffer that is not a window go through a bounce
// window of the receiver and are copied out. Every wait ends after the
// owner's --timeout-s with an Error(kTimeout) naming the node peer that did
// not answer.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "common/exchange_memory.h"

namespace wideep {

// Where each node peer's rows land in a receiver's bounce window: compact, in
// peer order, every block aligned to 64 bytes (a cache line). Returns the
// window bytes needed. recv_bytes[j] is what node peer j sends; j == self gets none.
int64_t shm_window_layout(const int64_t* recv_bytes, int node_size, int self, int64_t* offset);
// The capacity a window grows to when `need_bytes` exceeds `capacity_bytes`:
// 25 % headroom, rounded up to 64 KiB, so that a slowly growing receive does
// not reallocate (a node-collective call) every step.
int64_t shm_grown_capacity(int64_t capacity_bytes, int64_t need_bytes);

// --transport auto: the most ranks any node of this job has, a node being
// what ShmTransport's constructor makes it (below). Collective over
// MPI_COMM_WORLD; `owner` gives the timeout. Shared memory pays where it is >= 2.
int shm_largest_node(const Communicator& owner, int ranks_per_node);

class ShmTransport final : public ExchangeMemory {
 public:
  // Collective over MPI_COMM_WORLD. The node of a rank: the ranks of its
  // shared-memory domain (MPI_COMM_TYPE_SHARED) with the same
  // rank / ranks_per_node, so that one machine can play several nodes.
  // `owner` supplies the context and timeout of messages; it outlives this.
  ShmTransport(const Communicator& owner, int ranks_per_node);
  ~ShmTransport() override;
  ShmTransport(const ShmTransport&) = delete;
  ShmTransport& operator=(const ShmTransport&) = delete;

  // Whether world rank `rank` is another rank of this node (its rows go here).
  bool on_node(int rank) const { return rank != world_rank_ && local_of_[rank] >= 0; }
  int node_size() const { return node_size_; }
  int64_t window_bytes() const;                    // this rank's bounce windows
  int64_t regrowths() const { return regrowths_; }  // node-collective window growths so far

  // A window of the node (collective over the node: every rank allocates its
  // buffers in the same order). It grows inside prepare(), never elsewhere.
  std::unique_ptr<ExchangeBuffer> allocate(int64_t bytes) override;
  bool reference(const void* p, int64_t* ref) const override;
  const unsigned char* resolve(int rank, const unsigned char* ref) const override;

  // One exchange of the node peers' part of an all-to-allv (arguments as
  // Communicator::alltoallv_bytes / alltoallv_rows, indexed by world rank; the
  // self part and other nodes' rows are the caller's), in two calls so that
  // the caller posts its MPI part between them:
  // - prepare() announces where each peer's rows go (and, `in_place`, where
  //   this rank's rows for each peer lie), waits until every node peer has
  //   announced the same exchange, and grows every window some node rank asked
  //   to grow (collectively, contents kept). It rewrites *recv and, where
  //   given, *send to where they lie now, and returns the exchange's slot.
  // - complete_*() writes this rank's rows into each peer's receive buffer
  //   (or bounce window), waits for the peers' rows, and copies out those that
  //   came through the bounce window.
  // in_place: `*send` lies in a window of allocate(); no row moves between node
  // peers: after complete, rows_in_place(slot, p) is where node peer p's rows
  // for this rank lie in p's window, and recv is not written for p. They stay
  // there until p writes that buffer again, which the pipeline does only after
  // its next dispatch exchange (that every node peer completes only after it
  // read them). Every node rank prepares and completes its exchanges in the
  // same order; at most two are prepared and not completed.
  // send_bytes, send_offset and send are read only in place (null otherwise):
  // a push is checked against what the receiver announced at complete.
  int prepare(const int64_t* send_bytes, const int64_t* send_offset, const void** send, void** recv,
              const int64_t* recv_bytes, const int64_t* recv_offset, bool in_place);
  void complete_bytes(int slot, const void* send, const int64_t* send_bytes, const int64_t* send_offset);
  void complete_rows(int slot, const RowGather& send, const int64_t* send_rows, const int64_t* send_row_offset);
  const void* rows_in_place(int slot, int rank) const;
  // Rows first_row.. of `send` packed at dst (complete_rows' writes; the MPI
  // backend's self part): by_reference, each first segment as a reference.
  void write_rows(const RowGather& send, int64_t first_row, int64_t rows, unsigned char* dst, bool by_reference) const;

  // prepare + complete (rows pushed, nothing in place).
  void alltoallv_bytes(const void* send, const int64_t* send_bytes, const int64_t* send_offset, void* recv,
                       const int64_t* recv_bytes, const int64_t* recv_offset);
  void alltoallv_rows(const RowGather& send, const int64_t* send_rows, const int64_t* send_row_offset, void* recv,
                      const int64_t* recv_bytes, const int64_t* recv_offset);

 private:
  // A window: one segment per node rank, capacity[j] bytes at base[j].
  // Windows 0 and 1 are the bounce windows of slots 0 and 1.
  struct Window {
    MPI_Win win = MPI_WIN_NULL;
    std::vector<unsigned char*> base;
    std::vector<int64_t> capacity;
    int64_t want = 0;  // this rank's bytes asked for (ExchangeBuffer::reserve)
  };
  // A prepared exchange, until it completes.
  struct Slot {
    bool busy = false, in_place = false;
    bool draining = false;  // in place and completed: peers may still read its announce
    uint64_t seq = 0;
    int recv_window = -1, send_window = -1;  // the windows it uses (-1: none)
    unsigned char* recv = nullptr;
    std::vector<int64_t> recv_bytes, recv_offset;  // [node size] from each node peer
    std::vector<int64_t> bounce_offset;            // [node size] in the bounce window, or -1
    std::vector<const unsigned char*> in_place_rows;  // [node size]
  };
  class Buffer;

  int window_of(const void* p, int64_t* offset) const;  // this rank's window holding p, or -1
  void allocate_window(Window* w, int64_t bytes);
  void grow(int index, const std::vector<int64_t>& capacity);
  template <typename WriteRows>
  void complete(int slot, const int64_t* send_bytes, const WriteRows& write);
  void wait_flag(int j, bool ready, int slot, uint64_t seq, const char* what) const;
  void drain(int slot);
  std::string where() const;
  [[noreturn]] void timeout(const char* what, const std::string& missing) const;

  const Communicator& owner_;
  int world_rank_ = 0, world_size_ = 1;
  MPI_Comm node_comm_ = MPI_COMM_NULL;
  int local_ = 0, node_size_ = 1;
  bool oversubscribed_ = false;  // more ranks on this machine than CPUs (comm/wait_slice.h)
  std::vector<int> world_of_;  // node-local index -> world rank
  std::vector<int> local_of_;  // world rank -> node-local index, -1 off the node
  MPI_Win control_win_ = MPI_WIN_NULL;
  std::vector<unsigned char*> control_;  // every node rank's control block (layout in the .cc)
  std::vector<Window> windows_;
  Slot slots_[2];
  std::vector<int64_t> bytes_from_, layout_, send_bytes_;
  uint64_t seq_ = 0;  // exchanges so far (the same on every node rank)
  int64_t regrowths_ = 0;
};

}  // namespace wideep
