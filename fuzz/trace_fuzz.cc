// libFuzzer target of the trace parser (--workload trace:FILE): load_trace on
// arbitrary bytes, then routing from the accepted trace. The only allowed
// failure is a UsageError; anything else (crash, other exception) is a finding.
#include <cstdint>
#include <memory>
#include <vector>

#include "common/check.h"
#include "fuzz/fuzz_input.h"
#include "runtime/io/workload.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  wideep::fuzz::Bytes in(data, size);
  const int experts = in.take(32), topk = in.take(8), layers = in.take(3), steps = in.take(4);
  const std::string path = wideep::fuzz::write_scratch("trace", in.data(), in.size());
  try {
    auto trace = std::make_shared<wideep::Trace>(wideep::load_trace(path, experts, topk, layers, steps));
    wideep::WorkloadSpec spec = wideep::parse_workload("trace:" + path);
    wideep::Workload w(spec, experts, topk, layers, 1, trace);
    const int tokens = 8;
    std::vector<int32_t> ids(tokens * topk);
    std::vector<float> weights(tokens * topk);
    std::vector<double> pop;
    for (int s = 0; s < steps; ++s)
      for (int l = 0; l < layers; ++l) {
        w.route(s, l, 0, tokens, ids.data(), weights.data());
        w.popularity(s, l, &pop);
        for (int32_t e : ids)
          if (e < 0 || e >= experts) __builtin_trap();  // an accepted trace routed out of range
      }
  } catch (const wideep::UsageError&) {
  }
  return 0;
}
