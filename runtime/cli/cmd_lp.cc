// wideep lp: offline per-step LPLB solve. Reads a placement (phy2log) and the
// global counts from JSON, validates them (bad input: UsageError, exit 2),
// solves the exact LP `--repeat` times and prints the result (JSON or text).
// With --perturb FRAC the repeats are consecutive instances (each count moved
// by up to +-FRAC of itself from the previous one), so that the warm start from
// one solve to the next is timed against cold solves of the same instances.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "balance/lp.h"
#include "common/check.h"
#include "runtime/cli/commands.h"
#include "runtime/io/config.h"
#include "runtime/io/json_file.h"

namespace wideep {
namespace {

struct LpFile {
  int ranks = 0;
  std::vector<int> phy2log;
  std::vector<int64_t> counts;
  std::vector<int64_t> rank_counts;  // [R * E] or empty
};

[[noreturn]] void bad_input(const std::string& why) { throw UsageError("--input FILE: " + why); }

template <typename T>
std::vector<T> int_array(const nlohmann::json& j, const char* field) {
  if (!j.is_array()) bad_input(std::string("\"") + field + "\" must be an array of integers");
  std::vector<T> out;
  out.reserve(j.size());
  for (const auto& v : j) {
    if (!v.is_number_integer()) bad_input(std::string("\"") + field + "\" must hold integers only");
    out.push_back(v.get<T>());
  }
  return out;
}

LpFile read_lp_file(const std::string& path) {
  // The one FILE of this command: its messages name it as the option does.
  const nlohmann::json j = read_json_file(path, "--input FILE");
  if (!j.is_object()) bad_input("expected a JSON object with ranks, phy2log, counts");
  for (const char* f : {"ranks", "phy2log", "counts"})
    if (!j.contains(f)) bad_input(std::string("missing field \"") + f + "\"");
  LpFile f;
  if (!j["ranks"].is_number_integer() || j["ranks"].get<int64_t>() <= 0 || j["ranks"].get<int64_t>() > 1 << 20)
    bad_input("\"ranks\" must be a positive integer");
  f.ranks = j["ranks"].get<int>();
  f.phy2log = int_array<int>(j["phy2log"], "phy2log");
  f.counts = int_array<int64_t>(j["counts"], "counts");
  for (size_t e = 0; e < f.counts.size(); ++e)
    if (f.counts[e] < 0) bad_input("counts[" + std::to_string(e) + "] is negative");
  if (j.contains("rank_counts")) {
    const auto& rc = j["rank_counts"];
    if (!rc.is_array() || static_cast<int>(rc.size()) != f.ranks)
      bad_input("\"rank_counts\" must have one row per rank (" + std::to_string(f.ranks) + ")");
    std::vector<int64_t> col(f.counts.size(), 0);
    for (const auto& row_json : rc) {
      const auto row = int_array<int64_t>(row_json, "rank_counts");
      if (row.size() != f.counts.size())
        bad_input("every \"rank_counts\" row needs " + std::to_string(f.counts.size()) + " entries");
      for (size_t e = 0; e < row.size(); ++e) {
        if (row[e] < 0) bad_input("\"rank_counts\" has a negative entry");
        col[e] += row[e];
      }
      f.rank_counts.insert(f.rank_counts.end(), row.begin(), row.end());
    }
    if (col != f.counts) bad_input("\"rank_counts\" columns do not sum to \"counts\"");
  }
  return f;
}

// The next consecutive instance: every (rank, expert) count (or expert count
// without rank_counts) moves by a uniform fraction in [-frac, frac] of itself;
// counts stay >= 0 and zero stays zero (an expert without copy keeps 0 tokens).
void perturb(LpFile& f, double frac, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(-frac, frac);
  auto move = [&](int64_t c) { return std::max<int64_t>(0, c + std::llround(static_cast<double>(c) * u(rng))); };
  if (f.rank_counts.empty()) {
    for (auto& c : f.counts) c = move(c);
    return;
  }
  const size_t E = f.counts.size();
  std::fill(f.counts.begin(), f.counts.end(), 0);
  for (size_t i = 0; i < f.rank_counts.size(); ++i) {
    f.rank_counts[i] = move(f.rank_counts[i]);
    f.counts[i % E] += f.rank_counts[i];
  }
}

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

void print_text(const LpResult& res, const Placement& p, double solve_us) {
  std::printf("ranks %d  slots %d  experts %d\n", p.num_ranks, p.num_slots(), p.num_logical);
  std::printf("lp_opt %.6f  max_load %lld  solve_us %.2f (median)\n", res.lp_opt,
              static_cast<long long>(res.max_load), solve_us);
  std::printf("%6s %10s  copy_tokens by slot\n", "rank", "load");
  for (int r = 0; r < p.num_ranks; ++r) {
    std::printf("%6d %10lld ", r, static_cast<long long>(res.rank_loads[r]));
    for (int s = r * p.slots_per_rank; s < (r + 1) * p.slots_per_rank; ++s)
      std::printf(" e%d:%lld", p.phy2log[s], static_cast<long long>(res.copy_tokens[s]));
    std::printf("\n");
  }
}

}  // namespace

int lp_main(int argc, char** argv) {
  CLI::App app{"wideep lp: exact per-step LPLB solve for a placement and counts"};
  app.name("wideep lp");
  std::string input;
  bool json = false;
  int repeat = 1;
  double perturb_frac = 0;
  int ranks_per_node = 0;
  app.add_option("--input", input, "JSON {ranks, phy2log, counts[, rank_counts]}")->required();
  app.add_flag("--json", json, "print one JSON object");
  app.add_option("--repeat", repeat, "solves to time (the median is reported)")->check(CLI::Range(1, 1000000));
  app.add_option("--perturb", perturb_frac,
                 "repeats are consecutive instances: each count moves by up to +-FRAC of itself (0: the same instance)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--ranks-per-node", ranks_per_node, "ranks per node for the locality objective")
      ->check(CLI::Range(0, 1 << 20));
  if (!parse_cli(app, argc, argv)) return 0;
  LpFile f = read_lp_file(input);
  const int num_logical = static_cast<int>(f.counts.size());
  if (num_logical == 0) bad_input("\"counts\" is empty");
  if (f.phy2log.empty() || f.phy2log.size() % static_cast<size_t>(f.ranks) != 0)
    bad_input(std::to_string(f.phy2log.size()) + " phy2log slots do not divide among " +
              std::to_string(f.ranks) + " ranks");
  for (size_t s = 0; s < f.phy2log.size(); ++s)
    if (f.phy2log[s] >= num_logical)
      bad_input("phy2log[" + std::to_string(s) + "] names expert " + std::to_string(f.phy2log[s]) +
                " but \"counts\" has " + std::to_string(num_logical) + " entries (one per expert)");
  const Placement p = lp_placement(f.ranks, num_logical, f.phy2log, "--input FILE: phy2log");
  for (int e = 0; e < num_logical; ++e)
    if (f.counts[e] > 0 && p.logcnt[e] == 0)
      bad_input("expert " + std::to_string(e) + " has " + std::to_string(f.counts[e]) +
                " tokens but no copy in phy2log");

  // Warm: one solver over the repeats (each solve starts from the previous
  // one's critical sets). Cold: the same instances, warm start forgotten.
  LpSolver solver, cold;
  LpResult res, cold_res;
  std::vector<double> times_us(repeat), cold_us(repeat);
  std::mt19937_64 rng(1);
  for (int i = 0; i < repeat; ++i) {
    if (i > 0 && perturb_frac > 0) perturb(f, perturb_frac, rng);
    const LpInput in{&p, f.counts.data(), f.rank_counts.empty() ? nullptr : f.rank_counts.data(), nullptr,
                     ranks_per_node};
    auto timed = [&](LpSolver& s, LpResult* r) {
      const auto t0 = std::chrono::steady_clock::now();
      s.solve(in, r);
      return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    };
    if (perturb_frac <= 0) {
      times_us[i] = timed(solver, &res);
      continue;
    }
    // Alternate which goes first, so that neither profits from the other's caches.
    cold.clear_warm_start();
    if (i % 2) cold_us[i] = timed(cold, &cold_res);
    times_us[i] = timed(solver, &res);
    if (i % 2 == 0) cold_us[i] = timed(cold, &cold_res);
    WIDEEP_ASSERT(cold_res.copy_tokens == res.copy_tokens, "lp: warm and cold solves differ");
  }
  const double solve_us = median(times_us);
  const LpStats& st = solver.stats();
  const double kept = st.warm_tried > 0 ? static_cast<double>(st.warm_kept) / st.warm_tried : 0.0;
  if (!json) {
    print_text(res, p, solve_us);
    if (perturb_frac > 0)
      std::printf("consecutive instances (--perturb %g): warm median %.2f us, cold median %.2f us, warm start kept %.0f %%, "
                  "Dinkelbach steps warm %lld cold %lld\n",
                  perturb_frac, solve_us, median(cold_us), 100 * kept, static_cast<long long>(st.dinkelbach_steps),
                  static_cast<long long>(cold.stats().dinkelbach_steps));
    return 0;
  }
  nlohmann::json out = {{"max_load", res.max_load},     {"lp_opt", res.lp_opt},
                        {"copy_tokens", res.copy_tokens}, {"rank_loads", res.rank_loads},
                        {"solve_us", solve_us}};
  // Extensions: the LP's components; with --perturb the last instance's result
  // above, the cold median and how often the warm start was kept.
  out["components"] = res.components;
  if (perturb_frac > 0) {
    out["cold_solve_us"] = median(cold_us);
    out["lp_warm_kept"] = kept;
    out["dinkelbach_steps"] = {{"warm", st.dinkelbach_steps}, {"cold", cold.stats().dinkelbach_steps}};
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace wideep
