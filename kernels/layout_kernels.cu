// Route and layout kernels of the device path: token activations and their
// wire form (fp8: quantized per 128 channels), the per-destination layout (one
// row per (token, destination rank), prefix sums over ranks) and the permute
// into wire rows.
//
// Layout buffers (device, int32):
//   rank_rows [R]          rows sent to each rank
//   rank_row_offset [R+1]  exclusive prefix of rank_rows; [R] = total rows
//   row_token, row_rank    [rows] token and destination of each send row;
//                          rows grouped by rank, tokens ascending within a rank
//   token_row [T*R]        send row of (token t, rank r) or -1 (scratch)
//   token_rows [T*P]       each token's send rows in rank order, -1 after the last
// The order equals build_layout()'s on the CPU (kernels/dispatch_layout.cc).
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>

#include "kernels/row_bodies.h"
#include "kernels/device_common.cuh"

namespace wideep {
namespace dev {
namespace {

constexpr int kLayoutThreads = 256;
constexpr int kWireThreads = kFp8Group;  // one thread per channel of an fp8 group

// One block per token (grid-stride): its token part of the dispatch row
// (write_token_part of kernels/row_bodies.h, in parallel). fp8: each group's
// amax by warp shuffles and one exchange through shared memory (a max of
// magnitudes: the order does not matter), then every thread quantizes its channel.
template <typename T>
__global__ void wire_tokens_kernel(const T* x, int Tn, int H, WireRow wr, unsigned char* out) {
  __shared__ float warp_amax[kWireThreads / 32];
  const size_t x_values = static_cast<size_t>(H) * dtype_bytes(wr.dtype);
  const int G = fp8_groups(H);
  for (int t = blockIdx.x; t < Tn; t += gridDim.x) {
    const T* xt = x + static_cast<size_t>(t) * H;
    unsigned char* o = out + static_cast<size_t>(t) * wr.slot_offset;
    for (size_t b = x_values + threadIdx.x; b < wr.x_bytes; b += blockDim.x) o[b] = 0;
    if (wr.dtype == DType::kF32) {
      for (int c = threadIdx.x; c < H; c += blockDim.x) reinterpret_cast<float*>(o)[c] = elem_to_float(xt[c]);
      continue;
    }
    if (wr.dtype == DType::kBF16) {
      for (int c = threadIdx.x; c < H; c += blockDim.x)
        reinterpret_cast<uint16_t*>(o)[c] = float_to_bf16(elem_to_float(xt[c]));
      continue;
    }
    float* scales = reinterpret_cast<float*>(o + wr.scale_offset);
    for (size_t b = wr.scale_offset + 4u * G + threadIdx.x; b < wr.slot_offset; b += blockDim.x) o[b] = 0;
    for (int g = 0; g < G; ++g) {
      const int c = g * kFp8Group + threadIdx.x;
      const float v = c < H ? elem_to_float(xt[c]) : 0.0f;
      float amax = fp8_amax_step(0.0f, v);
      for (int lane = 16; lane > 0; lane >>= 1) amax = fp8_amax_step(amax, __shfl_xor_sync(0xffffffffu, amax, lane));
      if ((threadIdx.x & 31) == 0) warp_amax[threadIdx.x >> 5] = amax;
      __syncthreads();
      float group_amax = 0.0f;
      for (int w = 0; w < kWireThreads / 32; ++w) group_amax = fp8_amax_step(group_amax, warp_amax[w]);
      const float scale = fp8_scale(group_amax);
      if (c < H) o[c] = fp8_quantize(v, scale);
      if (threadIdx.x == 0) scales[g] = scale;
      __syncthreads();  // warp_amax is reused by the next group
    }
  }
}

template <typename T>
__global__ void token_activations_kernel(T* x, int64_t n, int H, uint64_t seed, int step, int layer,
                                         int64_t first_token) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = i / H;
    const int c = static_cast<int>(i - t * H);
    x[i] = activation_elem<T>(seed, step, layer, first_token + t, c);
  }
}

__device__ __forceinline__ bool token_goes_to(const int32_t* dest, int P, int r) {
  for (int p = 0; p < P; ++p)
    if (dest[p] == r) return true;
  return false;
}

// One block per destination rank: how many tokens go there.
__global__ void count_rank_rows_kernel(const int32_t* dest, int T, int P, int32_t* rank_rows) {
  using Reduce = cub::BlockReduce<int, kLayoutThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  const int r = blockIdx.x;
  int n = 0;
  for (int t = threadIdx.x; t < T; t += kLayoutThreads)
    n += token_goes_to(dest + static_cast<size_t>(t) * P, P, r) ? 1 : 0;
  const int total = Reduce(tmp).Sum(n);
  if (threadIdx.x == 0) rank_rows[r] = total;
}

// One block per destination rank: its offset (prefix over the ranks before
// it), then a block scan over tokens gives every row its place.
__global__ void fill_rank_rows_kernel(const int32_t* dest, int T, int P, int R,
                                      const int32_t* rank_rows, int32_t* rank_row_offset,
                                      int32_t* row_token, int32_t* row_rank, int32_t* token_row) {
  using Scan = cub::BlockScan<int, kLayoutThreads>;
  __shared__ typename Scan::TempStorage tmp;
  __shared__ int base;
  const int r = blockIdx.x;
  if (threadIdx.x == 0) {
    int o = 0;
    for (int q = 0; q < r; ++q) o += rank_rows[q];
    base = o;
    rank_row_offset[r] = o;
    if (r == R - 1) rank_row_offset[R] = o + rank_rows[r];
  }
  __syncthreads();
  int running = base;
  for (int t0 = 0; t0 < T; t0 += kLayoutThreads) {
    const int t = t0 + threadIdx.x;
    const int flag = (t < T && token_goes_to(dest + static_cast<size_t>(t) * P, P, r)) ? 1 : 0;
    int pos = 0, aggregate = 0;
    Scan(tmp).ExclusiveSum(flag, pos, aggregate);
    if (t < T) {
      const int row = flag ? running + pos : -1;
      token_row[static_cast<size_t>(t) * R + r] = row;
      if (flag) {
        row_token[row] = t;
        row_rank[row] = r;
      }
    }
    running += aggregate;
    __syncthreads();  // tmp is reused by the next chunk
  }
}

// One thread per token: its rows in rank order from token_row [T*R], -1 after
// the last (a token has at most P rows).
__global__ void token_rows_kernel(const int32_t* token_row, int T, int R, int P, int32_t* token_rows) {
  for (int t = blockIdx.x * blockDim.x + threadIdx.x; t < T; t += gridDim.x * blockDim.x) {
    int32_t* out = token_rows + static_cast<size_t>(t) * P;
    int n = 0;
    for (int r = 0; r < R && n < P; ++r) {
      const int32_t row = token_row[static_cast<size_t>(t) * R + r];
      if (row >= 0) out[n++] = row;
    }
    for (; n < P; ++n) out[n] = -1;
  }
}

// One block per send row (grid-stride): the token's first x_row bytes, then
// slot[P] and w[P], padding zeroed.
__global__ void pack_rows_kernel(const unsigned char* x, size_t x_row, size_t x_stride, int fanout, int P, int R,
                                 const int32_t* rank_row_offset, const int32_t* row_token,
                                 const int32_t* row_rank, const int32_t* dest, const int32_t* slot,
                                 const float* weight, unsigned char* send, WireRow wr) {
  const int total = rank_row_offset[R];
  for (int row = blockIdx.x; row < total; row += gridDim.x) {
    const int t = row_token[row];  // a layout unit: the token t / fanout
    const int r = row_rank[row];
    unsigned char* out = send + static_cast<size_t>(row) * wr.row_bytes;
    block_copy(out, x + static_cast<size_t>(t / fanout) * x_stride, x_row);
    block_zero(out + x_row, wr.slot_offset - x_row);
    int32_t* slots = reinterpret_cast<int32_t*>(out + wr.slot_offset);
    float* w = reinterpret_cast<float*>(out + wr.weight_offset);
    const size_t base = static_cast<size_t>(t) * P;
    for (int p = threadIdx.x; p < P; p += blockDim.x)
      row_meta_pair(dest + base, slot + base, weight + base, p, r, slots, w);
    const size_t end = wr.weight_offset + 4u * P;
    block_zero(out + end, wr.row_bytes - end);
  }
}

}  // namespace

void launch_token_activations(void* x, int T, int H, DType dtype, uint64_t seed, int step, int layer,
                              int64_t first_token, Stream stream) {
  const int64_t n = static_cast<int64_t>(T) * H;
  if (n == 0) return;
  const int grid = grid_for(n, 256);
  if (dtype == DType::kF32)
    token_activations_kernel<<<grid, 256, 0, cs(stream)>>>(static_cast<float*>(x), n, H, seed, step,
                                                            layer, first_token);
  else
    token_activations_kernel<<<grid, 256, 0, cs(stream)>>>(static_cast<uint16_t*>(x), n, H, seed,
                                                            step, layer, first_token);
  WIDEEP_LAUNCH_CHECK();
}

void launch_wire_tokens(const void* x, int T, int H, DType compute, const WireRow& wr, void* out, Stream stream) {
  if (T == 0) return;
  const int grid = grid_for(T, 1, 8192);
  auto* o = static_cast<unsigned char*>(out);
  if (compute == DType::kF32)
    wire_tokens_kernel<<<grid, kWireThreads, 0, cs(stream)>>>(static_cast<const float*>(x), T, H, wr, o);
  else
    wire_tokens_kernel<<<grid, kWireThreads, 0, cs(stream)>>>(static_cast<const uint16_t*>(x), T, H, wr, o);
  WIDEEP_LAUNCH_CHECK();
}

void launch_dispatch_layout(const int32_t* dest, int T, int P, int R, int32_t* rank_rows,
                            int32_t* rank_row_offset, int32_t* row_token, int32_t* row_rank,
                            int32_t* token_row, int32_t* token_rows, Stream stream) {
  count_rank_rows_kernel<<<R, kLayoutThreads, 0, cs(stream)>>>(dest, T, P, rank_rows);
  WIDEEP_LAUNCH_CHECK();
  fill_rank_rows_kernel<<<R, kLayoutThreads, 0, cs(stream)>>>(dest, T, P, R, rank_rows, rank_row_offset,
                                                              row_token, row_rank, token_row);
  WIDEEP_LAUNCH_CHECK();
  if (T == 0) return;
  token_rows_kernel<<<grid_for(T, 256), 256, 0, cs(stream)>>>(token_row, T, R, P, token_rows);
  WIDEEP_LAUNCH_CHECK();
}

void launch_pack_rows(const void* tokens, size_t token_bytes, size_t token_stride, int fanout, int P, int R,
                      const WireRow& wr, const int32_t* rank_row_offset, const int32_t* row_token,
                      const int32_t* row_rank, int max_rows, const int32_t* dest, const int32_t* slot,
                      const float* weight, void* send_buf, Stream stream) {
  if (max_rows == 0) return;
  pack_rows_kernel<<<grid_for(max_rows, 1, 4096), 128, 0, cs(stream)>>>(
      static_cast<const unsigned char*>(tokens), token_bytes, token_stride, fanout, P, R, rank_row_offset, row_token,
      row_rank, dest, slot, weight, static_cast<unsigned char*>(send_buf), wr);
  WIDEEP_LAUNCH_CHECK();
}

void copy_rows_to_host(void* dst, size_t dst_pitch, const void* src, size_t src_pitch, size_t width, int rows,
                       Stream stream) {
  if (rows == 0 || width == 0) return;
  WIDEEP_CUDA_CHECK(cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, width, static_cast<size_t>(rows),
                                      cudaMemcpyDeviceToHost, cs(stream)));
}

}  // namespace dev
}  // namespace wideep
