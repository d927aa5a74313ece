// Validation of `wideep run` options: every bad value is a UsageError that
// names its option; good values derive the slot count.
#include "runtime/io/config.h"

#include <gtest/gtest.h>

#include "common/check.h"

namespace wideep {
namespace {

void expect_rejected(RunConfig c, int ranks, const std::string& option) {
  try {
    validate(c, ranks);
    ADD_FAILURE() << "accepted; expected an error naming " << option;
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(option), std::string::npos) << e.what();
  }
}

TEST(Config, DefaultsValidateAndDeriveSlots) {
  RunConfig c;
  c.redundant = 8;
  validate(c, 4);
  EXPECT_EQ(c.slots_per_rank, 18);
  EXPECT_EQ(c.workload.kind, WorkloadSpec::Kind::kZipf);
  EXPECT_FALSE(c.balancers.lplb);
}

// Only the physical slots must divide among the ranks (issue 27): the anchors'
// deployments and shapes whose experts do not divide.
TEST(Config, AcceptsAnyRankCountWhoseSlotsDivide) {
  struct Case { int ranks, experts, redundant, slots_per_rank; };
  for (const Case& k : {Case{8, 12, 4, 2}, Case{6, 16, 2, 3}, Case{4, 2, 2, 1}, Case{4, 4, 0, 1},
                        Case{72, 256, 32, 4}, Case{144, 256, 32, 2}, Case{320, 256, 64, 1}}) {
    RunConfig c;
    c.experts = k.experts;
    c.redundant = k.redundant;
    c.topk = 2;
    validate(c, k.ranks);
    EXPECT_EQ(c.slots_per_rank, k.slots_per_rank) << k.ranks << " ranks, " << k.experts << " + " << k.redundant;
  }
  RunConfig c;
  c.experts = 12;
  c.redundant = 3;  // 15 slots on 8 ranks
  expect_rejected(c, 8, "--experts 12 + --redundant 3 = 15 physical slots do not divide among 8 ranks");
  c.experts = 4;
  c.redundant = 0;  // fewer slots than ranks
  c.topk = 2;
  expect_rejected(c, 8, "4 physical slots are fewer than the 8 ranks");
}

TEST(Config, RejectsEachBadValueNamingTheOption) {
  RunConfig c;
  c.experts = 63;
  expect_rejected(c, 4, "--experts");
  c = RunConfig{};
  c.topk = 65;
  expect_rejected(c, 4, "--topk");
  for (int bad : {0, -3}) {
    c = RunConfig{};
    c.hidden = bad;
    expect_rejected(c, 4, "--hidden");
    c = RunConfig{};
    c.tokens = bad;
    expect_rejected(c, 4, "--tokens");
    c = RunConfig{};
    c.layers = bad;
    expect_rejected(c, 4, "--layers");
    c = RunConfig{};
    c.ffn = bad;
    expect_rejected(c, 4, "--ffn");
  }
  c = RunConfig{};
  c.workload_text = "pareto:2";
  expect_rejected(c, 4, "--workload");
  c = RunConfig{};
  c.balancer_text = "eplb,magic";
  expect_rejected(c, 4, "--balancer");
  c = RunConfig{};
  c.balancer_text = "none,eplb";
  expect_rejected(c, 4, "--balancer");
  c = RunConfig{};
  c.redundant = 6;
  expect_rejected(c, 4, "--redundant");
  c = RunConfig{};
  c.balancer_text = "waterfill";
  expect_rejected(c, 4, "--shared-experts");
  c = RunConfig{};
  c.backend = "gloo";
  expect_rejected(c, 4, "--backend");
  c = RunConfig{};
  c.topology = "ring";
  expect_rejected(c, 4, "--topology");
  c = RunConfig{};
  c.gpus_per_node = 3;
  expect_rejected(c, 8, "--gpus-per-node");
  c = RunConfig{};
  c.timeout_s = 0;
  expect_rejected(c, 4, "--timeout-s");
}

TEST(Config, ParsesCommandLineAndRejectsUnknownOptions) {
  RunConfig c;
  const char* argv[] = {"run", "--experts", "16", "--balancer", "eplb,lplb", "--check"};
  ASSERT_TRUE(parse_run_args(6, const_cast<char**>(argv), c, "run"));
  EXPECT_EQ(c.experts, 16);
  EXPECT_TRUE(c.check);
  RunConfig d;
  const char* bad[] = {"run", "--expertz", "16"};
  EXPECT_THROW(parse_run_args(3, const_cast<char**>(bad), d, "run"), UsageError);
  const char* nan[] = {"run", "--experts", "many"};
  EXPECT_THROW(parse_run_args(3, const_cast<char**>(nan), d, "run"), UsageError);
}

// --transport auto is the default (issue 24): shared memory where a node holds
// two ranks or more on the MPI backend, else MPI; with --backend nccl it is
// what NCCL uses (mpi), not an error; mpi and shm stay as given.
TEST(Config, TransportAutoIsTheDefaultAndResolvesByNodeSize) {
  RunConfig c;
  EXPECT_EQ(c.transport, "auto");
  validate(c, 4);  // --gpus-per-node 8: one node of 4 ranks
  EXPECT_EQ(planned_transport(c, "mpi"), "shm");
  EXPECT_EQ(planned_transport(c, "nccl"), "mpi");
  c = RunConfig{};
  validate(c, 1);  // a node of one rank: nothing to share
  EXPECT_EQ(planned_transport(c, "mpi"), "mpi");
  c = RunConfig{};
  c.gpus_per_node = 1;  // 4 nodes of one rank
  validate(c, 4);
  EXPECT_EQ(planned_transport(c, "mpi"), "mpi");
  c = RunConfig{};
  c.gpus_per_node = 2;  // 2 nodes of 2
  validate(c, 4);
  EXPECT_EQ(planned_transport(c, "mpi"), "shm");
  for (const char* given : {"mpi", "shm"}) {
    c = RunConfig{};
    c.transport = given;
    validate(c, 4);
    EXPECT_EQ(planned_transport(c, "mpi"), given);
  }
  c = RunConfig{};
  c.backend = "nccl";
  EXPECT_NO_THROW(validate(c, 4));  // auto with nccl: no error
  c.transport = "shm";
  expect_rejected(c, 4, "--transport shm");
  c = RunConfig{};
  c.transport = "tcp";
  expect_rejected(c, 4, "unknown transport (auto, mpi, shm)");
}

}  // namespace
}  // namespace wideep
