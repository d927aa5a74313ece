// CLI11 binding and validation of the `wideep run` options.
#include "runtime/io/config.h"

#include <CLI/CLI.hpp>
#include <sstream>

#include "common/check.h"

namespace wideep {

BalancerSet parse_balancers(const std::string& list) {
  BalancerSet b;
  b.text = list;
  std::istringstream in(list);
  std::string name;
  int none = 0, parts = 0;
  while (std::getline(in, name, ',')) {
    ++parts;
    if (name == "none") ++none;
    else if (name == "eplb") b.eplb = true;
    else if (name == "lplb") b.lplb = true;
    else if (name == "waterfill") b.waterfill = kWaterfillExact;
    else
      throw UsageError("--balancer '" + list + "': unknown balancer '" + name +
                       "' (none, eplb, lplb, waterfill, or a comma list of them)");
  }
  if (parts == 0) throw UsageError("--balancer: empty list");
  if (none && parts > 1) throw UsageError("--balancer '" + list + "': 'none' cannot be combined");
  return b;
}

const char* const kRunOnlyOptions[] = {"--backend", "--dtype", "--check", "--check-every", "--baseline",
                                       "--inject", "--timeout-s", "--phase-barrier", "--dump-counts", "--dump-layer",
                                       "--transport"};
const int kNumRunOnlyOptions = sizeof(kRunOnlyOptions) / sizeof(kRunOnlyOptions[0]);

void add_run_options(CLI::App& app, RunConfig& c, bool for_sim) {
  // A repeated option takes its last value, as scripts that append overrides expect.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  // Options the simulator does not honour go to a hidden group under `wideep sim`.
  const std::string run_only = for_sim ? "" : "Options";
  app.add_option("--backend", c.backend, "mpi | nccl (default: nccl where a GPU is visible, else mpi)")->group(run_only);
  app.add_option("--dtype", c.dtype,
                 "wire and compute dtype: fp32 | bf16 | auto (fp32 on the host, bf16 on the device); "
                 "bf16 on the host runs the device configuration on the CPU")
      ->capture_default_str()
      ->group(run_only);
  app.add_option("--experts", c.experts, "logical experts per layer")->capture_default_str();
  app.add_option("--topk", c.topk, "experts per token")->capture_default_str();
  app.add_option("--hidden", c.hidden, "hidden size H")->capture_default_str();
  app.add_option("--ffn", c.ffn, "expert FFN size F")->capture_default_str();
  app.add_option("--tokens", c.tokens, "tokens per rank per step")->capture_default_str();
  app.add_option("--layers", c.layers, "MoE layers")->capture_default_str();
  app.add_option("--steps", c.steps, "measured steps")->capture_default_str();
  app.add_option("--warmup", c.warmup, "unmeasured steps first")->capture_default_str();
  app.add_option("--seed", c.seed, "seed of routing, activations and weights")->capture_default_str();
  app.add_option("--workload", c.workload_text,
                 "uniform | zipf:S | hot:FRAC | drift:S:PERIOD | noise:SIGMA | trace:FILE")->capture_default_str();
  app.add_option("--balancer", c.balancer_text, "comma list of none | eplb | lplb | waterfill")->capture_default_str();
  app.add_option("--shared-experts", c.shared_experts, "shared experts every token uses")->capture_default_str();
  app.add_option("--redundant", c.redundant, "extra physical slots in total (experts + redundant divide among the ranks)")
      ->capture_default_str();
  app.add_option("--topology", c.topology, "LPLB copy layout: ring | cube | hypercube | torus:MxN | full | file:PATH");
  app.add_option("--gpus-per-node", c.gpus_per_node, "ranks per node")->capture_default_str();
  app.add_option("--groups", c.groups, "expert groups (EPLB hierarchy)")->capture_default_str();
  app.add_option("--eplb-window", c.eplb_window, "steps of counts EPLB plans from")->capture_default_str();
  app.add_option("--eplb-interval", c.eplb_interval, "steps between EPLB re-placements")->capture_default_str();
  app.add_option("--init-placement", c.init_placement, "first placement: `wideep plan --json` output");
  app.add_flag("--check", c.check, "compare every step with the local reference")->group(run_only);
  app.add_option("--check-every", c.check_every, "with --check: compare every N-th step only (soak runs)")
      ->capture_default_str()
      ->group(run_only);
  app.add_flag("--baseline", c.baseline,
               "also time a raw all-to-allv of the same bytes; implies --phase-barrier, so that "
               "dispatch+combine time the exchange and not the wait for the slowest rank")
      ->group(run_only);
  app.add_option("--json", c.json_path, "write JSON lines here");
  app.add_option("--timeout-s", c.timeout_s, "longest wait before the run ends with a message")
      ->capture_default_str()
      ->group(run_only);
  app.add_option("--inject", c.inject, "fault injection KIND:... (tests; see docs/reliability.md)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->group(run_only);
  app.add_flag("--quiet", c.quiet, "no table on stdout");
  app.add_flag("--phase-barrier", c.phase_barrier,
               "barrier before dispatch and combine, timed apart as 'wait', so that the two "
               "phases time the exchange and not the wait for the slowest rank")
      ->group(run_only);
  app.add_option("--waterfill-mode", c.waterfill_mode,
                 "with --balancer waterfill: exact (integer quotas to the water level) | sglang "
                 "(SGLang's per-token slack-proportional draw, global loads) | sglang-static (the same "
                 "from this rank's own counts)")
      ->capture_default_str();
  app.add_option("--eplb-layers-per-chunk", c.eplb_layers_per_chunk,
                 "after an EPLB re-plan, move the weights of N layers per step (SGLang's chunked moves); "
                 "the layers not yet moved serve with their old placement (0: all layers at once)")
      ->capture_default_str();
  app.add_flag("--eplb-async", c.eplb_async,
               "after an EPLB re-plan, move the weights in the background while steps go on "
               "(--eplb-layers-per-chunk layers at a time); a layer switches to its new placement "
               "at the first step boundary after its weights arrived and passed their checksums, on "
               "every rank alike");
  app.add_option("--eplb-min-gain", c.eplb_min_gain,
                 "skip an EPLB re-plan whose predicted balancedness gain over the placement in force, "
                 "on the same window of counts, is below this (0: never skip)")
      ->capture_default_str();
  app.add_option("--dump-counts", c.dump_counts,
                 "write the global per-step logical expert counts of the last --eplb-window measured "
                 "steps as an SGLang `stat` dump in JSON (logical_count [steps, layers, experts])")
      ->group(run_only);
  app.add_option("--dump-layer", c.dump_layer,
                 "with --check, test-only: write layer 0 of the first checked step (rank 0's tokens) as JSON: "
                 "x, top-k ids, gate weights, reference output and output (launch/torch_moe_ref.py)")
      ->group(run_only);
  // The sim has no --dtype (a run option): its `auto` is the host path's fp32
  // (runtime/sim/sim_modes.cc, wire_sizes).
  const std::string auto_dtype = for_sim ? "auto (fp32: the sim has no --dtype; give the dtype to simulate a device run)"
                                         : "auto (the run's --dtype)";
  app.add_option("--dispatch-dtype", c.dispatch_dtype,
                 "dtype of dispatched rows on the wire: fp32 | bf16 | fp8 (e4m3, one fp32 scale per 128 "
                 "channels, as DeepEP) | " + auto_dtype)
      ->capture_default_str();
  app.add_option("--combine-dtype", c.combine_dtype,
                 "dtype of combined rows on the wire: fp32 | bf16 | " + auto_dtype)
      ->capture_default_str();
  app.add_option("--topk-groups", c.topk_groups,
                 "group-limited routing: each token picks its top-M of --groups expert groups, then its "
                 "top-k experts inside them (DeepSeek-V3: --groups 8 --topk-groups 4); 0: off; trace: ignores it")
      ->capture_default_str();
  app.add_option("--dispatch-mode", c.dispatch_mode,
                 "flat (one all-to-allv) | hierarchical (one copy per destination node, forwarded inside "
                 "the node; combine reduces inside the node first) | low-latency (no counts round; one row "
                 "per (token, expert) into fixed per-expert buffers)")
      ->capture_default_str();
  app.add_option("--ll-max-tokens", c.ll_max_tokens,
                 "low-latency: receive capacity in rows per local expert slot, from all ranks; overflow is "
                 "an error naming the expert (0: --tokens x ranks, the worst case)")
      ->capture_default_str();
  app.add_option("--transport", c.transport,
                 "host path: auto (shm between ranks of one node, MPI across nodes; mpi where every node holds "
                 "one rank or with --backend nccl) | mpi | shm (intra-node rows written once into the receiver's "
                 "buffer through MPI-3 shared memory; inter-node rows stay on MPI)")
      ->capture_default_str()
      ->group(run_only);
  app.add_option("--overlap", c.overlap,
                 "none | tbo (two micro-batches: one's dispatch/combine in flight while the other's "
                 "experts run)")
      ->capture_default_str();
  app.add_option("--tbo-split", c.tbo_split, "with --overlap tbo: share of the tokens in the first micro-batch")
      ->capture_default_str();
  add_report_options(app, c);
  app.add_option("--lplb-scope", c.lplb_scope,
                 "with lplb: global (default: one LP over every copy and the global counts; on one node, the "
                 "node's) | node (each node solves its own LP over its own copies from its own counts; tokens "
                 "of experts with no copy on their node keep the fixed rule)");
  app.add_option("--lplb-auto", c.lplb_auto,
                 "with lplb: on (default: skip a layer-step's LP where the step-time model predicts a gain "
                 "below its cost; counted as lplb_skipped) | off");
}

namespace {
void positive(int v, const char* opt) {
  if (v <= 0) throw UsageError(std::string(opt) + " must be positive (got " + std::to_string(v) + ")");
}
void non_negative(int v, const char* opt) {
  if (v < 0) throw UsageError(std::string(opt) + " must be >= 0 (got " + std::to_string(v) + ")");
}

// --lplb-scope, --lplb-auto: only with lplb; empty takes the default.
void validate_lplb(RunConfig& c) {
  if (!c.balancers.lplb && (!c.lplb_scope.empty() || !c.lplb_auto.empty()))
    throw UsageError(std::string(c.lplb_scope.empty() ? "--lplb-auto" : "--lplb-scope") +
                     " shapes LPLB's per-step solve: it needs --balancer with lplb");
  if (c.lplb_scope.empty()) c.lplb_scope = "global";
  if (c.lplb_auto.empty()) c.lplb_auto = "on";
  if (c.lplb_scope != "node" && c.lplb_scope != "global")
    throw UsageError("--lplb-scope '" + c.lplb_scope + "': unknown scope (node, global)");
  if (c.lplb_auto != "on" && c.lplb_auto != "off")
    throw UsageError("--lplb-auto '" + c.lplb_auto + "': unknown value (on, off)");
}

// The options of DESIGN.md "Data path" and "Overlap" (after the shapes and --groups).
void validate_data_path(const RunConfig& c) {
  if (c.dispatch_dtype != "auto" && c.dispatch_dtype != "fp32" && c.dispatch_dtype != "bf16" &&
      c.dispatch_dtype != "fp8")
    throw UsageError("--dispatch-dtype '" + c.dispatch_dtype + "': unknown dtype (auto, fp32, bf16, fp8)");
  if (c.combine_dtype == "fp8")
    throw UsageError("--combine-dtype fp8: combined rows are sums of weighted expert outputs and go back "
                     "as fp32 or bf16 (DeepEP combines in BF16)");
  if (c.combine_dtype != "auto" && c.combine_dtype != "fp32" && c.combine_dtype != "bf16")
    throw UsageError("--combine-dtype '" + c.combine_dtype + "': unknown dtype (auto, fp32, bf16)");
  if (c.dispatch_dtype == "fp8" && c.hidden % 128 != 0)
    throw UsageError("--dispatch-dtype fp8 scales each 128 channels: --hidden " + std::to_string(c.hidden) +
                     " is not a multiple of 128");
  if (c.topk_groups < 0) throw UsageError("--topk-groups must be >= 0");
  if (c.topk_groups > 0) {
    if (c.topk_groups > c.groups)
      throw UsageError("--topk-groups " + std::to_string(c.topk_groups) + " exceeds --groups " +
                       std::to_string(c.groups));
    const int64_t reachable = static_cast<int64_t>(c.topk_groups) * (c.experts / c.groups);
    if (c.topk > reachable)
      throw UsageError("--topk " + std::to_string(c.topk) + " exceeds the " + std::to_string(reachable) +
                       " experts of --topk-groups " + std::to_string(c.topk_groups) + " groups of " +
                       std::to_string(c.experts / c.groups));
  }
  if (c.dispatch_mode != "flat" && c.dispatch_mode != "hierarchical" && c.dispatch_mode != "low-latency")
    throw UsageError("--dispatch-mode '" + c.dispatch_mode + "': unknown mode (flat, hierarchical, low-latency)");
  if (c.ll_max_tokens < 0) throw UsageError("--ll-max-tokens must be >= 0");
  if (c.ll_max_tokens > 0 && c.dispatch_mode != "low-latency")
    throw UsageError("--ll-max-tokens sizes the low-latency buffers: it needs --dispatch-mode low-latency");
  if (c.transport != "auto" && c.transport != "mpi" && c.transport != "shm")
    throw UsageError("--transport '" + c.transport + "': unknown transport (auto, mpi, shm)");
  if (c.transport == "shm" && c.backend == "nccl")
    throw UsageError("--transport shm moves host rows through MPI-3 shared memory: it needs --backend mpi");
  if (c.overlap != "none" && c.overlap != "tbo")
    throw UsageError("--overlap '" + c.overlap + "': unknown overlap (none, tbo)");
  if (!(c.tbo_split > 0 && c.tbo_split < 1)) throw UsageError("--tbo-split must be in (0, 1)");
  if (c.tbo_split != 0.5 && c.overlap != "tbo")
    throw UsageError("--tbo-split splits the tokens into micro-batches: it needs --overlap tbo");
  if (c.overlap == "tbo" && c.tokens < 2) throw UsageError("--overlap tbo splits the tokens: it needs --tokens >= 2");
  if (c.overlap == "tbo" && c.phase_barrier)
    throw UsageError("--overlap tbo runs one micro-batch's exchange while the other computes: --phase-barrier "
                     "(and --baseline, which implies it) would separate the phases it overlaps");
}
}  // namespace

void validate(RunConfig& c, int num_ranks) {
  if (!c.backend.empty() && c.backend != "mpi" && c.backend != "nccl")
    throw UsageError("--backend '" + c.backend + "': unknown backend (mpi, nccl)");
  if (c.dtype != "auto" && c.dtype != "fp32" && c.dtype != "bf16")
    throw UsageError("--dtype '" + c.dtype + "': unknown dtype (auto, fp32, bf16)");
  positive(c.experts, "--experts");
  positive(c.topk, "--topk");
  positive(c.hidden, "--hidden");
  positive(c.ffn, "--ffn");
  positive(c.tokens, "--tokens");
  positive(c.layers, "--layers");
  positive(c.steps, "--steps");
  non_negative(c.warmup, "--warmup");
  non_negative(c.shared_experts, "--shared-experts");
  non_negative(c.redundant, "--redundant");
  positive(c.gpus_per_node, "--gpus-per-node");
  positive(c.groups, "--groups");
  positive(c.eplb_window, "--eplb-window");
  positive(c.eplb_interval, "--eplb-interval");
  positive(c.check_every, "--check-every");
  if (!(c.timeout_s > 0)) throw UsageError("--timeout-s must be positive");
  // The baseline compares the exchange with a raw all-to-allv of the same bytes:
  // without the barrier, dispatch and combine would include the wait for the
  // slowest rank's previous phase and the ratio would not compare like with like.
  if (c.baseline) c.phase_barrier = true;
  if (c.topk > c.experts)
    throw UsageError("--topk " + std::to_string(c.topk) + " exceeds --experts " + std::to_string(c.experts));
  if (c.experts > 1 << 20) throw UsageError("--experts is larger than 2^20");
  // Bounds found by the bad-input sweep of docs/reliability.md (and fuzz/config_fuzz: the
  // int overflow of --experts + --redundant): beyond them a run died later of bad_alloc.
  if (c.redundant > 1 << 20) throw UsageError("--redundant is larger than 2^20");
  if (c.layers > 4096) throw UsageError("--layers is larger than 4096");
  if (c.eplb_window > 1000000) throw UsageError("--eplb-window is larger than 10^6");
  if (static_cast<int64_t>(c.hidden) * c.ffn > (1ll << 28)) throw UsageError("--hidden x --ffn is larger than 2^28");
  if (static_cast<int64_t>(c.tokens) * c.hidden > (1ll << 28)) throw UsageError("--tokens x --hidden is larger than 2^28");
  // The counts round carries a peer's pairs in 32 bits (runtime/step/exchange_plan.h).
  if (static_cast<int64_t>(c.tokens) * (c.topk + c.shared_experts) > (1ll << 30))
    throw UsageError("--tokens x (--topk + --shared-experts) is larger than 2^30");
  if (c.steps > 10000000 || c.warmup > 10000000) throw UsageError("--steps/--warmup larger than 10^7");
  if (c.shared_experts > 16) throw UsageError("--shared-experts larger than 16");
  c.num_ranks = num_ranks;
  // SGLang's and DeepSeek's rule: only the physical slots must divide among the
  // ranks (256 + 32 on 72 GPUs, 256 + 64 on 320); every rank holds at least one.
  const int64_t slots = static_cast<int64_t>(c.experts) + c.redundant;
  if (slots % num_ranks != 0 || slots < num_ranks)
    throw UsageError("--experts " + std::to_string(c.experts) + " + --redundant " + std::to_string(c.redundant) +
                     " = " + std::to_string(slots) + " physical slots " +
                     (slots < num_ranks ? "are fewer than the " : "do not divide among ") +
                     std::to_string(num_ranks) + " ranks");
  c.slots_per_rank = (c.experts + c.redundant) / num_ranks;
  {
    // The buffers and weights of a run are checked against the node's memory
    // by `wideep run` (runtime/step/memory_plan.h); this bound keeps the window's
    // size arithmetic (and `wideep sim`, which holds no weights) sane.
    const double gib = 1024.0 * 1024 * 1024;
    const double window_gib = 1.0 * c.eplb_window * c.layers * c.experts * sizeof(int64_t) / gib;
    if (window_gib > 16)
      throw UsageError("--eplb-window x --layers x --experts: the EPLB window would take " +
                       std::to_string(static_cast<long long>(window_gib)) + " GiB (limit 16 GiB)");
  }
  if (c.gpus_per_node < num_ranks && num_ranks % c.gpus_per_node != 0)
    // Refused, not a partly filled last node: DeepSeek's hierarchical EPLB, the
    // weight-move plan and node-scoped LPLB take nodes of equal size.
    throw UsageError("--gpus-per-node " + std::to_string(c.gpus_per_node) + " does not divide " +
                     std::to_string(num_ranks) + " ranks into whole nodes (node-level plans need nodes of "
                     "equal size: use a rank count that is a multiple of it, or one that divides the ranks)");
  if (c.groups > c.experts || c.experts % c.groups != 0)
    throw UsageError("--groups " + std::to_string(c.groups) + " does not divide --experts " + std::to_string(c.experts));
  c.workload = parse_workload(c.workload_text);
  if (c.workload.kind == WorkloadSpec::Kind::kHot && c.experts < 2)
    throw UsageError("--workload hot:FRAC needs at least 2 experts");
  c.balancers = parse_balancers(c.balancer_text);
  if (c.waterfill_mode == "sglang") {
    if (c.balancers.waterfill) c.balancers.waterfill = kWaterfillSglang;
  } else if (c.waterfill_mode == "sglang-static") {
    if (c.balancers.waterfill) c.balancers.waterfill = kWaterfillSglangStatic;
  } else if (c.waterfill_mode != "exact") {
    throw UsageError("--waterfill-mode '" + c.waterfill_mode + "': unknown mode (exact, sglang, sglang-static)");
  }
  if (c.waterfill_mode != "exact" && !c.balancers.waterfill)
    throw UsageError("--waterfill-mode " + c.waterfill_mode + " chooses how waterfill moves shared-expert work: "
                     "it needs --balancer with waterfill");
  if (c.balancers.waterfill && c.shared_experts == 0)
    throw UsageError("--balancer waterfill moves shared-expert work: it needs --shared-experts >= 1");
  if (!c.topology.empty() && !c.balancers.lplb)
    throw UsageError("--topology lays out LPLB copies: it needs --balancer with lplb");
  if (c.eplb_layers_per_chunk < 0) throw UsageError("--eplb-layers-per-chunk must be >= 0");
  if (!(c.eplb_min_gain >= 0 && c.eplb_min_gain <= 1)) throw UsageError("--eplb-min-gain must be in [0, 1]");
  if ((c.eplb_layers_per_chunk > 0 || c.eplb_min_gain > 0 || c.eplb_async) && !c.balancers.eplb)
    throw UsageError("--eplb-layers-per-chunk, --eplb-min-gain and --eplb-async shape EPLB's re-plans: "
                     "they need --balancer with eplb");
  validate_data_path(c);
  validate_report_options(c);
  validate_lplb(c);
  if (c.eplb_layers_per_chunk > 0 && !c.eplb_async) {
    // A re-plan waits for none: the previous one's chunks must be done by the next.
    // (Asynchronous moves take as many steps as they take: a re-plan due meanwhile waits.)
    const int steps = (c.layers + c.eplb_layers_per_chunk - 1) / c.eplb_layers_per_chunk;
    if (c.eplb_interval < steps)
      throw UsageError("--eplb-layers-per-chunk " + std::to_string(c.eplb_layers_per_chunk) + " moves " +
                       std::to_string(c.layers) + " layers in " + std::to_string(steps) +
                       " steps: --eplb-interval must be at least that");
  }
}

std::string planned_transport(const RunConfig& cfg, const std::string& backend) {
  if (cfg.transport != "auto") return cfg.transport;
  return backend == "mpi" && cfg.ranks_per_node() >= 2 ? "shm" : "mpi";
}

bool parse_cli(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return false;
  } catch (const CLI::ParseError& e) {
    throw UsageError(e.what());
  }
  return true;
}

bool parse_run_args(int argc, char** argv, RunConfig& c, const char* name) {
  CLI::App app{std::string("wideep ") + name};
  app.name(std::string("wideep ") + name);
  add_run_options(app, c);
  return parse_cli(app, argc, argv);
}

}  // namespace wideep
