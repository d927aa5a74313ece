// Tests of --inject parsing (runtime/check/inject.h): every kind with its arguments,
// the optional part of corrupt-weights and the byte it flips, nan, hold-wave,
// and the messages of malformed specs.
#include "runtime/check/inject.h"

#include <gtest/gtest.h>

#include "common/check.h"

namespace wideep {
namespace {

Fault one(const std::string& spec, int ranks = 4) {
  const std::vector<Fault> f = parse_faults({spec}, ranks);
  EXPECT_EQ(f.size(), 1u);
  return f.at(0);
}

std::string error_of(const std::string& spec) {
  try {
    parse_faults({spec}, 4);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Inject, KindsRanksAndSteps) {
  const Fault d = one("drop:1:2");
  EXPECT_EQ(d.kind, Fault::Kind::kDrop);
  EXPECT_EQ(d.rank, 1);
  EXPECT_EQ(d.step, 2);
  EXPECT_EQ(one("dup:3:0").kind, Fault::Kind::kDup);
  EXPECT_EQ(one("misroute:0:5").kind, Fault::Kind::kMisroute);
  EXPECT_EQ(one("corrupt:2:7").step, 7);
  const Fault s = one("slow:2:1500");
  EXPECT_EQ(s.kind, Fault::Kind::kSlow);
  EXPECT_EQ(s.slow_us, 1500);
  EXPECT_EQ(s.step, -1);  // every step
  EXPECT_EQ(one("die:0:3").kind, Fault::Kind::kDie);
  EXPECT_EQ(one("hang:3:1").kind, Fault::Kind::kHang);
}

TEST(Inject, NanFault) {
  const Fault n = one("nan:2:3");
  EXPECT_EQ(n.kind, Fault::Kind::kNan);
  EXPECT_EQ(n.rank, 2);
  EXPECT_EQ(n.step, 3);
  const std::vector<Fault> all = parse_faults({"corrupt:1:2", "nan:2:3"}, 4);
  EXPECT_NE(find_fault(all, Fault::Kind::kNan, 2, 3), nullptr);
  EXPECT_EQ(find_fault(all, Fault::Kind::kNan, 2, 2), nullptr);  // not before its step
  EXPECT_EQ(find_fault(all, Fault::Kind::kNan, 2, 4), nullptr);  // nor after it
  EXPECT_NE(find_fault(all, Fault::Kind::kNan, 2, -1), nullptr);  // -1: any step
  EXPECT_EQ(find_fault(all, Fault::Kind::kNan, 1, 3), nullptr);
  EXPECT_NE(error_of("nan:1").find("expected nan:RANK:STEP"), std::string::npos) << error_of("nan:1");
  EXPECT_NE(error_of("nan:4:1").find("rank 4 does not exist"), std::string::npos);
}

// corrupt-weights flips byte 7 of W1 by default, the last byte of the slot
// (the end of W2) with :w2; the fault applies at every rebalance (step -1).
TEST(Inject, CorruptWeightsPart) {
  const Fault w = one("corrupt-weights:2");
  EXPECT_EQ(w.kind, Fault::Kind::kCorruptWeights);
  EXPECT_EQ(w.rank, 2);
  EXPECT_EQ(w.step, -1);
  EXPECT_EQ(w.part, Fault::WeightPart::kW1);
  EXPECT_EQ(one("corrupt-weights:2:w1").part, Fault::WeightPart::kW1);
  const Fault w2 = one("corrupt-weights:1:w2");
  EXPECT_EQ(w2.part, Fault::WeightPart::kW2);
  EXPECT_EQ(w2.rank, 1);
  EXPECT_EQ(w2.step, -1);
  EXPECT_EQ(corrupt_weights_byte(w, 4096), 7u);
  EXPECT_EQ(corrupt_weights_byte(w2, 4096), 4095u);
  EXPECT_GE(corrupt_weights_byte(w2, 4096), 2048u);  // inside W2, the second half of the slot
  EXPECT_NE(error_of("corrupt-weights:1:2").find("expected corrupt-weights:RANK"), std::string::npos);
  EXPECT_NE(error_of("corrupt-weights:1:w3").find("w1|w2"), std::string::npos);
  EXPECT_NE(error_of("corrupt-weights:1:w2:5").find("expected corrupt-weights:RANK"), std::string::npos);
}

// hold-wave:RANK:STEPS holds every background wave of RANK (step -1) for
// STEPS >= 1 step boundaries.
TEST(Inject, HoldWave) {
  const Fault h = one("hold-wave:3:2");
  EXPECT_EQ(h.kind, Fault::Kind::kHoldWave);
  EXPECT_EQ(h.rank, 3);
  EXPECT_EQ(h.hold_steps, 2);
  EXPECT_EQ(h.step, -1);
  EXPECT_NE(find_fault({h}, Fault::Kind::kHoldWave, 3, -1), nullptr);
  EXPECT_EQ(find_fault({h}, Fault::Kind::kHoldWave, 2, -1), nullptr);
  EXPECT_NE(error_of("hold-wave:1").find("expected hold-wave:RANK:STEPS"), std::string::npos) << error_of("hold-wave:1");
  EXPECT_NE(error_of("hold-wave:1:0").find("STEPS must be in [1, 1000000]"), std::string::npos);
  EXPECT_NE(error_of("hold-wave:1:x").find("'x' is not a whole number"), std::string::npos);
  EXPECT_NE(error_of("hold-wave:4:1").find("rank 4 does not exist"), std::string::npos);
  EXPECT_NE(error_of("bogus:1:2").find("hold-wave"), std::string::npos);  // listed among the kinds
  check_fault_context({h}, /*eplb_async=*/true, "mpi");
  EXPECT_THROW(check_fault_context({h}, false, "mpi"), UsageError);
  EXPECT_THROW(check_fault_context({h}, true, "nccl"), UsageError);
  check_fault_context(parse_faults({"slow:1:5"}, 4), false, "nccl");  // the others need no context
}

TEST(Inject, MalformedSpecs) {
  EXPECT_NE(error_of("bogus:1:2").find("unknown fault"), std::string::npos);
  EXPECT_NE(error_of("bogus:1:2").find("nan"), std::string::npos);  // the list names every kind
  EXPECT_NE(error_of("drop:x:1").find("'x' is not a whole number"), std::string::npos);
  EXPECT_NE(error_of("die:-1:2").find("is not a whole number"), std::string::npos);
  EXPECT_NE(error_of("drop:9:1").find("rank 9 does not exist"), std::string::npos);
  EXPECT_NE(error_of("slow:1").find("expected slow:RANK:US"), std::string::npos);
}

}  // namespace
}  // namespace wideep
