// libFuzzer target of the `wideep run` option parser and validator: the input
// is split into argv words (at spaces, newlines and NULs), parsed by
// parse_run_args and checked by validate() and the option parsers that
// prepare() calls before any communication. Only a UsageError may come out.
#include <cstdint>
#include <string>
#include <vector>

#include "common/check.h"
#include "fuzz/fuzz_input.h"
#include "runtime/io/config.h"
#include "runtime/check/inject.h"
#include "runtime/io/placement_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  wideep::fuzz::Bytes in(data, size);
  const int ranks = in.take(64);
  std::vector<std::string> words{"run"};
  std::string cur;
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = static_cast<char>(in.data()[i]);
    if (c == ' ' || c == '\n' || c == '\0') {
      if (!cur.empty()) words.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) words.push_back(cur);
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  wideep::RunConfig cfg;
  try {
    if (!wideep::parse_run_args(static_cast<int>(words.size()), argv.data(), cfg, "run")) return 0;
    // Files are the other targets' business: skip what would open one.
    if (cfg.workload_text.rfind("trace:", 0) == 0 || !cfg.init_placement.empty() ||
        cfg.topology.rfind("file:", 0) == 0 || !cfg.json_path.empty())
      return 0;
    wideep::validate(cfg, ranks);
    wideep::parse_faults(cfg.inject, ranks);
    auto topo = wideep::load_topology(cfg, ranks);
    wideep::initial_placement(cfg, topo.get());
  } catch (const wideep::UsageError&) {
  }
  return 0;
}
