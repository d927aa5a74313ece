// Expert-side kernels of the device path: un-permute received wire rows into
// per-local-slot contiguous blocks (converting x from the dispatch dtype to
// the compute dtype; fp8 dequantized), SiLU, the partial combine on the expert
// rank, the final combine into token rows, and the weight generator. The
// per-element work is kernels/row_bodies.h, shared with the host backend.
//
// Expert buffers (device):
//   slot_count [S]            pairs per local slot; the offsets [S+1] come
//                             from the host (the pipeline needs them for the
//                             GEMM problem list anyway)
//   pair_pos [rows*P]         index of (row, p) in the grouped buffers, or -1
//   x_grouped [pairs x H], h [pairs x F], y [pairs x H]   compute dtype, dense (ld = H, F, H)
//   out_rows [rows x return_row_bytes]                    combine dtype, the combine's send rows
#include "kernels/det_values.h"
#include "kernels/device_common.cuh"
#include "kernels/row_bodies.h"

namespace wideep {
namespace dev {
namespace {

__global__ void count_slots_kernel(const unsigned char* recv, int rows, WireRow wr, int P, int S,
                                   int32_t* slot_count, int32_t* first_bad) {
  const int64_t n = static_cast<int64_t>(rows) * P;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = i / P;
    const int p = static_cast<int>(i - row * P);
    const int32_t s =
        reinterpret_cast<const int32_t*>(recv + static_cast<size_t>(row) * wr.row_bytes + wr.slot_offset)[p];
    if (s < -1 || s >= S) {
      // The first bad row, whatever the thread order (unsigned: "none" is all ones).
      atomicMin(reinterpret_cast<unsigned int*>(first_bad), static_cast<unsigned int>(row));
      continue;
    }
    if (s >= 0) atomicAdd(&slot_count[s], 1);
  }
}

// P threads of the block take the places of row `in`'s pairs (pos [P], shared).
__device__ __forceinline__ void take_places(const unsigned char* in, int row, WireRow wr, int P, int S,
                                            int32_t* cursor, int32_t* pair_pos, int32_t* pos) {
  const int32_t* slots = reinterpret_cast<const int32_t*>(in + wr.slot_offset);
  for (int p = threadIdx.x; p < P; p += blockDim.x) {
    const int32_t s = slots[p];
    const int32_t i = (s >= 0 && s < S) ? atomicAdd(&cursor[s], 1) : -1;
    pos[p] = i;
    pair_pos[static_cast<size_t>(row) * P + p] = i;
  }
  __syncthreads();
}

// One block per received row (grid-stride): P threads take places, then the
// block copies the row's x into each place (wire dtype = compute dtype).
__global__ void group_by_slot_kernel(const unsigned char* recv, int rows, WireRow wr, size_t x_row, int P, int S,
                                     int32_t* cursor, int32_t* pair_pos, unsigned char* xg) {
  extern __shared__ int32_t pos[];
  for (int row = blockIdx.x; row < rows; row += gridDim.x) {
    const unsigned char* in = recv + static_cast<size_t>(row) * wr.row_bytes;
    take_places(in, row, wr, P, S, cursor, pair_pos, pos);
    for (int p = 0; p < P; ++p)
      if (pos[p] >= 0) block_copy(xg + static_cast<size_t>(pos[p]) * x_row, in, x_row);
    __syncthreads();
  }
}

// The same where the wire dtype differs: each place gets x converted to the
// compute type Tc (wire_x_value: fp8 dequantized), as the host stores it.
template <typename Tc>
__global__ void group_by_slot_convert_kernel(const unsigned char* recv, int rows, WireRow wr, int H, int P, int S,
                                             int32_t* cursor, int32_t* pair_pos, Tc* xg) {
  extern __shared__ int32_t pos[];
  for (int row = blockIdx.x; row < rows; row += gridDim.x) {
    const unsigned char* in = recv + static_cast<size_t>(row) * wr.row_bytes;
    take_places(in, row, wr, P, S, cursor, pair_pos, pos);
    for (int p = 0; p < P; ++p) {
      if (pos[p] < 0) continue;
      Tc* dst = xg + static_cast<size_t>(pos[p]) * H;
      for (int c = threadIdx.x; c < H; c += blockDim.x) dst[c] = float_to_elem<Tc>(wire_x_value(in, wr, c));
    }
    __syncthreads();
  }
}

template <typename T>
__global__ void silu_kernel(T* h, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    h[i] = silu_elem(h[i]);
}

// y in the compute type T, the combine rows in To.
template <typename T, typename To>
__global__ void combine_partial_kernel(const unsigned char* recv, int rows, WireRow wr, int P, int H,
                                       const int32_t* pair_pos, const T* y, unsigned char* out, size_t out_row) {
  extern __shared__ unsigned char smem[];
  int32_t* pos = reinterpret_cast<int32_t*>(smem);
  float* w = reinterpret_cast<float*>(pos + P);
  for (int row = blockIdx.x; row < rows; row += gridDim.x) {
    const unsigned char* in = recv + static_cast<size_t>(row) * wr.row_bytes;
    for (int p = threadIdx.x; p < P; p += blockDim.x) {
      pos[p] = pair_pos[static_cast<size_t>(row) * P + p];
      w[p] = reinterpret_cast<const float*>(in + wr.weight_offset)[p];
    }
    __syncthreads();
    To* dst = reinterpret_cast<To*>(out + static_cast<size_t>(row) * out_row);
    for (int c = threadIdx.x; c < H; c += blockDim.x) dst[c] = float_to_elem<To>(partial_combine_elem(pos, w, P, y, H, c));
    // The padding up to 16 bytes is sent too: written, never left uninitialised.
    for (size_t b = sizeof(To) * H + threadIdx.x; b < out_row; b += blockDim.x)
      reinterpret_cast<unsigned char*>(dst)[b] = 0;
    __syncthreads();
  }
}

template <typename T>
__global__ void final_combine_kernel(const unsigned char* returned, const unsigned char* own, int32_t own_first,
                                     int32_t own_end, size_t row_bytes, int Tn, int H, int P, const int32_t* token_rows,
                                     float* out) {
  for (int t = blockIdx.x; t < Tn; t += gridDim.x) {
    const int32_t* rows = token_rows + static_cast<size_t>(t) * P;
    for (int c = threadIdx.x; c < H; c += blockDim.x)
      out[static_cast<size_t>(t) * H + c] =
          final_combine_elem<T>(rows, P, returned, own, own_first, own_end, row_bytes, c);
  }
}

// One block per row (grid-stride): src [H] fp32 stored as a combine row of To.
template <typename To>
__global__ void rows_from_f32_kernel(const float* src, int rows, int H, unsigned char* out, size_t out_row) {
  for (int row = blockIdx.x; row < rows; row += gridDim.x) {
    unsigned char* o = out + static_cast<size_t>(row) * out_row;
    To* dst = reinterpret_cast<To*>(o);
    for (int c = threadIdx.x; c < H; c += blockDim.x) dst[c] = float_to_elem<To>(src[static_cast<size_t>(row) * H + c]);
    for (size_t b = sizeof(To) * H + threadIdx.x; b < out_row; b += blockDim.x) o[b] = 0;
  }
}

__global__ void expert_weights_kernel(float* w, uint64_t seed, int layer, int expert, uint64_t n, float s1,
                                      float s2) {
  for (uint64_t i = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x; i < 2 * n;
       i += static_cast<uint64_t>(gridDim.x) * blockDim.x) {
    const bool first = i < n;
    w[i] = expert_weight(seed, layer, expert, first ? kMatrixW1 : kMatrixW2, first ? i : i - n, first ? s1 : s2);
  }
}

__global__ void to_bf16_kernel(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dst[i] = float_to_bf16(src[i]);
}

__global__ void to_f32_kernel(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dst[i] = bf16_to_float(src[i]);
}

int block_for_columns(int H) { return H >= 256 ? 256 : (H >= 128 ? 128 : 64); }

}  // namespace

void launch_count_slots(const void* recv_buf, int rows, int H, int P, DType wire, int S, int32_t* slot_count,
                        int32_t* first_bad, Stream stream) {
  WIDEEP_CUDA_CHECK(cudaMemsetAsync(slot_count, 0, sizeof(int32_t) * S, cs(stream)));
  WIDEEP_CUDA_CHECK(cudaMemsetAsync(first_bad, 0xff, sizeof(int32_t), cs(stream)));
  const int64_t n = static_cast<int64_t>(rows) * P;
  if (n == 0) return;
  count_slots_kernel<<<grid_for(n, 256, 1024), 256, 0, cs(stream)>>>(
      static_cast<const unsigned char*>(recv_buf), rows, wire_row(H, P, wire), P, S, slot_count, first_bad);
  WIDEEP_LAUNCH_CHECK();
}

void launch_group_by_slot(const void* recv_buf, int rows, int H, int P, DType wire, DType compute, int S,
                          const int32_t* slot_offset, int32_t* cursor, int32_t* pair_pos, void* x_grouped,
                          Stream stream) {
  WIDEEP_CUDA_CHECK(
      cudaMemcpyAsync(cursor, slot_offset, sizeof(int32_t) * S, cudaMemcpyDeviceToDevice, cs(stream)));
  if (rows == 0) return;
  const auto* in = static_cast<const unsigned char*>(recv_buf);
  const WireRow wr = wire_row(H, P, wire);
  const int grid = grid_for(rows, 1, 8192);
  const size_t smem = sizeof(int32_t) * P;
  if (wire == compute)
    group_by_slot_kernel<<<grid, 128, smem, cs(stream)>>>(in, rows, wr, static_cast<size_t>(H) * dtype_bytes(wire), P,
                                                          S, cursor, pair_pos, static_cast<unsigned char*>(x_grouped));
  else if (compute == DType::kF32)
    group_by_slot_convert_kernel<<<grid, 128, smem, cs(stream)>>>(in, rows, wr, H, P, S, cursor, pair_pos,
                                                                  static_cast<float*>(x_grouped));
  else
    group_by_slot_convert_kernel<<<grid, 128, smem, cs(stream)>>>(in, rows, wr, H, P, S, cursor, pair_pos,
                                                                  static_cast<uint16_t*>(x_grouped));
  WIDEEP_LAUNCH_CHECK();
}

void launch_silu(void* h, int64_t n, DType dtype, Stream stream) {
  if (n == 0) return;
  if (dtype == DType::kF32)
    silu_kernel<<<grid_for(n, 256), 256, 0, cs(stream)>>>(static_cast<float*>(h), n);
  else
    silu_kernel<<<grid_for(n, 256), 256, 0, cs(stream)>>>(static_cast<uint16_t*>(h), n);
  WIDEEP_LAUNCH_CHECK();
}

void launch_combine_partial(const void* recv_buf, int rows, int H, int P, DType wire, DType compute,
                            DType combine, const int32_t* pair_pos, const void* y_grouped, void* out_rows,
                            Stream stream) {
  if (rows == 0) return;
  const WireRow wr = wire_row(H, P, wire);
  const size_t smem = 8u * P, rrb = return_row_bytes(H, combine);
  const auto* in = static_cast<const unsigned char*>(recv_buf);
  auto* out = static_cast<unsigned char*>(out_rows);
  const int grid = grid_for(rows, 1, 8192), block = block_for_columns(H);
  const auto* yf = static_cast<const float*>(y_grouped);
  const auto* yb = static_cast<const uint16_t*>(y_grouped);
  const bool f32_out = combine == DType::kF32;
  if (compute == DType::kF32 && f32_out)
    combine_partial_kernel<float, float><<<grid, block, smem, cs(stream)>>>(in, rows, wr, P, H, pair_pos, yf, out, rrb);
  else if (compute == DType::kF32)
    combine_partial_kernel<float, uint16_t><<<grid, block, smem, cs(stream)>>>(in, rows, wr, P, H, pair_pos, yf, out,
                                                                              rrb);
  else if (f32_out)
    combine_partial_kernel<uint16_t, float><<<grid, block, smem, cs(stream)>>>(in, rows, wr, P, H, pair_pos, yb, out,
                                                                              rrb);
  else
    combine_partial_kernel<uint16_t, uint16_t><<<grid, block, smem, cs(stream)>>>(in, rows, wr, P, H, pair_pos, yb,
                                                                                 out, rrb);
  WIDEEP_LAUNCH_CHECK();
}

void launch_final_combine(const void* returned_rows, const void* own_rows, int32_t own_first, int32_t own_end,
                          int T, int H, int P, DType combine, const int32_t* token_rows, float* out, Stream stream) {
  if (T == 0) return;
  const auto* in = static_cast<const unsigned char*>(returned_rows);
  const auto* own = static_cast<const unsigned char*>(own_rows);
  const int grid = grid_for(T, 1, 8192), block = block_for_columns(H);
  const size_t rrb = return_row_bytes(H, combine);
  if (combine == DType::kF32)
    final_combine_kernel<float><<<grid, block, 0, cs(stream)>>>(in, own, own_first, own_end, rrb, T, H, P,
                                                                 token_rows, out);
  else
    final_combine_kernel<uint16_t><<<grid, block, 0, cs(stream)>>>(in, own, own_first, own_end, rrb, T, H, P,
                                                                    token_rows, out);
  WIDEEP_LAUNCH_CHECK();
}

void launch_rows_from_f32(const float* src, int rows, int H, DType combine, void* out_rows, Stream stream) {
  if (rows == 0) return;
  const int grid = grid_for(rows, 1, 8192), block = block_for_columns(H);
  const size_t rrb = return_row_bytes(H, combine);
  auto* out = static_cast<unsigned char*>(out_rows);
  if (combine == DType::kF32)
    rows_from_f32_kernel<float><<<grid, block, 0, cs(stream)>>>(src, rows, H, out, rrb);
  else
    rows_from_f32_kernel<uint16_t><<<grid, block, 0, cs(stream)>>>(src, rows, H, out, rrb);
  WIDEEP_LAUNCH_CHECK();
}

void launch_expert_weights(float* w, uint64_t seed, int layer, int expert, int H, int F, float s1, float s2,
                           Stream stream) {
  const uint64_t n = static_cast<uint64_t>(H) * F;
  expert_weights_kernel<<<grid_for(static_cast<int64_t>(2 * n), 256), 256, 0, cs(stream)>>>(w, seed, layer, expert,
                                                                                             n, s1, s2);
  WIDEEP_LAUNCH_CHECK();
}

void launch_to_bf16(const float* src, void* dst, int64_t n, Stream stream) {
  if (n == 0) return;
  to_bf16_kernel<<<grid_for(n, 256), 256, 0, cs(stream)>>>(src, static_cast<uint16_t*>(dst), n);
  WIDEEP_LAUNCH_CHECK();
}

void launch_to_f32(const void* src, DType dtype, float* dst, int64_t n, Stream stream) {
  if (n == 0) return;
  if (dtype == DType::kF32) {
    WIDEEP_CUDA_CHECK(cudaMemcpyAsync(dst, src, sizeof(float) * n, cudaMemcpyDeviceToDevice, cs(stream)));
    return;
  }
  to_f32_kernel<<<grid_for(n, 256), 256, 0, cs(stream)>>>(static_cast<const uint16_t*>(src), dst, n);
  WIDEEP_LAUNCH_CHECK();
}

}  // namespace dev
}  // namespace wideep
