// runtime/io/: what comes in and goes out (options, workloads, placement and
// count formats, metrics, JSON). Includes of runtime/ only step/layer_runner.h.
//
// Options of `wideep run` (and of `wideep sim`, which shares them): the values,
// their CLI11 binding, and validation that names the offending option. A
// RunConfig is validated before any communication; derived sizes live here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "balance/waterfill.h"
#include "runtime/io/workload.h"

namespace CLI {
class App;
}

namespace wideep {

struct BalancerSet {
  bool eplb = false;       // periodic re-placement with weight exchange
  bool lplb = false;       // per-step exact LP over copies
  // Per-step shared-expert waterfill, and how (--waterfill-mode); kWaterfillOff
  // (0) without it, so `if (waterfill)` reads as before.
  WaterfillMode waterfill = kWaterfillOff;
  std::string text = "none";
};

// Parses a comma list of none|eplb|lplb|waterfill; throws UsageError naming --balancer.
BalancerSet parse_balancers(const std::string& list);

struct RunConfig {
  std::string backend;  // mpi | nccl; empty = nccl where a GPU is visible, else mpi
  std::string dtype = "auto";  // device activations: fp32 | bf16 | auto (fp32 under --check, else bf16)
  int experts = 64;
  int topk = 8;
  int hidden = 256;
  int ffn = 512;
  int tokens = 256;  // per rank per step
  int layers = 2;
  int steps = 50;
  int warmup = 5;
  uint64_t seed = 1;
  std::string workload_text = "zipf:1.2";
  std::string balancer_text = "none";
  int shared_experts = 0;
  int redundant = 0;  // extra physical slots in total
  std::string topology;
  int gpus_per_node = 8;
  int groups = 1;
  int eplb_window = 20;
  int eplb_interval = 10;
  int eplb_layers_per_chunk = 0;  // 0: every layer's weights move in the step of the re-plan
  double eplb_min_gain = 0;       // skip a re-plan whose predicted balancedness gain is below this
  bool eplb_async = false;        // weights move in the background while steps go on
  std::string init_placement;
  bool check = false;
  int check_every = 1;  // with --check: compare every N-th step (0, N, 2N, ...) with the reference
  bool baseline = false;
  std::string json_path;
  double timeout_s = 60;
  std::vector<std::string> inject;
  bool quiet = false;
  bool phase_barrier = false;  // barrier before dispatch and combine (benchmarks)
  std::string waterfill_mode = "exact";  // exact | sglang | sglang-static (with --balancer waterfill)
  std::string dump_counts;     // run only: SGLang `stat` dump of the last --eplb-window steps' counts
  std::string dump_layer;      // run only, test-only: one checked layer's inputs and outputs (runtime/check/layer_dump.h)
  // Data path (DESIGN.md "Data path").
  std::string dispatch_dtype = "auto";  // fp32 | bf16 | fp8 | auto (the run's --dtype)
  std::string combine_dtype = "auto";   // fp32 | bf16 | auto (the run's --dtype)
  int topk_groups = 0;                  // group-limited routing: top-M of --groups groups (0: off)
  std::string dispatch_mode = "flat";   // flat | hierarchical | low-latency
  int ll_max_tokens = 0;                // low-latency: receive rows per local expert slot; 0: T x R (worst case)
  // auto | mpi | shm (host path: intra-node rows through MPI-3 shared memory).
  // `wideep run` replaces auto with what runs once the communicator exists.
  std::string transport = "auto";
  // Overlap (DESIGN.md "Overlap and asynchronous EPLB").
  std::string overlap = "none";         // none | tbo
  double tbo_split = 0.5;               // share of a layer's tokens in the first micro-batch
  // Policy, move-aware re-plans and output (runtime/io/config_report.cc binds and checks them).
  std::string eplb_policy = "auto";     // auto | deepseek | wideep (runtime/eplb/eplb_planner.h)
  double eplb_keep_within = 0.02;       // keep a layer's placement when a re-plan gains less balancedness
  int eplb_max_moves = 0;               // at most this many slots change per re-plan, all layers (0: no cap)
  bool per_rank = false;                // step lines add each rank's load and bytes
  std::string dump_placement;           // write the placement in force at the end here
  std::string dump_placement_format = "wideep";  // wideep | sglang | vllm
  std::vector<std::string> argv;        // the command line, for the summary (not an option)
  // Per-step LPLB (DESIGN.md "Host transport and defaults"); empty: the default,
  // filled by validate() (global, on: docs/studies/lplb.md says why).
  std::string lplb_scope;               // node (each node's LP over its own copies) | global
  std::string lplb_auto;                // on (skip a layer-step's LP predicted not to pay) | off

  // Filled by validate().
  int num_ranks = 0;
  int slots_per_rank = 0;  // (experts + redundant) / ranks
  WorkloadSpec workload;
  BalancerSet balancers;

  int pairs_per_token() const { return topk + shared_experts; }
  int total_steps() const { return warmup + steps; }
  // The first micro-batch's tokens under --overlap tbo (the whole step without).
  int tbo_first_tokens() const {
    if (overlap != "tbo") return tokens;
    const int a = static_cast<int>(tokens * tbo_split + 0.5);
    return a < 1 ? 1 : (a > tokens - 1 ? tokens - 1 : a);
  }
  bool lplb_node_scope() const { return lplb_scope == "node"; }
  bool lplb_automatic() const { return lplb_auto == "on"; }
  int ranks_per_node() const { return gpus_per_node < num_ranks ? gpus_per_node : num_ranks; }
};

// Binds every option of `wideep run` to `c`. for_sim: the options the
// simulator does not honour (kRunOnlyOptions) are bound but hidden from its
// help, so that `wideep sim` can reject them by name (cmd_sim.cc).
void add_run_options(CLI::App& app, RunConfig& c, bool for_sim = false);

// The options of runtime/io/config_report.cc (policy, move-aware re-plans,
// per-rank and placement output), bound by add_run_options and checked by
// validate: the same on `run` and `sim`.
void add_report_options(CLI::App& app, RunConfig& c);
void validate_report_options(const RunConfig& c);
// Options that are valid but do nothing as given (after validate): one
// sentence each, naming them. `run` and `sim` print them and list them in the summary.
std::vector<std::string> config_warnings(const RunConfig& c);
// Probes --dump-placement for writing (an input error before any communication).
void probe_dump_placement(const RunConfig& c);

// The `wideep run` options that `wideep sim` rejects (exit 2, naming them).
extern const char* const kRunOnlyOptions[];
extern const int kNumRunOnlyOptions;

// The transport of a run of cfg (validated) on `backend` with ranks_per_node()
// ranks on each machine, without communication: --transport auto is shm on the
// MPI backend where a node holds two ranks or more, else mpi (NCCL moves its
// rows itself: mpi). `wideep mem` and `wideep sim` report it; `wideep run`
// plans with it, then learns what runs from the communicator (which counts
// the ranks each machine really holds).
std::string planned_transport(const RunConfig& cfg, const std::string& backend);

// Checks shapes and names for num_ranks ranks and derives the sizes.
// Throws UsageError whose message names the option.
void validate(RunConfig& c, int num_ranks);

// Parses argv with `app` (CLI11), printing the help where asked: returns false
// then. Throws UsageError on unknown or malformed options. Every subcommand's
// parse goes through here, so bad options read alike everywhere.
bool parse_cli(CLI::App& app, int argc, char** argv);

// Parses argv into c (CLI11); throws UsageError on unknown or malformed options.
// Returns false when --help was printed.
bool parse_run_args(int argc, char** argv, RunConfig& c, const char* name);

}  // namespace wideep
