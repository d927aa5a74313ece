// Two-batch overlap's event order on the device, on the CPU: MoePipeline runs
// --overlap tbo in-process on one rank over a fake device, where each
// micro-batch's kernels run on a stream of their own and the exchanges (and
// the bf16 mirror refreshes) on the communicator's, ordered by ExchangeOrder
// (kernels/exchange_order.h, what CudaKernels uses with CUDA events). Every
// operation records what it depends on; the test asserts which exchanges
// each batch's kernels wait for.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <string>

#include "common/check.h"
#include "kernels/exchange_order.h"
#include "kernels/expert_cpu.h"
#include "kernels/expert_store.h"
#include "kernels/host_kernels.h"
#include "runtime/io/config.h"
#include "runtime/step/memory_plan.h"
#include "runtime/step/moe_pipeline.h"
#include "runtime/io/placement_io.h"
#include "runtime/io/workload.h"

namespace wideep {
namespace {

using Deps = std::set<std::string>;

// The device as far as order goes: the communicator's stream, and what each
// operation enqueued so far depends on (everything before it on its stream
// and everything its stream waited for, transitively).
struct FakeDevice {
  Deps comm_tail;                   // what an operation enqueued now on the communicator's stream depends on
  std::map<std::string, Deps> deps;
  std::string layer = "L0 ";        // prefixes every name: one entry per layer
  void on_comm(const std::string& op) {
    deps[layer + op] = comm_tail;
    comm_tail.insert(layer + op);
  }
};

// One micro-batch's kernel stream.
class FakeKernelStream final : public ExchangeStreams {
 public:
  explicit FakeKernelStream(FakeDevice* dev) : dev_(dev) {}
  void comm_waits_for_kernels() override { dev_->comm_tail.insert(tail_.begin(), tail_.end()); }
  void mark_comm() override { mark_ = dev_->comm_tail; }
  void kernels_wait_for_mark() override { tail_.insert(mark_.begin(), mark_.end()); }
  void op(const std::string& name) {
    dev_->deps[dev_->layer + name] = tail_;
    tail_.insert(dev_->layer + name);
  }

 private:
  FakeDevice* dev_;
  Deps tail_, mark_;
};

// HostKernels doing the work, on a fake stream of its own ordered as
// CudaKernels orders it; it says it holds device memory, so that the
// pipeline takes the device's path (one FFN call, no host progress).
class FakeDeviceKernels final : public KernelBackend {
 public:
  FakeDeviceKernels(const KernelShape& s, FakeDevice* dev, std::string name)
      : in_(s), stream_(dev), order_(&stream_), name_(std::move(name)) {
    shape_ = in_.shape();
    wire_ = in_.wire();
  }
  // The exchange that receives into `recv`, or "".
  std::string exchange_into(const void* recv) {
    return recv == in_.recv_rows() ? name_ + ".dispatch" : recv == in_.returned_rows() ? name_ + ".combine" : "";
  }

  const char* name() const override { return "fake-device"; }
  bool device_memory() const override { return true; }
  int64_t reserve_receive(int64_t rows, int64_t pairs) override { return in_.reserve_receive(rows, pairs); }
  int64_t recv_rows_capacity() const override { return in_.recv_rows_capacity(); }
  int64_t pairs_capacity() const override { return in_.pairs_capacity(); }
  void allocated_bytes(int64_t* host, int64_t* device) const override { in_.allocated_bytes(host, device); }
  void activations(int step, int layer, int64_t first) override { in_.activations(step, layer, first); }
  void layout(const int32_t* d, const int32_t* s, const float* w, int32_t* off) override {
    in_.layout(d, s, w, off);
    op("layout");
  }
  SendRowsView send_rows() override { return in_.send_rows(); }
  const void* packed_send_rows() override { return in_.packed_send_rows(); }
  void read_send_row(int32_t row, unsigned char* out) override { in_.read_send_row(row, out); }
  void write_send_row(int32_t row, const unsigned char* in) override { in_.write_send_row(row, in); }
  void* recv_rows() override { return in_.recv_rows(); }
  void count_slots(int rows, int32_t* slot_pairs, int32_t* bad) override {
    in_.count_slots(rows, slot_pairs, bad);
    op("count_slots");
  }
  void group_by_slot(int rows, const int32_t* off) override { in_.group_by_slot(rows, off); }
  void* grouped_x() override { return in_.grouped_x(); }
  void* grouped_h() override { return in_.grouped_h(); }
  void* grouped_y() override { return in_.grouped_y(); }
  size_t grouped_elem_bytes() const override { return in_.grouped_elem_bytes(); }
  void run_ffn(const FfnProblems& p) override {
    in_.run_ffn(p);
    op("run_ffn");
  }
  void partial_combine(int rows) override {
    in_.partial_combine(rows);
    op("partial_combine");
  }
  void* expert_rows() override { return in_.expert_rows(); }
  void* returned_rows() override { return in_.returned_rows(); }
  void final_combine(int32_t first, int32_t end, int64_t own_row, const void* const* in_place) override {
    in_.final_combine(first, end, own_row, in_place);
    op("final_combine");
  }
  void forward_tokens(const void* rows, size_t stride, int count) override { in_.forward_tokens(rows, stride, count); }
  void read_received_meta(int rows, int32_t* slots, float* w) override { in_.read_received_meta(rows, slots, w); }
  const float* output_rows() override { return in_.output_rows(); }
  void set_expert_rows(const float* src, int rows) override { in_.set_expert_rows(src, rows); }
  void compact_received(const int64_t* a, const int64_t* b, const int64_t* c, int n) override {
    in_.compact_received(a, b, c, n);
  }
  const float* input_host() override { return in_.input_host(); }
  const float* output_host() override { return in_.output_host(); }
  void before_exchange() override { order_.before_exchange(); }
  void exchange_started() override { order_.exchange_started(); }
  void after_exchange() override { order_.after_exchange(); }
  void mark(int boundary) override { in_.mark(boundary); }
  void finish(const char* what) override { in_.finish(what); }
  int64_t elapsed_ns(int from, int to) override { return in_.elapsed_ns(from, to); }

 private:
  void op(const char* what) { stream_.op(name_ + "." + what); }
  HostKernels in_;
  FakeKernelStream stream_;
  ExchangeOrder order_;
  std::string name_;
};

// One rank's exchanges as copies to itself; each exchange started is
// enqueued on the fake communicator's stream under the name `name_of` gives.
class SelfComm final : public Communicator {
 public:
  SelfComm(FakeDevice* dev, std::function<std::string(const void*)> name_of)
      : dev_(dev), name_of_(std::move(name_of)) {}
  int rank() const override { return 0; }
  int size() const override { return 1; }
  const char* backend_name() const override { return "self"; }
  void alltoall_int64(const int64_t* send, int64_t* recv) override { recv[0] = send[0]; }
  void alltoallv_bytes(const void* send, const int64_t* sb, const int64_t* so, void* recv, const int64_t* rb,
                       const int64_t* ro) override {
    WIDEEP_ASSERT(sb[0] == rb[0], "one rank sends itself what it receives");
    if (sb[0] > 0) std::memcpy(static_cast<char*>(recv) + ro[0], static_cast<const char*>(send) + so[0], sb[0]);
  }
  void alltoallv_rows(const RowGather& send, const int64_t* rows, const int64_t* first, void* recv, const int64_t* rb,
                      const int64_t* ro) override {
    WIDEEP_ASSERT(rows[0] * send.row_bytes() == rb[0], "one rank sends itself what it receives");
    char* out = static_cast<char*>(recv) + ro[0];
    for (int64_t r = first[0]; r < first[0] + rows[0]; ++r)
      for (int j = 0; j < send.segments_per_row; ++j) {
        std::memcpy(out, send.seg[r * send.segments_per_row + j], send.seg_bytes[j]);
        out += send.seg_bytes[j];
      }
  }
  int start_alltoallv_bytes(const void* send, const int64_t* sb, const int64_t* so, void* recv, const int64_t* rb,
                            const int64_t* ro) override {
    dev_->on_comm(name_of_(recv));
    alltoallv_bytes(send, sb, so, recv, rb, ro);
    return 0;
  }
  int start_alltoallv_rows(const RowGather& send, const int64_t* rows, const int64_t* first, void* recv,
                           const int64_t* rb, const int64_t* ro) override {
    dev_->on_comm(name_of_(recv));
    alltoallv_rows(send, rows, first, recv, rb, ro);
    return 0;
  }
  void raw_alltoallv_bytes(const void* s, const int64_t* sb, const int64_t* so, void* r, const int64_t* rb,
                           const int64_t* ro) override {
    alltoallv_bytes(s, sb, so, r, rb, ro);
  }
  void allgather_int64(const int64_t* send, int64_t n, int64_t* recv) override {
    std::memcpy(recv, send, sizeof(int64_t) * n);
  }
  void allreduce_sum_int64(int64_t*, int64_t) override {}
  void allreduce_max_double(double*, int64_t) override {}
  void allreduce_sum_double(double*, int64_t) override {}
  void barrier() override {}
  void exchange(const std::vector<P2PTransfer>&, const std::vector<P2PTransfer>&) override {
    throw std::logic_error("no weight moves on one rank");
  }
  void* alloc_bytes(int64_t) override { throw std::logic_error("not used"); }
  void free_bytes(void*) override {}
  void abort(int) override { throw std::logic_error("abort"); }

 private:
  FakeDevice* dev_;
  std::function<std::string(const void*)> name_of_;
};

// Expert weights with a bf16 mirror whose refreshes are enqueued on the
// communicator's stream, as DeviceExpertStore's are. The values do not
// matter here (zeros); the mirror is fp32 for the host GEMMs.
class FakeDeviceStore final : public ExpertStore {
 public:
  FakeDeviceStore(int layers, int slots, int hidden, int ffn, FakeDevice* dev) : dev_(dev) {
    set_shape(layers, slots, 0, hidden, ffn, 1, DType::kBF16);
    data_.assign(static_cast<size_t>(layers) * slots * 2 * matrix_elems_, 0.0f);
    mirror_ = data_;
    set_masters(data_.data());
  }
  void fill(const std::vector<Placement>&, int) override {}
  const void* slot_read(int layer, int slot) override { return master_ptr(layer, slot); }
  void copy_slot(int, int, ExpertStore&, int) override { throw std::logic_error("not used"); }
  uint64_t checksum(int, int) override { return 0; }
  void flip_byte(int, int, size_t) override {}
  int64_t held_bytes() const override { return 0; }

 private:
  void refresh_mirror(int layer, int slot) override {
    dev_->on_comm("mirror " + std::to_string(layer) + "." + std::to_string(slot));
  }
  const void* mirror_data(int layer, int slot, size_t elem) override { return &mirror_[offset(layer, slot) + elem]; }
  FakeDevice* dev_;
  std::vector<float> data_, mirror_;
};

TEST(TboOrder, EachBatchWaitsForItsOwnExchangesOnly) {
  RunConfig c;
  c.experts = 8;
  c.topk = 2;
  c.hidden = 16;
  c.ffn = 32;
  c.tokens = 8;
  c.layers = 2;
  c.overlap = "tbo";
  c.workload_text = "uniform";
  validate(c, 1);
  cpu_kernels_init();
  FakeDevice dev;
  const MemoryPlan plan = plan_memory(c, 1, false, DType::kF32);
  KernelShape shape = kernel_shape(c, 1, 0, DType::kF32, plan);
  std::vector<std::unique_ptr<KernelBackend>> kernels;
  std::vector<FakeDeviceKernels*> k;
  for (const char* name : {"A", "B"}) {
    shape.tokens = name[0] == 'A' ? c.tbo_first_tokens() : c.tokens - c.tbo_first_tokens();
    auto b = std::make_unique<FakeDeviceKernels>(shape, &dev, name);
    k.push_back(b.get());
    kernels.push_back(std::move(b));
  }
  SelfComm comm(&dev, [&](const void* recv) {
    for (FakeDeviceKernels* b : k)
      if (!b->exchange_into(recv).empty()) return b->exchange_into(recv);
    ADD_FAILURE() << "an exchange into no batch's buffer";
    return std::string("?");
  });
  auto workload = std::make_shared<Workload>(c.workload, c.experts, c.topk, c.layers, c.seed, nullptr, c.tokens);
  const int S = c.slots_per_rank;
  MoePipeline pipe(c, comm, workload, {}, initial_placement(c, nullptr), std::move(kernels),
                   std::make_unique<FakeDeviceStore>(c.layers, S, c.hidden, c.ffn, &dev), nullptr);
  for (int layer = 0; layer < c.layers; ++layer) {
    dev.layer = "L" + std::to_string(layer) + " ";
    LayerStats st;
    pipe.run_layer(0, layer, &st);
    auto deps = [&](const std::string& op) {
      const auto it = dev.deps.find(dev.layer + op);
      EXPECT_NE(it, dev.deps.end()) << dev.layer << op << " never ran";
      return it == dev.deps.end() ? Deps{} : it->second;
    };
    auto has = [&](const Deps& d, const std::string& op) { return d.count(dev.layer + op) > 0; };
    for (const std::string x : {"A", "B"}) {
      for (const char* reader : {".count_slots", ".run_ffn"})
        EXPECT_TRUE(has(deps(x + reader), x + ".dispatch")) << dev.layer << x << reader << " before its rows arrived";
      for (int s = 0; s < S; ++s)
        EXPECT_TRUE(has(deps(x + ".run_ffn"), "mirror " + std::to_string(layer) + "." + std::to_string(s)))
            << dev.layer << x << ".run_ffn before the mirror of slot " << s;
      EXPECT_TRUE(has(deps(x + ".final_combine"), x + ".combine")) << dev.layer << x;
      // What the exchanges read: written before they start.
      EXPECT_TRUE(has(deps(x + ".dispatch"), x + ".layout")) << dev.layer << x;
      EXPECT_TRUE(has(deps(x + ".combine"), x + ".partial_combine")) << dev.layer << x;
    }
    // The overlap itself: B's experts do not wait for A's combine (started
    // before B's dispatch was waited for), nor A's for B's dispatch.
    EXPECT_FALSE(has(deps("B.count_slots"), "A.combine")) << dev.layer;
    EXPECT_FALSE(has(deps("B.run_ffn"), "A.combine")) << dev.layer;
    EXPECT_FALSE(has(deps("A.run_ffn"), "B.dispatch")) << dev.layer;
  }
}

}  // namespace
}  // namespace wideep
