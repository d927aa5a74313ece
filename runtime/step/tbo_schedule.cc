// Two-batch overlap (--overlap tbo, SGLang's TBO): MoePipeline's schedule of
// two micro-batches, one's exchange in flight while the other's experts run.
// The one-batch schedule is run_layer in moe_pipeline.cc.
#include "runtime/step/moe_pipeline.h"

#include "common/check.h"

namespace wideep {

// Two-batch overlap (SGLang's TBO): micro-batch B's dispatch is in flight
// while A's experts run, and A's combine while B's experts run. Each phase of
// each micro-batch is timed from its start to its end (boundaries 2p, 2p+1 of
// its backend's clock); an exchange ends when it is first seen complete.
void MoePipeline::run_layer_tbo(int step, int layer, LayerStats* st) {
  Batch& A = batches_[0];
  Batch& B = batches_[1];
  // Device: the layer's stale mirrors refreshed before its first exchange, so that
  // each batch's wait for its dispatch covers them (and not the other's combine).
  if (A.kernels->device_memory())
    for (int s = 0; s < S_; ++s) store_->w1(layer, s);
  CommContext ctx{step, layer, "route"};
  auto begin = [&](Batch& b, int p) {
    ctx.phase = phase_name(p);
    comm_.set_context(ctx);
    b.kernels->mark(2 * p);
  };
  auto end = [&](Batch& b, int p) { b.kernels->mark(2 * p + 1); };
  for (Batch* b : {&A, &B}) {
    if (b == &B) {
      begin(A, kDispatch);
      dispatch_start(A, st);
    }
    begin(*b, kRoute);
    route(*b, step, layer);
    end(*b, kRoute);
    progress(A, 2 * kDispatch + 1);
    begin(*b, kBalance);
    balance(*b, layer, st);
    end(*b, kBalance);
    progress(A, 2 * kDispatch + 1);
    begin(*b, kLayout);
    layout(*b, step, layer, st);
    end(*b, kLayout);
  }
  dispatch_wait(A, st);
  begin(B, kDispatch);
  dispatch_start(B, st);
  begin(A, kExpert);
  expert(A, layer, st, &B);
  end(A, kExpert);
  begin(A, kCombine);
  combine_start(A, st);
  dispatch_wait(B, st);
  begin(B, kExpert);
  expert(B, layer, st, &A);
  end(B, kExpert);
  combine_wait(A);
  begin(B, kCombine);
  combine_start(B, st);
  combine_wait(B);
  for (Batch* b : {&A, &B}) {
    b->kernels->before_exchange();  // the communicator's stream (EPLB moves) after this layer's GEMMs
    b->kernels->finish("combine");
    for (int p = 0; p < kNumPhases; ++p)
      st->phase_ns[p] += std::max<int64_t>(0, b->kernels->elapsed_ns(2 * p, 2 * p + 1) - b->grown_ns[p]);
  }
}

}  // namespace wideep
