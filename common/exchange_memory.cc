// Private exchange buffers (common/exchange_memory.h): a zeroed vector that
// grows at once, contents kept.
#include "common/exchange_memory.h"

#include <vector>

namespace wideep {
namespace {

class PrivateExchangeBuffer final : public ExchangeBuffer {
 public:
  explicit PrivateExchangeBuffer(int64_t bytes) : bytes_(static_cast<size_t>(bytes), 0) {}
  unsigned char* data() override { return bytes_.data(); }
  int64_t bytes() const override { return static_cast<int64_t>(bytes_.size()); }
  void reserve(int64_t bytes) override {
    if (bytes > this->bytes()) bytes_.resize(static_cast<size_t>(bytes), 0);
  }

 private:
  std::vector<unsigned char> bytes_;
};

}  // namespace

std::unique_ptr<ExchangeBuffer> private_exchange_buffer(int64_t bytes) {
  return std::make_unique<PrivateExchangeBuffer>(bytes);
}

}  // namespace wideep
