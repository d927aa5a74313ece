// --transport shm: the intra-node rows of the MPI backend's all-to-allv through
// MPI-3 shared memory. Each rank owns a receive window (MPI_Win_allocate_shared
// on its node's communicator); a sender writes each row once, straight into the
// receiver's window, and the receiver copies it out into its receive buffer.
// Construction, destruction and both all-to-allv calls are collective over the
// node's ranks (the calls are part of the world's collective all-to-allv).
// Every wait ends after the owner's --timeout-s with an Error(kTimeout) naming
// the node peer that did not answer.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "comm/communicator.h"

namespace wideep {

// Where each node peer's rows land in a receiver's window: compact, in peer
// order, every block aligned to 64 bytes (a cache line). Returns the window
// bytes needed. recv_bytes[j] is what node peer j sends; j == self gets none.
int64_t shm_window_layout(const int64_t* recv_bytes, int node_size, int self, int64_t* offset);
// The capacity a window grows to when `need_bytes` exceeds `capacity_bytes`:
// 25 % headroom, rounded up to 64 KiB, so that a slowly growing receive does
// not reallocate (a node-collective call) every step.
int64_t shm_grown_capacity(int64_t capacity_bytes, int64_t need_bytes);

class ShmTransport {
 public:
  // Collective over MPI_COMM_WORLD. The node of a rank: the ranks of its
  // shared-memory domain (MPI_COMM_TYPE_SHARED) with the same
  // rank / ranks_per_node, so that one machine can play several nodes.
  // `owner` supplies the context and timeout of messages; it outlives this.
  ShmTransport(const Communicator& owner, int ranks_per_node);
  ~ShmTransport();
  ShmTransport(const ShmTransport&) = delete;
  ShmTransport& operator=(const ShmTransport&) = delete;

  // Whether world rank `rank` is another rank of this node (its rows go here).
  bool on_node(int rank) const { return rank != world_rank_ && local_of_[rank] >= 0; }
  int node_size() const { return node_size_; }
  int64_t window_bytes() const { return capacity_[local_]; }  // this rank's receive window
  int64_t regrowths() const { return regrowths_; }             // node-collective window growths so far

  // The node peers' part of Communicator::alltoallv_bytes / alltoallv_rows
  // (same arguments, indexed by world rank): the self part and other nodes'
  // rows are the caller's. Returns once every node peer's rows are in recv.
  void alltoallv_bytes(const void* send, const int64_t* send_bytes, const int64_t* send_offset, void* recv,
                       const int64_t* recv_bytes, const int64_t* recv_offset);
  void alltoallv_rows(const RowGather& send, const int64_t* send_rows, const int64_t* send_row_offset,
                      void* recv, const int64_t* recv_bytes, const int64_t* recv_offset);

 private:
  // One exchange: announce, agree on window sizes, write every peer's rows
  // with `write(peer world rank, destination)`, then copy the arrivals out.
  template <typename WriteRows>
  void exchange(const int64_t* send_bytes, void* recv, const int64_t* recv_bytes, const int64_t* recv_offset,
                const WriteRows& write);
  void grow_windows();
  std::string where() const;
  [[noreturn]] void timeout(const char* what, const std::string& missing) const;

  const Communicator& owner_;
  int world_rank_ = 0, world_size_ = 1;
  MPI_Comm node_comm_ = MPI_COMM_NULL;
  int local_ = 0, node_size_ = 1;
  std::vector<int> world_of_;  // node-local index -> world rank
  std::vector<int> local_of_;  // world rank -> node-local index, -1 off the node
  MPI_Win control_win_ = MPI_WIN_NULL;
  std::vector<unsigned char*> control_;  // every node rank's control block (layout in the .cc)
  MPI_Win data_win_ = MPI_WIN_NULL;
  std::vector<unsigned char*> data_;
  std::vector<int64_t> capacity_;  // every node rank's data window bytes
  std::vector<int64_t> layout_;    // this exchange's offsets in this rank's window
  std::vector<char> pending_;      // node peers whose rows are not copied out yet
  std::vector<int64_t> bytes_from_;  // this exchange's bytes from each node peer
  std::vector<int64_t> send_bytes_;  // alltoallv_rows: bytes to each world rank
  uint64_t seq_ = 0;               // exchanges so far (the same on every node rank)
  int64_t regrowths_ = 0;
};

}  // namespace wideep
