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
//   token_row [R*T]        send row of (token t, rank r) at r*T + t, or -1
//                          (scratch; chunk counts before the fill: row_bodies.h)
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
constexpr int kScanThreads = 1024;  // the one block that scans the chunk counts
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

// The layout in parallel over tokens (kernels/row_bodies.h, "dispatch
// layout"): blocks of kLayoutChunk tokens x one destination rank count their
// rows; one block scans the counts over (rank, chunk); the same blocks fill
// their rows, and one thread per token gathers its rows in rank order. Every
// write of token_row, row_token and row_rank is by consecutive threads to
// consecutive places.
static_assert(kLayoutThreads == kLayoutChunk, "one thread per token of a chunk");

// Block (chunk c, rank r): the chunk's tokens that go to r, at its head.
__global__ void count_chunk_rows_kernel(const int32_t* dest, int T, int P, int32_t* token_row) {
  using Reduce = cub::BlockReduce<int, kLayoutThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  const int c = blockIdx.x, r = blockIdx.y;
  const int t = c * kLayoutChunk + threadIdx.x;
  const int flag = t < T && layout_goes_to(dest + static_cast<size_t>(t) * P, P, r) ? 1 : 0;
  const int total = Reduce(tmp).Sum(flag);
  if (threadIdx.x == 0) token_row[layout_chunk_head(r * gridDim.x + c, gridDim.x, T)] = total;
}

// One block: the chunk counts scanned over (rank, chunk) in place into each
// chunk's first row; rank_row_offset [R+1] and rank_rows [R] from them.
__global__ void scan_chunk_rows_kernel(int T, int R, int32_t* token_row, int32_t* rank_rows, int32_t* rank_row_offset) {
  using Scan = cub::BlockScan<int, kScanThreads>;
  __shared__ typename Scan::TempStorage tmp;
  const int chunks = layout_chunks(T), n = R * chunks;
  int running = 0;
  for (int i0 = 0; i0 < n; i0 += kScanThreads) {
    const int i = i0 + threadIdx.x;
    const size_t head = i < n ? layout_chunk_head(i, chunks, T) : 0;
    const int count = i < n ? token_row[head] : 0;
    int first = 0, aggregate = 0;
    Scan(tmp).ExclusiveSum(count, first, aggregate);
    if (i < n) {
      token_row[head] = running + first;
      if (i % chunks == 0) rank_row_offset[i / chunks] = running + first;
    }
    running += aggregate;
    __syncthreads();  // tmp is reused by the next tile
  }
  if (n == 0)
    for (int r = threadIdx.x; r < R; r += kScanThreads) rank_row_offset[r] = 0;
  if (threadIdx.x == 0) rank_row_offset[R] = running;
  __syncthreads();  // the offsets above, read below
  for (int r = threadIdx.x; r < R; r += kScanThreads) rank_rows[r] = rank_row_offset[r + 1] - rank_row_offset[r];
}

// Block (chunk c, rank r): each token's row towards r (or -1) from the chunk's
// first row and a block scan, and each row's token and rank.
__global__ void fill_chunk_rows_kernel(const int32_t* dest, int T, int P, int32_t* token_row, int32_t* row_token,
                                       int32_t* row_rank) {
  using Scan = cub::BlockScan<int, kLayoutThreads>;
  __shared__ typename Scan::TempStorage tmp;
  __shared__ int first_row;
  const int c = blockIdx.x, r = blockIdx.y;
  const int t = c * kLayoutChunk + threadIdx.x;
  if (threadIdx.x == 0) first_row = token_row[layout_chunk_head(r * gridDim.x + c, gridDim.x, T)];
  __syncthreads();
  const int flag = t < T && layout_goes_to(dest + static_cast<size_t>(t) * P, P, r) ? 1 : 0;
  int pos = 0;
  Scan(tmp).ExclusiveSum(flag, pos);
  if (t >= T) return;
  const int row = flag ? first_row + pos : -1;
  token_row[static_cast<size_t>(r) * T + t] = row;  // the head too (thread 0, which read it)
  if (flag) {
    row_token[row] = t;
    row_rank[row] = r;
  }
}

// One thread per token: its rows in rank order, -1 after the last.
__global__ void token_rows_kernel(const int32_t* dest, int T, int P, int R, const int32_t* token_row,
                                  int32_t* token_rows) {
  for (int t = blockIdx.x * blockDim.x + threadIdx.x; t < T; t += gridDim.x * blockDim.x)
    layout_token_rows(dest + static_cast<size_t>(t) * P, P, R, token_row, T, t, token_rows + static_cast<size_t>(t) * P);
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
  const dim3 chunks_x_ranks(layout_chunks(T), R);
  if (T > 0) {
    count_chunk_rows_kernel<<<chunks_x_ranks, kLayoutThreads, 0, cs(stream)>>>(dest, T, P, token_row);
    WIDEEP_LAUNCH_CHECK();
  }
  scan_chunk_rows_kernel<<<1, kScanThreads, 0, cs(stream)>>>(T, R, token_row, rank_rows, rank_row_offset);
  WIDEEP_LAUNCH_CHECK();
  if (T == 0) return;
  fill_chunk_rows_kernel<<<chunks_x_ranks, kLayoutThreads, 0, cs(stream)>>>(dest, T, P, token_row, row_token,
                                                                            row_rank);
  WIDEEP_LAUNCH_CHECK();
  token_rows_kernel<<<grid_for(T, 256), 256, 0, cs(stream)>>>(dest, T, P, R, token_row, token_rows);
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
