// Multi-rank test of --transport shm (comm/shm_transport.h), run under mpirun
// by tests/shm.cmake: the MPI backend with the shm transport must deliver the
// very bytes the plain MPI backend does, for alltoallv_bytes, alltoallv_rows
// and the nonblocking start_*/wait_exchange, across rounds whose sizes grow
// (the windows must grow) and shrink, with nodes of --ranks-per-node ranks.
// In place too: rows written straight into a receive buffer of the node's
// windows (exchange_memory(), grown by reserve inside the exchange) and rows
// read where a sender holds them (start_alltoallv_bytes_in_place).
// Payload byte i from rank s to rank d in round r is a hash of (s, d, r, i), so
// every receiver checks locally; "#wrong" is summed over ranks (exit 1 if any).
// --stall RANK: RANK skips one shm exchange; the others must time out naming it.
#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "comm/communicator.h"
#include "comm/mpi_env.h"
#include "comm/shm_transport.h"
#include "common/check.h"

namespace wideep {
namespace {

uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  return x ^ (x >> 33);
}
unsigned char payload(int s, int d, int round, int64_t i) {
  return static_cast<unsigned char>(mix((static_cast<uint64_t>(s) << 48) ^ (static_cast<uint64_t>(d) << 32) ^
                                        (static_cast<uint64_t>(round) << 24) ^ static_cast<uint64_t>(i)) >> 56);
}
// Rows from s to d in a round: 0 for some pairs, growing with the round
// (round 3 sends ~4x round 1, so the windows must grow), smaller again after.
int64_t rows_between(int s, int d, int round) {
  const int64_t scale[] = {1, 2, 8, 3, 0, 5};
  const int64_t base = static_cast<int64_t>(mix(static_cast<uint64_t>(s * 131 + d * 7 + round)) % 9);
  return base == 0 ? 0 : base * scale[round % 6] + (s == d ? 1 : 0);
}

struct Round {
  int64_t row_bytes;
  std::vector<int64_t> send_rows, send_row_offset, send_bytes, send_offset, recv_bytes, recv_offset;
  int64_t send_total = 0, recv_total = 0;
};

Round plan(int me, int R, int round, int64_t row_bytes) {
  Round x;
  x.row_bytes = row_bytes;
  for (auto* v : {&x.send_rows, &x.send_row_offset, &x.send_bytes, &x.send_offset, &x.recv_bytes, &x.recv_offset})
    v->assign(R, 0);
  int64_t rows = 0;
  for (int p = 0; p < R; ++p) {
    x.send_rows[p] = rows_between(me, p, round);
    x.send_row_offset[p] = rows;
    x.send_bytes[p] = x.send_rows[p] * row_bytes;
    x.send_offset[p] = rows * row_bytes;
    rows += x.send_rows[p];
    x.recv_bytes[p] = rows_between(p, me, round) * row_bytes;
    x.recv_offset[p] = x.recv_total;
    x.recv_total += x.recv_bytes[p];
  }
  x.send_total = rows * row_bytes;
  return x;
}

int64_t count_wrong(const std::vector<unsigned char>& got, const Round& x, int me, int R, int round) {
  int64_t wrong = 0;
  for (int p = 0; p < R; ++p)
    for (int64_t i = 0; i < x.recv_bytes[p]; ++i) wrong += got[x.recv_offset[p] + i] != payload(p, me, round, i);
  return wrong;
}

// Ends this rank after a failed exchange, without unwinding: the windows'
// destructors are collective and would wait for the missing peer. A plain exit,
// not MPI_Abort: mpirun ends the job at the first non-zero status (the stalled
// rank too), and Open MPI 4.1's mpirun can hang on the help messages of several
// simultaneous MPI_Aborts.
[[noreturn]] void fail(const Error& e) {
  std::fprintf(stderr, "shm_transport_ranks: %s\n", e.what());
  std::fflush(stderr);
  std::this_thread::sleep_for(std::chrono::seconds(1));  // the other ranks' lines first
  std::_Exit(e.category() == ErrorCategory::kTimeout ? 3 : 1);
}

int run(int argc, char** argv, const MpiWorld& world) {
  int rpn = world.size, stall = -1, rounds = 6;
  double timeout_s = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--ranks-per-node") rpn = std::atoi(argv[i + 1]);
    else if (a == "--stall") stall = std::atoi(argv[i + 1]);
    else if (a == "--rounds") rounds = std::atoi(argv[i + 1]);
    else if (a == "--timeout-s") timeout_s = std::atof(argv[i + 1]);
    else throw UsageError("unknown option " + a);
  }
  const int me = world.rank, R = world.size;
  std::unique_ptr<Communicator> mpi = make_mpi_communicator(), shm = make_mpi_communicator();
  mpi->set_timeout_s(timeout_s);
  shm->set_timeout_s(timeout_s);
  WIDEEP_ASSERT(shm->set_transport("shm", rpn), "the MPI backend offers --transport shm");
  // The node as the transport sees it, and its window growth (a transport of its own).
  ShmTransport probe(*shm, rpn);
  int node_peers = 0;
  for (int p = 0; p < R; ++p) node_peers += probe.on_node(p);

  // Exchange buffers in the node's windows, one byte each at first: every
  // round reserves what it needs, and the next exchange grows them.
  std::unique_ptr<ExchangeBuffer> recv_buf = shm->exchange_memory()->allocate(1);
  std::unique_ptr<ExchangeBuffer> send_buf = shm->exchange_memory()->allocate(1);
  int64_t in_place_moves = 0, read_in_place = 0;

  int64_t wrong = 0, compared = 0;
  for (int round = 0; round < rounds; ++round) try {
    // Rows of 2 segments (48 + 80 bytes, as activations + routing metadata),
    // each segment at its own scattered place: the gathered send.
    const int64_t seg0 = 48, seg1 = 80;
    const Round x = plan(me, R, round, seg0 + seg1);
    std::vector<unsigned char> packed(static_cast<size_t>(x.send_total + 1));
    for (int p = 0; p < R; ++p)
      for (int64_t i = 0; i < x.send_bytes[p]; ++i) packed[x.send_offset[p] + i] = payload(me, p, round, i);
    const int64_t rows = x.send_total / x.row_bytes;
    std::vector<unsigned char> scattered(static_cast<size_t>(rows * 2 * 160 + 1));
    std::vector<const void*> seg(static_cast<size_t>(rows * 2 + 1));
    const int64_t seg_bytes[2] = {seg0, seg1};
    for (int64_t r = 0; r < rows; ++r) {  // row r's segments, reversed and apart
      unsigned char* a = scattered.data() + (rows - 1 - r) * 320;
      unsigned char* b = a + 160;
      std::memcpy(a, packed.data() + r * x.row_bytes, seg0);
      std::memcpy(b, packed.data() + r * x.row_bytes + seg0, seg1);
      seg[2 * r] = a;
      seg[2 * r + 1] = b;
    }
    RowGather gather;
    gather.segments_per_row = 2;
    gather.seg = seg.data();
    gather.seg_bytes = seg_bytes;

    std::vector<unsigned char> by_mpi(static_cast<size_t>(x.recv_total + 1), 0xAA);
    std::vector<unsigned char> by_shm(by_mpi.size(), 0x55), rows_shm(by_mpi.size(), 0x33),
        start_a(by_mpi.size(), 0x11), start_b(by_mpi.size(), 0x22);
    mpi->alltoallv_bytes(packed.data(), x.send_bytes.data(), x.send_offset.data(), by_mpi.data(),
                         x.recv_bytes.data(), x.recv_offset.data());
    if (me == stall && round == 1) {
      std::fprintf(stderr, "shm_transport_ranks: rank %d: skipping the shm exchange of round 1\n", me);
      std::this_thread::sleep_for(std::chrono::duration<double>(timeout_s + 30));
      std::_Exit(0);  // not reached when the others end the job, as they must
    }
    shm->set_context(CommContext{round, 0, "bytes"});
    shm->alltoallv_bytes(packed.data(), x.send_bytes.data(), x.send_offset.data(), by_shm.data(), x.recv_bytes.data(),
                         x.recv_offset.data());
    shm->set_context(CommContext{round, 0, "rows"});
    shm->alltoallv_rows(gather, x.send_rows.data(), x.send_row_offset.data(), rows_shm.data(), x.recv_bytes.data(),
                        x.recv_offset.data());
    // Two overlapped exchanges in flight, waited in start order.
    shm->set_context(CommContext{round, 0, "overlapped"});
    const int a = shm->start_alltoallv_rows(gather, x.send_rows.data(), x.send_row_offset.data(), start_a.data(),
                                            x.recv_bytes.data(), x.recv_offset.data());
    const int b = shm->start_alltoallv_bytes(packed.data(), x.send_bytes.data(), x.send_offset.data(), start_b.data(),
                                             x.recv_bytes.data(), x.recv_offset.data());
    shm->progress(a);
    shm->wait_exchange(a);
    shm->wait_exchange(b);
    // Written in place: the receive buffer grows inside the exchange (it may
    // move), rows land where the caller asked.
    recv_buf->reserve(x.recv_total + 1);
    send_buf->reserve(x.send_total + 1);
    const unsigned char* before = recv_buf->data();
    shm->set_context(CommContext{round, 0, "in place"});
    shm->alltoallv_bytes(packed.data(), x.send_bytes.data(), x.send_offset.data(), recv_buf->data(),
                         x.recv_bytes.data(), x.recv_offset.data());
    in_place_moves += recv_buf->data() != before;
    wrong += recv_buf->bytes() < x.recv_total;
    wrong += std::memcmp(recv_buf->data(), by_mpi.data(), static_cast<size_t>(x.recv_total)) != 0;
    // Read in place: node peers' rows stay in their send buffers (grown by the
    // exchange above); the others arrive in recv.
    std::memcpy(send_buf->data(), packed.data(), static_cast<size_t>(x.send_total));
    std::vector<unsigned char> pulled(by_mpi.size(), 0x44);
    const int c = shm->start_alltoallv_bytes_in_place(send_buf->data(), x.send_bytes.data(), x.send_offset.data(),
                                                      pulled.data(), x.recv_bytes.data(), x.recv_offset.data());
    shm->wait_exchange(c);
    for (int p = 0; p < R; ++p) {
      const auto* at = static_cast<const unsigned char*>(shm->rows_in_place(p));
      wrong += (at != nullptr) != probe.on_node(p);  // node peers' rows, and only theirs, in place
      if (at == nullptr) at = pulled.data() + x.recv_offset[p];
      else read_in_place += x.recv_bytes[p];
      wrong += std::memcmp(at, by_mpi.data() + x.recv_offset[p], static_cast<size_t>(x.recv_bytes[p])) != 0;
    }
    compared += 2 * x.recv_total;
    // The probe's own exchange of the node peers' rows only (its layout and growth).
    std::vector<unsigned char> probe_in(by_mpi.size(), 0);
    probe.alltoallv_bytes(packed.data(), x.send_bytes.data(), x.send_offset.data(), probe_in.data(),
                          x.recv_bytes.data(), x.recv_offset.data());
    for (int p = 0; p < R; ++p)
      if (probe.on_node(p))
        wrong += std::memcmp(probe_in.data() + x.recv_offset[p], by_mpi.data() + x.recv_offset[p],
                             static_cast<size_t>(x.recv_bytes[p])) != 0;

    wrong += count_wrong(by_mpi, x, me, R, round);  // the reference itself
    for (const auto* got : {&by_shm, &rows_shm, &start_a, &start_b}) {
      wrong += count_wrong(*got, x, me, R, round);
      wrong += std::memcmp(got->data(), by_mpi.data(), static_cast<size_t>(x.recv_total)) != 0;
    }
    compared += 4 * x.recv_total;
  } catch (const Error& e) {
    fail(e);
  }
  int64_t totals[5] = {wrong, compared, probe.regrowths(), in_place_moves, read_in_place};
  mpi->allreduce_sum_int64(totals, 5);
  if (me == 0)
    std::printf("shm_transport_ranks: %d ranks, %d per node (%d node peers on rank 0), %d rounds: %lld bytes "
                "compared, window growths %lld (rank 0 window %lld bytes), receive buffer moved %lld times, "
                "%lld bytes read in place, #wrong %lld\n",
                R, rpn, node_peers, rounds, static_cast<long long>(totals[1]), static_cast<long long>(totals[2]),
                static_cast<long long>(probe.window_bytes()), static_cast<long long>(totals[3]),
                static_cast<long long>(totals[4]), static_cast<long long>(totals[0]));
  return totals[0] == 0 && totals[1] > 0 ? 0 : 1;
}

}  // namespace
}  // namespace wideep

int main(int argc, char** argv) {
  using namespace wideep;
  const MpiWorld world = mpi_init(&argc, &argv);
  set_error_rank(world.rank);
  int status = 0;
  try {
    status = run(argc, argv, world);
  } catch (const Error& e) {
    fail(e);
  }
  mpi_finalize();
  return status;
}
