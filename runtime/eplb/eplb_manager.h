// runtime/eplb/: EPLB's re-placement during a run (the plan from a window of
// loads, the weight moves between ranks). Includes io/, check/, step/.
//
// The EPLB manager of `wideep run`: keeps a window of per-step per-layer
// expert counts, and every --eplb-interval steps computes a new placement on
// every rank identically (after an allreduce of the window), moves the expert
// weights that changed rank by batched point-to-point transfers following
// balance/'s move plan, and verifies every moved layer's checksums. With
// --eplb-layers-per-chunk N the moves are spread over steps, N layers at each
// step boundary (a layer switches placement once its weights arrived and
// passed their checksums; the others serve with the old one); with
// --eplb-min-gain a re-plan predicted to gain less balancedness is skipped.
// With --eplb-async the moves go in the background into the staging store
// (the old slots keep serving), in waves of about kAsyncWaveBytesPerRank per
// rank, one wave per step boundary, each wave's slots checksummed as it
// arrives, so that no step carries the whole exchange; a chunk's layers
// switch, by swapping the staged slots in (no copy), at the first step
// boundary where every rank's part of it has arrived and passed; a re-plan
// that comes due meanwhile is dropped (the next one comes an interval later).
// maybe_rebalance() is collective: every rank calls it after every step.
#pragma once

#include <cstdint>
#include <vector>

#include "balance/move_plan.h"
#include "balance/topology.h"
#include "comm/communicator.h"
#include "runtime/io/config.h"
#include "runtime/check/inject.h"
#include "runtime/io/metrics.h"
#include "runtime/step/layer_runner.h"
#include "runtime/step/scratch_buffer.h"

namespace wideep {

class EplbManager {
 public:
  EplbManager(const RunConfig& cfg, Communicator& comm, LayerRunner& runner,
              const std::vector<Fault>& faults, const Topology* topology);

  // This step's local counts of one layer ([E]).
  void record(int step, int layer, const std::vector<int64_t>& local_counts);

  // After step `step`: re-plans when due and moves the weights due at this
  // step boundary; returns true and fills rec when a re-plan completed (its
  // last chunk moved) or was skipped.
  bool maybe_rebalance(int step, RebalanceRecord* rec);

  // At the end of the run: waits for background transfers still in flight
  // (their peers drain theirs too; bounded by the timeout). Not collective.
  void drain();

 private:
  // One set of weight moves of this rank: the plan, its transfers, and the
  // slots received or copied into the staging store, copied in at the end.
  struct Moves {
    MovePlan plan;
    std::vector<P2PTransfer> sends, recvs;
    std::vector<std::pair<int, int>> staged;  // (layer, local slot)
    std::vector<char> is_source;              // [L * S]: new content goes to staging
    // --eplb-async: transfer i of the plan goes in wave i / per_wave (the same
    // on every rank, so both ends of a transfer post it in the same wave).
    std::vector<int> send_wave, recv_wave;    // per entry of sends, recvs
    std::vector<std::pair<int, int>> recv_slot;  // per entry of recvs: (layer, local slot)
    int waves = 1, wave = -1;                 // waves in all; the one posted (-1: none yet)
    bool wave_checked = false;                // the posted wave arrived and passed its checksums
    // --inject hold-wave: the posted wave is held back from the communicator
    // until the end of step boundary held_until; its transfers meanwhile.
    bool held = false;
    int held_until = 0;
    std::vector<P2PTransfer> held_sends, held_recvs;
  };
  Moves post_moves(const std::vector<Placement>& old_p, const std::vector<Placement>& new_p, bool stage_all);
  ExpertStore& target(const Moves& mv, int layer, int slot);
  void finish_moves(Moves& mv);              // local copies, staged copy-in, the weight fault
  void account(const Moves& mv, RebalanceRecord* rec);  // collective: sent bytes summed
  void move_weights(const std::vector<Placement>& old_p, const std::vector<Placement>& new_p,
                    RebalanceRecord* rec);
  void start_async_chunk();
  void post_wave(Moves& mv);                 // the next wave, in the background
  void release_held(Moves& mv, bool now);    // a held wave, at its boundary (or now)
  // Checksums of received (or copied) staged slot (layer, slot) against the
  // expert the staged placement puts there.
  void verify_staged(int layer, int slot);
  bool async_step(int step);  // collective; true when the re-plan completed
  // Checksums of every slot of layers [first, end) whose expert changed from old_p to p.
  void verify(const std::vector<Placement>& old_p, const std::vector<Placement>& p, int first_layer, int end_layer);
  void move_chunk(int step);
  int chunk_layers() const { return cfg_.eplb_layers_per_chunk > 0 ? cfg_.eplb_layers_per_chunk : L_; }
  double raw_exchange_us(const std::vector<P2PTransfer>& sends, const std::vector<P2PTransfer>& recvs);

  const RunConfig& cfg_;
  Communicator& comm_;
  LayerRunner& runner_;
  const std::vector<Fault>& faults_;
  const Topology* topology_;
  int L_, E_;
  std::vector<int64_t> window_;    // [window][L][E] ring of local counts
  std::vector<uint64_t> expected_; // [L][E] checksum of each expert's weights
  std::vector<Placement> pending_; // the re-plan being moved, chunk by chunk
  int next_layer_;                 // its first layer not yet moved (L_: none in progress)
  RebalanceRecord rec_;            // the re-plan's record, summed over its chunks
  std::vector<Placement> staged_;  // --eplb-async: the placement once the chunk in flight switches
  int async_end_ = 0;              // its layers end here
  Moves async_;                    // its moves
  ScratchBuffer baseline_send_, baseline_recv_;  // --baseline: raw_exchange_us's buffers
  int boundary_ = -1;              // the step boundary being handled (maybe_rebalance's step)
};

}  // namespace wideep
