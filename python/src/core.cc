// wideep._core: thin nanobind wrappers over balance/ (EPLB, the exact LP,
// placement tables) and runtime/io/plan_json (the plan's JSON forms). The Python
// layer (python/wideep/) checks types and shapes; here every C++ exception
// becomes a Python one, so no input can abort the interpreter.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "balance/eplb.h"
#include "balance/lp.h"
#include "balance/placement.h"
#include "common/check.h"
#include "runtime/io/plan_json.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace wideep {
namespace {

using F64Mat = nb::ndarray<const double, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using I64Mat = nb::ndarray<const int64_t, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using I64Vec = nb::ndarray<const int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
template <size_t N>
using OutI64 = nb::ndarray<nb::numpy, int64_t, nb::ndim<N>>;

// A fresh int64 numpy array that owns its buffer.
template <size_t N>
OutI64<N> new_array(int64_t** data, std::initializer_list<size_t> shape) {
  size_t n = 1;
  for (size_t s : shape) n *= s;
  int64_t* buf = new int64_t[n == 0 ? 1 : n];
  nb::capsule owner(buf, [](void* p) noexcept { delete[] static_cast<int64_t*>(p); });
  *data = buf;
  return OutI64<N>(buf, shape, owner);
}

// The C++ messages name the CLI's options; Python users know the arguments.
std::string python_names(std::string msg) {
  static const std::pair<const char*, const char*> names[] = {
      {"--loads", "weight"},     {"--replicas", "num_replicas"}, {"--groups", "num_groups"},
      {"--nodes", "num_nodes"},  {"--gpus", "num_gpus"},         {"--policy", "policy"}};
  for (const auto& [from, to] : names) {
    for (size_t at = msg.find(from); at != std::string::npos; at = msg.find(from, at))
      msg.replace(at, std::string(from).size(), to);
  }
  return msg;
}

// phy2log [L, P] int64 -> one Placement per layer (ids checked before the
// narrowing to int, so 2^32 cannot alias expert 0).
std::vector<Placement> placements(const int64_t* phy2log, size_t L, size_t P, int num_gpus, int num_logical,
                                  bool lp) {
  if (num_gpus <= 0) throw UsageError("num_gpus must be positive");
  if (num_logical <= 0) throw UsageError("num_logical must be positive");
  if (L == 0 || P == 0) throw UsageError("phy2log is empty");
  std::vector<Placement> out;
  std::vector<int> row(P);
  for (size_t l = 0; l < L; ++l) {
    for (size_t s = 0; s < P; ++s) {
      const int64_t e = phy2log[l * P + s];
      if (e < 0 || e >= num_logical)
        throw UsageError("phy2log: layer " + std::to_string(l) + " slot " + std::to_string(s) + " names expert " +
                         std::to_string(e) + ", outside [0, " + std::to_string(num_logical) + ")");
      row[s] = static_cast<int>(e);
    }
    const std::string what = "phy2log: layer " + std::to_string(l);
    out.push_back(lp ? lp_placement(num_gpus, num_logical, row, what)
                     : Placement::from_phy2log(num_gpus, num_logical, row, what));
  }
  return out;
}

// (phy2log [L, P], log2phy [L, E, width] -1 padded, logcnt [L, E]) as int64.
nb::tuple tables(const std::vector<Placement>& ps, int width) {
  const size_t L = ps.size(), P = ps[0].num_slots(), E = ps[0].num_logical;
  int64_t *p2l, *l2p, *cnt;
  auto a = new_array<2>(&p2l, {L, P});
  auto b = new_array<3>(&l2p, {L, E, static_cast<size_t>(width)});
  auto c = new_array<2>(&cnt, {L, E});
  for (size_t l = 0; l < L; ++l) {
    const Placement& p = ps[l];
    for (size_t s = 0; s < P; ++s) p2l[l * P + s] = p.phy2log[s];
    for (size_t e = 0; e < E; ++e) {
      cnt[l * E + e] = p.logcnt[e];
      int64_t* row = l2p + (l * E + e) * width;
      const int* copies = p.copies(static_cast<int>(e));
      for (int k = 0; k < width; ++k) row[k] = k < p.logcnt[e] ? copies[k] : -1;
    }
  }
  return nb::make_tuple(a, b, c);
}

nb::tuple rebalance(const F64Mat& weight, int num_replicas, int num_groups, int num_nodes, int num_gpus,
                    const std::string& policy) {
  EplbInput in;
  in.num_layers = static_cast<int>(weight.shape(0));
  in.num_logical = static_cast<int>(weight.shape(1));
  in.weight.assign(weight.data(), weight.data() + weight.size());
  in.num_replicas = num_replicas;
  in.num_groups = num_groups;
  in.num_nodes = num_nodes;
  in.num_gpus = num_gpus;
  const EplbPolicy pol = parse_eplb_policy(policy, "policy");
  std::vector<Placement> ps;
  {
    nb::gil_scoped_release unlocked;
    ps = rebalance_experts(in, pol);
  }
  // DeepSeek's and vLLM's width: num_redundant + 1, the most copies one expert can have.
  return tables(ps, num_replicas - in.num_logical + 1);
}

nb::tuple placement_tables(const I64Mat& phy2log, int num_gpus, int num_logical, int width) {
  const std::vector<Placement> ps =
      placements(phy2log.data(), phy2log.shape(0), phy2log.shape(1), num_gpus, num_logical, false);
  if (width <= 0) {
    for (const Placement& p : ps) width = std::max(width, p.max_copies);
  }
  return tables(ps, width);
}

std::string plan_json_text(const I64Mat& phy2log, int num_gpus, int num_logical, std::optional<F64Mat> weight,
                           const std::string& format, const std::string& policy, int num_nodes, int num_groups) {
  const std::vector<Placement> ps =
      placements(phy2log.data(), phy2log.shape(0), phy2log.shape(1), num_gpus, num_logical, false);
  if (format == "sglang" || format == "vllm") return placement_json(ps, format).dump();
  if (format != "wideep") throw UsageError("format '" + format + "': unknown format (wideep, sglang, vllm)");
  if (!weight || weight->shape(0) != ps.size() || weight->shape(1) != static_cast<size_t>(num_logical))
    throw UsageError("weight: needs shape [layers, experts] = [" + std::to_string(ps.size()) + ", " +
                     std::to_string(num_logical) + "] for the wideep format");
  return plan_json(ps, PlanMeta{policy, num_gpus, num_nodes, num_groups}, weight->data()).dump();
}

nb::tuple lp_solve(const I64Vec& phy2log, int num_ranks, const I64Vec& counts, std::optional<I64Mat> rank_counts,
                   int ranks_per_node) {
  const int E = static_cast<int>(counts.shape(0));
  if (E == 0) throw UsageError("counts is empty");
  const Placement p = placements(phy2log.data(), 1, phy2log.shape(0), num_ranks, E, true)[0];
  if (rank_counts && (rank_counts->shape(0) != static_cast<size_t>(num_ranks) ||
                      rank_counts->shape(1) != static_cast<size_t>(E)))
    throw UsageError("rank_counts: needs shape [num_ranks, experts] = [" + std::to_string(num_ranks) + ", " +
                     std::to_string(E) + "]");
  LpInput in;
  in.placement = &p;
  in.counts = counts.data();
  in.rank_counts = rank_counts ? rank_counts->data() : nullptr;
  in.ranks_per_node = ranks_per_node;
  LpSolver solver;
  LpResult res;
  double solve_us;
  {
    nb::gil_scoped_release unlocked;
    const auto t0 = std::chrono::steady_clock::now();
    try {
      solver.solve(in, &res);
    } catch (const UsageError& e) {  // its messages name experts, not arguments
      throw UsageError(std::string("counts (for phy2log): ") + e.what());
    }
    solve_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  }
  int64_t *tok, *load;
  auto a = new_array<1>(&tok, {res.copy_tokens.size()});
  auto b = new_array<1>(&load, {res.rank_loads.size()});
  std::copy(res.copy_tokens.begin(), res.copy_tokens.end(), tok);
  std::copy(res.rank_loads.begin(), res.rank_loads.end(), load);
  return nb::make_tuple(a, b, res.max_load, res.lp_opt, solve_us, res.components);
}

// For the tests: raises what each kind of C++ failure becomes in Python.
void raise_cpp(const std::string& kind) {
  if (kind == "usage") throw UsageError("--replicas 3 is not a multiple of --gpus 2");
  if (kind == "assert") WIDEEP_ASSERT(kind.empty(), "an internal invariant (test)");
  if (kind == "bad_alloc") throw std::bad_alloc();
  throw std::runtime_error("a plain C++ exception (test)");
}

}  // namespace
}  // namespace wideep

NB_MODULE(_core, m) {
  using namespace wideep;
  m.doc() = "wideep's compiled core; use the functions of the wideep package";
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const UsageError& e) {
      PyErr_SetString(PyExc_ValueError, python_names(e.what()).c_str());
    } catch (const Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());  // names the category, file and line
    }
  });
  m.def("rebalance", &rebalance, "weight"_a, "num_replicas"_a, "num_groups"_a, "num_nodes"_a, "num_gpus"_a,
        "policy"_a);
  m.def("placement_tables", &placement_tables, "phy2log"_a, "num_gpus"_a, "num_logical"_a, "width"_a);
  m.def("plan_json", &plan_json_text, "phy2log"_a, "num_gpus"_a, "num_logical"_a, "weight"_a.none(), "format"_a,
        "policy"_a, "num_nodes"_a, "num_groups"_a);
  m.def("lp_solve", &lp_solve, "phy2log"_a, "num_ranks"_a, "counts"_a, "rank_counts"_a.none(),
        "ranks_per_node"_a);
  m.def("raise_cpp", &raise_cpp, "kind"_a);
}
