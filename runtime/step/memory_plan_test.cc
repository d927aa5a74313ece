// The memory plan: receive capacity between the balanced expectation and the
// worst case, the DeepSeek-V3 shape on 64 GPUs under 16 GiB per rank, and a
// plan larger than the memory at hand refused naming its largest buffers.
#include "runtime/step/memory_plan.h"

#include <gtest/gtest.h>

#include "common/check.h"
#include "kernels/host_kernels.h"
#include "runtime/step/moe_pipeline.h"

namespace wideep {
namespace {

RunConfig deepseek_v3(int ranks) {
  RunConfig c;
  c.hidden = 7168;
  c.ffn = 2048;
  c.experts = 256;
  c.redundant = 64;
  c.topk = 8;
  c.tokens = 4096;
  c.balancer_text = "eplb,lplb";
  validate(c, ranks);
  return c;
}

TEST(MemoryPlan, ReceiveCapacityIsBalancedTimesHeadroomCappedByWorstCase) {
  EXPECT_EQ(planned_recv_rows(64, 4096, 8), 4096 * 8 * 5 / 4);
  EXPECT_EQ(planned_pairs(64, 4096, 8), 4096 * 8 * 5 / 4);
  EXPECT_EQ(planned_recv_rows(1, 100, 8), 100);      // one rank receives its own tokens at most
  EXPECT_EQ(planned_recv_rows(2, 100, 8), 200);      // R*T is the worst case
  EXPECT_EQ(planned_pairs(2, 100, 8), 1000);
}

TEST(MemoryPlan, DeepSeekV3On64RanksFitsIn16GiB) {
  const RunConfig c = deepseek_v3(64);
  const MemoryPlan p = plan_memory(c, 64, /*device=*/true, DType::kBF16);
  EXPECT_LT(p.device_bytes(), 16ll << 30);
  EXPECT_GT(p.device_bytes(), 4ll << 30);  // the weights alone: 5 slots x 2 layers x (fp32 + bf16 + staging)
  // The worst-case sizing this replaced: R*T*P grouped pairs of H bf16 values.
  EXPECT_GT(64ll * 4096 * 8 * 7168 * 2, 16ll << 30);
  EXPECT_EQ(p.pipeline_bytes(true), p.device_bytes());
}

TEST(MemoryPlan, RefusesWhatDoesNotFitNamingTheLargestBuffers) {
  const RunConfig c = deepseek_v3(64);
  const MemoryPlan p = plan_memory(c, 64, true, DType::kBF16);
  EXPECT_NO_THROW(check_plan_fits(p, true, 1, 80ll << 30));
  EXPECT_NO_THROW(check_plan_fits(p, true, 1, -1));  // unknown: not checked
  try {
    check_plan_fits(p, true, 2, 8ll << 30);
    FAIL() << "a 2 x 6 GiB plan fitted in 8 GiB";
  } catch (const UsageError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("device memory"), std::string::npos) << m;
    EXPECT_NE(m.find("largest buffers: expert weights"), std::string::npos) << m;
  }
}

TEST(MemoryPlan, HostPlanHasNoDeviceBytes) {
  RunConfig c;
  validate(c, 4);
  const MemoryPlan p = plan_memory(c, 4, false, DType::kF32);
  EXPECT_EQ(p.device_bytes(), 0);
  EXPECT_GT(p.host_bytes(), 0);
  EXPECT_GT(host_memory_available(), 0);
}

// The plan follows the wire dtypes (--dispatch-dtype, --combine-dtype): the
// receive rows are wire_row(H, P, dispatch) each, the combine rows
// return_row_bytes(H, combine), and what the plan adds or saves against the
// fp32 wire is what the host backend allocates more or less (fp8 with fp32
// compute adds the tokens' wire form, the tails shrink).
TEST(MemoryPlan, RowsFollowTheWireDtypes) {
  RunConfig c;
  c.hidden = 256;
  c.tokens = 64;
  validate(c, 4);
  auto buffer = [](const MemoryPlan& p, const std::string& prefix) {
    for (const PlannedBuffer& b : p.buffers)
      if (b.name.rfind(prefix, 0) == 0) return b.bytes;
    ADD_FAILURE() << "no buffer " << prefix;
    return int64_t{0};
  };
  auto backend_bytes = [&](const MemoryPlan& p, DType dd, DType cd) {
    KernelShape s = kernel_shape(c, 4, 0, DType::kF32, p);
    s.dispatch_dtype = dd;
    s.combine_dtype = cd;
    HostKernels k(s);
    int64_t host = 0, device = 0;
    k.allocated_bytes(&host, &device);
    return host;
  };
  c.dispatch_dtype = c.combine_dtype = "fp32";
  const MemoryPlan base = plan_memory(c, 4, false, DType::kF32);
  const int64_t base_backend = backend_bytes(base, DType::kF32, DType::kF32);
  for (DType dd : {DType::kF32, DType::kBF16, DType::kFP8})
    for (DType cd : {DType::kF32, DType::kBF16}) {
      c.dispatch_dtype = dtype_name(dd);
      c.combine_dtype = dtype_name(cd);
      const MemoryPlan p = plan_memory(c, 4, false, DType::kF32);
      const int64_t rb = static_cast<int64_t>(wire_row(c.hidden, c.pairs_per_token(), dd).row_bytes);
      const int64_t cb = static_cast<int64_t>(return_row_bytes(c.hidden, cd));
      EXPECT_EQ(buffer(p, "receive rows"), p.recv_rows_capacity * rb);
      EXPECT_EQ(buffer(p, "expert rows"), p.recv_rows_capacity * cb);
      EXPECT_EQ(buffer(p, "returned rows"), p.max_send_rows * cb);
      // The backend's difference, plus the pipeline's own copy of one send row (fault injection).
      const int64_t rb32 = static_cast<int64_t>(wire_row(c.hidden, c.pairs_per_token(), DType::kF32).row_bytes);
      EXPECT_EQ(p.host_bytes() - base.host_bytes(), backend_bytes(p, dd, cd) - base_backend + (rb - rb32))
          << dtype_name(dd) << " " << dtype_name(cd);
      if (dd == DType::kFP8) {
        EXPECT_LT(p.host_bytes(), base.host_bytes());  // the rows shrink 4x
      }
    }
}

// --check's reference holds 4 experts' weights and one layer's scratch, worked
// out by hand for the 8-rank run of issue 24 (E 64 + 16 redundant, L 4,
// H 1024, F 2048, T 32, top-8): 4 x 2 x 1024 x 2048 x 4 = 67,108,864 bytes of
// weights (every expert of every layer was 4 x 64 x 16 MiB = 4 GiB) and
// 32 x (4 x 1024 + 2048) x 4 + 32 x 8 x 8 + 32 x 8 = 788,736 bytes of inputs,
// outputs and routing. A model of 2 experts and 1 layer fills 2 slots; fp32
// compute with bf16 combine rows adds the [T x H] doubles of the allowance.
TEST(MemoryPlan, CheckReferenceHoldsAFewExperts) {
  RunConfig c;
  c.balancer_text = "eplb";
  c.redundant = 16;
  c.layers = 4;
  c.hidden = 1024;
  c.ffn = 2048;
  c.tokens = 32;
  validate(c, 8);
  auto buffer = [](const MemoryPlan& p, const std::string& prefix) {
    for (const PlannedBuffer& b : p.buffers)
      if (b.name.rfind(prefix, 0) == 0) return b.bytes;
    return int64_t{-1};
  };
  const MemoryPlan without = plan_memory(c, 8, false, DType::kF32);
  EXPECT_EQ(buffer(without, "--check reference"), -1);
  c.check = true;
  const MemoryPlan with = plan_memory(c, 8, false, DType::kF32);
  EXPECT_EQ(buffer(with, "--check reference: weight cache"), 67108864);
  EXPECT_EQ(buffer(with, "--check reference: one layer's"), 788736);
  EXPECT_EQ(with.host_bytes() - without.host_bytes(), 67108864 + 788736);
  EXPECT_EQ(with.pipeline_bytes(false), without.pipeline_bytes(false));  // the run does not report it as its own

  RunConfig small;
  small.experts = 2;
  small.topk = 1;
  small.layers = 1;
  small.hidden = 16;
  small.ffn = 32;
  small.tokens = 4;
  small.check = true;
  small.combine_dtype = "bf16";
  validate(small, 1);
  const MemoryPlan s = plan_memory(small, 1, false, DType::kF32);
  EXPECT_EQ(buffer(s, "--check reference: weight cache"), 2 * 2 * 16 * 32 * 4);
  EXPECT_EQ(buffer(s, "--check reference: one layer's"), 4 * (4 * 16 + 32) * 4 + 4 * 1 * 8 + 4 * 8 + 4 * 16 * 8);
}

}  // namespace
}  // namespace wideep
