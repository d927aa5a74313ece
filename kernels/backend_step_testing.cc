// One rank's layer step through a kernel backend, and its fp64 reference
// (kernels/backend_step_testing.h).
#include "kernels/backend_step_testing.h"

#include <cmath>
#include <cstring>

#include "kernels/det_values.h"
#include "kernels/dispatch_layout.h"
#include "kernels/expert_cpu.h"
#include "kernels/gemm_problems.h"
#include "kernels/row_bodies.h"

namespace wideep {

KernelShape step_shape(const StepSetup& s) {
  KernelShape k;
  k.ranks = 1;
  k.rank = 0;
  k.tokens = s.tokens;
  k.topk = s.topk;
  k.pairs = s.topk + s.shared;
  k.hidden = s.hidden;
  k.ffn = s.ffn;
  k.slots = s.experts + s.shared;
  k.dtype = s.dtype;
  k.dispatch_dtype = s.dispatch.value_or(s.dtype);
  k.combine_dtype = s.combine.value_or(s.dtype);
  k.seed = s.seed;
  k.timeout_s = 30;
  k.recv_rows_capacity = 1;  // grows in the step, as a run's would
  k.pairs_capacity = 1;
  k.pair_rows = s.pair_rows;
  return k;
}

std::vector<Placement> one_rank_placement(const StepSetup& s) {
  Placement p;
  p.num_ranks = 1;
  p.num_logical = s.experts;
  p.slots_per_rank = s.experts;
  for (int e = 0; e < s.experts; ++e) p.phy2log.push_back(e);
  return std::vector<Placement>(s.layer + 1, p);
}

namespace {
int expert_of(const StepSetup& s, int t, int k) { return (t * 3 + k * 5) % s.experts; }
float gate_of(int k) { return static_cast<float>(k + 1) / 10.0f; }
}  // namespace

std::vector<float> run_one_rank_step(const StepSetup& s, KernelBackend& kb, ExpertStore& store, const CopyIn& copy_in,
                                     int64_t* pairs, int corrupt_row, int32_t* bad_row, FfnProblems* problems_out) {
  const int T = s.tokens, P = s.topk + s.shared, S = s.experts + s.shared;
  std::vector<int32_t> dest(static_cast<size_t>(T) * P, 0), slot(dest.size()), off(2);
  std::vector<float> w(dest.size());
  for (int t = 0; t < T; ++t)
    for (int p = 0; p < P; ++p) {
      slot[t * P + p] = p < s.topk ? expert_of(s, t, p) : s.experts + (p - s.topk);
      w[t * P + p] = p < s.topk ? gate_of(p) : 1.0f;
    }
  kb.mark(0);
  kb.activations(s.step, s.layer, 0);
  kb.layout(dest.data(), slot.data(), w.data(), off.data());
  const int rows = off[1];
  kb.reserve_receive(rows, static_cast<int64_t>(T) * P);
  // The exchange with itself: the send rows, whole, into the receive buffer.
  const WireRow wr = kb.wire();
  std::vector<unsigned char> all(wr.row_bytes * rows);
  for (int r = 0; r < rows; ++r) kb.read_send_row(r, all.data() + wr.row_bytes * r);
  if (corrupt_row >= 0)
    for (int r : {corrupt_row, rows - 1}) reinterpret_cast<int32_t*>(all.data() + wr.row_bytes * r + wr.slot_offset)[0] = S;
  copy_in(kb.recv_rows(), all.data(), all.size());
  std::vector<int32_t> counts(S), offsets(S + 1);
  int32_t bad = -1;
  kb.count_slots(rows, counts.data(), &bad);
  if (bad_row) *bad_row = bad;
  slot_offsets(counts.data(), S, offsets.data());
  kb.group_by_slot(rows, offsets.data());
  std::vector<const void*> w1(S), w2(S);
  for (int i = 0; i < S; ++i) {
    w1[i] = store.w1(s.layer, i);
    w2[i] = store.w2(s.layer, i);
  }
  FfnProblems problems;
  build_ffn_problems(offsets.data(), S, s.hidden, s.ffn, kb.grouped_elem_bytes(), w1.data(), w2.data(), kb.grouped_x(),
                     kb.grouped_h(), kb.grouped_y(), &problems);
  kb.run_ffn(problems);
  kb.partial_combine(rows);
  kb.final_combine(0, rows, 0, nullptr);  // every row is this rank's own
  kb.mark(1);
  kb.finish("test step");
  *pairs = offsets[S];
  if (problems_out) *problems_out = problems;
  const float* out = kb.output_host();
  return std::vector<float>(out, out + static_cast<size_t>(T) * s.hidden);
}

std::vector<float> run_forwarded_step(const StepSetup& s, KernelBackend& k1, KernelBackend& kf, ExpertStore& store,
                                      const CopyIn& copy_in, int64_t* pairs) {
  const int T = s.tokens, P = s.topk + s.shared, S = s.experts + s.shared;
  std::vector<int32_t> dest(static_cast<size_t>(T) * P, 0), slot(dest.size()), off(2), off2(2);
  std::vector<float> w(dest.size());
  for (int t = 0; t < T; ++t)
    for (int p = 0; p < P; ++p) {
      slot[t * P + p] = p < s.topk ? expert_of(s, t, p) : s.experts + (p - s.topk);
      w[t * P + p] = p < s.topk ? gate_of(p) : 1.0f;
    }
  auto self_exchange = [&](KernelBackend& kb, int rows) {
    const WireRow wr = kb.wire();
    std::vector<unsigned char> all(wr.row_bytes * rows);
    for (int r = 0; r < rows; ++r) kb.read_send_row(r, all.data() + wr.row_bytes * r);
    copy_in(kb.recv_rows(), all.data(), all.size());
  };
  k1.mark(0);
  k1.activations(s.step, s.layer, 0);
  k1.layout(dest.data(), slot.data(), w.data(), off.data());
  const int rows1 = off[1];
  k1.reserve_receive(rows1, 0);
  self_exchange(k1, rows1);
  // Stage 2: the received rows' pairs (slot code = slot on a node of one rank).
  std::vector<int32_t> codes(static_cast<size_t>(rows1) * P), dest2(codes.size());
  std::vector<float> w2(codes.size());
  k1.read_received_meta(rows1, codes.data(), w2.data());
  for (size_t i = 0; i < codes.size(); ++i) dest2[i] = codes[i] >= 0 ? 0 : -1;
  kf.forward_tokens(k1.recv_rows(), k1.wire().row_bytes, rows1);
  kf.layout(dest2.data(), codes.data(), w2.data(), off2.data());
  const int rows = off2[1];
  kf.reserve_receive(rows, static_cast<int64_t>(T) * P);
  self_exchange(kf, rows);
  std::vector<int32_t> counts(S), offsets(S + 1);
  int32_t bad = -1;
  kf.count_slots(rows, counts.data(), &bad);
  slot_offsets(counts.data(), S, offsets.data());
  kf.group_by_slot(rows, offsets.data());
  std::vector<const void*> w1p(S), w2p(S);
  for (int i = 0; i < S; ++i) {
    w1p[i] = store.w1(s.layer, i);
    w2p[i] = store.w2(s.layer, i);
  }
  FfnProblems problems;
  build_ffn_problems(offsets.data(), S, s.hidden, s.ffn, kf.grouped_elem_bytes(), w1p.data(), w2p.data(),
                     kf.grouped_x(), kf.grouped_h(), kf.grouped_y(), &problems);
  kf.run_ffn(problems);
  kf.partial_combine(rows);
  kf.final_combine(0, rows, 0, nullptr);
  k1.set_expert_rows(kf.output_rows(), rows1);
  k1.final_combine(0, rows1, 0, nullptr);
  k1.mark(1);
  k1.finish("test step");
  *pairs = offsets[S];
  const float* out = k1.output_host();
  return std::vector<float>(out, out + static_cast<size_t>(T) * s.hidden);
}

std::vector<double> reference_step(const StepSetup& s, bool wire_input) {
  const int T = s.tokens, H = s.hidden, F = s.ffn;
  std::vector<double> ref(static_cast<size_t>(T) * H, 0.0);
  std::vector<float> x(static_cast<size_t>(T) * H);
  for (int t = 0; t < T; ++t)
    for (int c = 0; c < H; ++c) x[static_cast<size_t>(t) * H + c] = token_activation(s.seed, s.step, s.layer, t, c);
  if (wire_input) {
    const WireRow wr = wire_row(H, s.topk + s.shared, s.dispatch.value_or(s.dtype));
    std::vector<unsigned char> scratch(wr.slot_offset);
    for (int t = 0; t < T; ++t)
      wire_roundtrip(&x[static_cast<size_t>(t) * H], H, s.dtype, wr, scratch.data(), &x[static_cast<size_t>(t) * H]);
  }
  std::vector<float> w1(static_cast<size_t>(H) * F), w2(w1.size());
  std::vector<double> h(F);
  auto apply = [&](int expert) {
    generate_expert_weights(s.seed, s.layer, expert, H, F, w1.data(), w2.data());
    for (int t = 0; t < T; ++t) {
      bool uses = expert >= s.experts;
      double g = uses ? 1.0 : 0.0;
      for (int k = 0; k < s.topk && !uses; ++k)
        if (expert_of(s, t, k) == expert) {
          uses = true;
          g = gate_of(k);
        }
      if (!uses) continue;
      for (int f = 0; f < F; ++f) {
        double acc = 0;
        for (int c = 0; c < H; ++c)
          acc += static_cast<double>(x[static_cast<size_t>(t) * H + c]) * w1[static_cast<size_t>(c) * F + f];
        h[f] = acc / (1.0 + std::exp(-acc));
      }
      for (int c = 0; c < H; ++c) {
        double acc = 0;
        for (int f = 0; f < F; ++f) acc += h[f] * w2[static_cast<size_t>(f) * H + c];
        ref[static_cast<size_t>(t) * H + c] += g * acc;
      }
    }
  };
  for (int e = 0; e < s.experts + s.shared; ++e) apply(e);
  return ref;
}

}  // namespace wideep
