// make_pipeline: the step pipeline with its kernel backends (host or CUDA, one
// per micro-batch, forwarders for hierarchical dispatch) and expert stores,
// sized by the memory plan.
#include "runtime/step/moe_pipeline.h"

#include <memory>
#include <vector>

#include "comm/device_communicator.h"
#include "common/check.h"
#include "kernels/cuda_kernels.h"
#include "kernels/expert_cpu.h"
#include "kernels/host_kernels.h"

namespace wideep {

KernelShape kernel_shape(const RunConfig& cfg, int ranks, int rank, DType dtype, const MemoryPlan& plan) {
  KernelShape shape;
  shape.ranks = ranks;
  shape.rank = rank;
  shape.tokens = cfg.tokens;
  shape.topk = cfg.topk;
  shape.pairs = cfg.pairs_per_token();
  shape.hidden = cfg.hidden;
  shape.ffn = cfg.ffn;
  shape.slots = cfg.slots_per_rank + cfg.shared_experts;
  shape.dtype = dtype;
  shape.dispatch_dtype = dispatch_dtype(cfg, dtype);
  shape.combine_dtype = combine_dtype(cfg, dtype);
  shape.seed = cfg.seed;
  shape.timeout_s = cfg.timeout_s;
  shape.recv_rows_capacity = plan.recv_rows_capacity;
  shape.pairs_capacity = plan.pairs_capacity;
  shape.baseline = cfg.baseline;
  shape.pair_rows = cfg.dispatch_mode == "low-latency";
  return shape;
}

std::unique_ptr<LayerRunner> make_pipeline(const RunConfig& cfg, Communicator& comm,
                                           std::shared_ptr<const Workload> workload, std::vector<Fault> faults,
                                           std::vector<Placement> initial, DType dtype, const MemoryPlan& plan) {
  const KernelShape shape = kernel_shape(cfg, comm.size(), comm.rank(), dtype, plan);
  const bool hier = cfg.dispatch_mode == "hierarchical";
  const int S = cfg.slots_per_rank, shared = cfg.shared_experts;
  // One backend per micro-batch (--overlap tbo: two, of tbo_first_tokens()
  // and the rest), each with the plan's receive capacity.
  std::vector<KernelShape> shapes(cfg.overlap == "tbo" ? 2 : 1, shape);
  if (shapes.size() == 2) {
    shapes[0].tokens = cfg.tbo_first_tokens();
    shapes[1].tokens = cfg.tokens - shapes[0].tokens;
  }
  // Hierarchical: stage 2 forwards up to T tokens from each node (forwarder_shape).
  std::vector<KernelShape> fwd_shapes;
  if (hier)
    for (const KernelShape& s : shapes) fwd_shapes.push_back(forwarder_shape(s, cfg, plan));
  std::vector<std::unique_ptr<KernelBackend>> kernels, forwarders;
  std::unique_ptr<ExpertStore> store, spare;
  if (auto* dc = dynamic_cast<DeviceCommunicator*>(&comm)) {
    for (const KernelShape& s : shapes) kernels.push_back(make_cuda_kernels(s, dc->stream(), shapes.size() == 2));
    for (size_t i = 0; i < fwd_shapes.size(); ++i) forwarders.push_back(make_cuda_forwarder(fwd_shapes[i], *kernels[i]));
    store = make_device_expert_store(cfg.layers, S, shared, cfg.hidden, cfg.ffn, cfg.seed, dtype, dc->stream(),
                                     cfg.timeout_s);
    // Staging of an EPLB exchange: fp32 only (GEMMs never read it).
    if (cfg.balancers.eplb)
      spare = make_device_expert_store(cfg.layers, S, shared, cfg.hidden, cfg.ffn, cfg.seed, DType::kF32,
                                       dc->stream(), cfg.timeout_s);
  } else {
    cpu_kernels_init();
    // --transport shm: the exchanged buffers in the node's shared windows.
    for (const KernelShape& s : shapes) kernels.push_back(std::make_unique<HostKernels>(s, comm.exchange_memory()));
    for (const KernelShape& s : fwd_shapes)
      forwarders.push_back(std::make_unique<HostKernels>(s, comm.exchange_memory()));
    store = std::make_unique<HostExpertStore>(cfg.layers, S, shared, cfg.hidden, cfg.ffn, cfg.seed, dtype);
    if (cfg.balancers.eplb)
      spare = std::make_unique<HostExpertStore>(cfg.layers, S, shared, cfg.hidden, cfg.ffn, cfg.seed, DType::kF32);
  }
  return std::make_unique<MoePipeline>(cfg, comm, std::move(workload), std::move(faults), std::move(initial),
                                       std::move(kernels), std::move(store), std::move(spare), std::move(forwarders));
}

KernelShape forwarder_shape(const KernelShape& stage1, const RunConfig& cfg, const MemoryPlan& plan) {
  KernelShape f = stage1;
  f.forwarder = true;
  f.tokens = stage1.tokens * (stage1.ranks / cfg.ranks_per_node());
  f.recv_rows_capacity = plan.fwd_recv_rows_capacity;
  f.pairs_capacity = plan.fwd_pairs_capacity;
  return f;
}

}  // namespace wideep
