// Orders one micro-batch's kernel stream against the communicator's stream
// under two-batch overlap: the logic of KernelBackend::before_exchange /
// exchange_started / after_exchange (kernels/kernel_backend.h), over three
// stream operations. CudaKernels drives it with CUDA events; the pipeline's
// event-order test (runtime/step/tbo_order_test.cc) with a fake stream. Host only.
#pragma once

namespace wideep {

// The three operations ExchangeOrder needs of the two streams.
class ExchangeStreams {
 public:
  virtual ~ExchangeStreams() = default;
  // The communicator's stream waits for what the kernel stream holds now.
  virtual void comm_waits_for_kernels() = 0;
  // A mark after what the communicator's stream holds now (the last one counts).
  virtual void mark_comm() = 0;
  // The kernel stream waits for the last mark.
  virtual void kernels_wait_for_mark() = 0;
};

class ExchangeOrder {
 public:
  // streams: null where the kernels run on the communicator's stream (stream
  // order already orders them: every call is a no-op). Not owned.
  explicit ExchangeOrder(ExchangeStreams* streams = nullptr) : s_(streams) {}

  // Before an exchange is enqueued: it reads what this batch's kernels wrote.
  void before_exchange() {
    if (s_) s_->comm_waits_for_kernels();
  }
  // Right after this batch's exchange was enqueued: its end, marked before
  // the other batch enqueues anything behind it.
  void exchange_started() {
    if (!s_) return;
    s_->mark_comm();
    marked_ = true;
  }
  // Before this batch's kernels read what the exchange wrote: wait for the
  // mark, or, with none since the last wait, for everything on the
  // communicator's stream now (weights moved or refreshed there).
  void after_exchange() {
    if (!s_) return;
    if (!marked_) s_->mark_comm();
    s_->kernels_wait_for_mark();
    marked_ = false;
  }

 private:
  ExchangeStreams* s_;
  bool marked_ = false;
};

}  // namespace wideep
