// Expert-side kernels of the device path: un-permute received wire rows into
// per-local-slot contiguous blocks, SiLU, the partial combine on the expert
// rank, the final combine into token rows, and the weight generator.
//
// Expert buffers (device):
//   slot_count [S], slot_offset [S+1]  pairs per local slot, exclusive prefix
//   pair_pos [rows*P]   index of (row, p) in the grouped buffers, or -1
//   pair_row [pairs]    received row of each grouped pair
//   x_grouped [pairs x H], h [pairs x F], y [pairs x H]   dtype, dense (ld = H, F, H)
//   out_rows [rows x return_row_bytes]                    dtype, the combine's send rows
#include "kernels/det_values.h"
#include "kernels/device_common.cuh"

namespace wideep {
namespace dev {
namespace {

__global__ void count_slots_kernel(const unsigned char* recv, int rows, WireRow wr, int P, int S,
                                   int32_t* slot_count, int32_t* error) {
  const int64_t n = static_cast<int64_t>(rows) * P;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = i / P;
    const int p = static_cast<int>(i - row * P);
    const int32_t s =
        reinterpret_cast<const int32_t*>(recv + static_cast<size_t>(row) * wr.row_bytes + wr.slot_offset)[p];
    if (s < 0) continue;
    if (s >= S) {
      atomicCAS(error, 0, static_cast<int32_t>(row) + 1);
      continue;
    }
    atomicAdd(&slot_count[s], 1);
  }
}

// One thread: S is at most a few thousand local slots.
__global__ void scan_slots_kernel(const int32_t* count, int S, int32_t* offset) {
  if (threadIdx.x != 0 || blockIdx.x != 0) return;
  int32_t o = 0;
  for (int s = 0; s < S; ++s) {
    offset[s] = o;
    o += count[s];
  }
  offset[S] = o;
}

// One block per received row (grid-stride): P threads take places, then the
// block copies the row's x into each place.
__global__ void group_by_slot_kernel(const unsigned char* recv, int rows, WireRow wr, size_t x_row,
                                     int P, int S, int32_t* cursor, int32_t* pair_pos,
                                     int32_t* pair_row, unsigned char* xg) {
  extern __shared__ int32_t pos[];
  for (int row = blockIdx.x; row < rows; row += gridDim.x) {
    const unsigned char* in = recv + static_cast<size_t>(row) * wr.row_bytes;
    const int32_t* slots = reinterpret_cast<const int32_t*>(in + wr.slot_offset);
    for (int p = threadIdx.x; p < P; p += blockDim.x) {
      const int32_t s = slots[p];
      const int32_t i = (s >= 0 && s < S) ? atomicAdd(&cursor[s], 1) : -1;
      pos[p] = i;
      pair_pos[static_cast<size_t>(row) * P + p] = i;
      if (i >= 0) pair_row[i] = row;
    }
    __syncthreads();
    for (int p = 0; p < P; ++p)
      if (pos[p] >= 0) block_copy(xg + static_cast<size_t>(pos[p]) * x_row, in, x_row);
    __syncthreads();
  }
}

template <typename T>
__global__ void silu_kernel(T* h, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float v = to_f(h[i]);
    h[i] = from_f<T>(v / (1.0f + expf(-v)));
  }
}

template <typename T>
__global__ void combine_partial_kernel(const unsigned char* recv, int rows, WireRow wr, int P, int H,
                                       const int32_t* pair_pos, const T* y, unsigned char* out,
                                       size_t out_row) {
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
    T* dst = reinterpret_cast<T*>(out + static_cast<size_t>(row) * out_row);
    for (int c = threadIdx.x; c < H; c += blockDim.x) {
      float acc = 0.0f;
      for (int p = 0; p < P; ++p)
        if (pos[p] >= 0) acc += w[p] * to_f(y[static_cast<size_t>(pos[p]) * H + c]);
      dst[c] = from_f<T>(acc);
    }
    __syncthreads();
  }
}

template <typename T>
__global__ void combine_rows_kernel(const unsigned char* returned, size_t row_bytes, int Tn, int H,
                                    int R, const int32_t* token_row, float* out) {
  for (int t = blockIdx.x; t < Tn; t += gridDim.x) {
    const int32_t* rows = token_row + static_cast<size_t>(t) * R;
    for (int c = threadIdx.x; c < H; c += blockDim.x) {
      float acc = 0.0f;
      for (int r = 0; r < R; ++r) {
        const int32_t row = rows[r];
        if (row >= 0) acc += to_f(reinterpret_cast<const T*>(returned + static_cast<size_t>(row) * row_bytes)[c]);
      }
      out[static_cast<size_t>(t) * H + c] = acc;
    }
  }
}

__global__ void expert_weights_kernel(float* w, uint64_t seed, int layer, int expert, uint64_t n,
                                      float s1, float s2) {
  for (uint64_t i = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x; i < 2 * n;
       i += static_cast<uint64_t>(gridDim.x) * blockDim.x) {
    const bool first = i < n;
    w[i] = expert_weight(seed, layer, expert, first ? kMatrixW1 : kMatrixW2, first ? i : i - n,
                         first ? s1 : s2);
  }
}

__global__ void to_bf16_kernel(const float* src, __nv_bfloat16* dst, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dst[i] = __float2bfloat16_rn(src[i]);
}

__global__ void to_f32_kernel(const __nv_bfloat16* src, float* dst, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dst[i] = __bfloat162float(src[i]);
}

int block_for_columns(int H) { return H >= 256 ? 256 : (H >= 128 ? 128 : 64); }

}  // namespace

void launch_count_slots(const void* recv_buf, int rows, int H, int P, DType dtype, int S,
                        int32_t* slot_count, int32_t* slot_offset, int32_t* error, Stream stream) {
  WIDEEP_CUDA_CHECK(cudaMemsetAsync(slot_count, 0, sizeof(int32_t) * S, cs(stream)));
  WIDEEP_CUDA_CHECK(cudaMemsetAsync(error, 0, sizeof(int32_t), cs(stream)));
  const int64_t n = static_cast<int64_t>(rows) * P;
  if (n > 0) {
    count_slots_kernel<<<grid_for(n, 256, 1024), 256, 0, cs(stream)>>>(
        static_cast<const unsigned char*>(recv_buf), rows, wire_row(H, P, dtype), P, S, slot_count, error);
    WIDEEP_LAUNCH_CHECK();
  }
  scan_slots_kernel<<<1, 32, 0, cs(stream)>>>(slot_count, S, slot_offset);
  WIDEEP_LAUNCH_CHECK();
}

void launch_group_by_slot(const void* recv_buf, int rows, int H, int P, DType dtype, int S,
                          const int32_t* slot_offset, int32_t* cursor, int32_t* pair_pos,
                          int32_t* pair_row, void* x_grouped, Stream stream) {
  WIDEEP_CUDA_CHECK(cudaMemcpyAsync(cursor, slot_offset, sizeof(int32_t) * S, cudaMemcpyDeviceToDevice,
                                    cs(stream)));
  if (rows == 0) return;
  group_by_slot_kernel<<<grid_for(rows, 1, 8192), 128, sizeof(int32_t) * P, cs(stream)>>>(
      static_cast<const unsigned char*>(recv_buf), rows, wire_row(H, P, dtype),
      static_cast<size_t>(H) * dtype_bytes(dtype), P, S, cursor, pair_pos, pair_row,
      static_cast<unsigned char*>(x_grouped));
  WIDEEP_LAUNCH_CHECK();
}

void launch_silu(void* h, int64_t n, DType dtype, Stream stream) {
  if (n == 0) return;
  if (dtype == DType::kF32)
    silu_kernel<<<grid_for(n, 256), 256, 0, cs(stream)>>>(static_cast<float*>(h), n);
  else
    silu_kernel<<<grid_for(n, 256), 256, 0, cs(stream)>>>(static_cast<__nv_bfloat16*>(h), n);
  WIDEEP_LAUNCH_CHECK();
}

void launch_combine_partial(const void* recv_buf, int rows, int H, int P, DType dtype,
                            const int32_t* pair_pos, const void* y_grouped, void* out_rows,
                            Stream stream) {
  if (rows == 0) return;
  const WireRow wr = wire_row(H, P, dtype);
  const size_t smem = 8u * P;
  const auto* in = static_cast<const unsigned char*>(recv_buf);
  auto* out = static_cast<unsigned char*>(out_rows);
  const int grid = grid_for(rows, 1, 8192), block = block_for_columns(H);
  if (dtype == DType::kF32)
    combine_partial_kernel<<<grid, block, smem, cs(stream)>>>(
        in, rows, wr, P, H, pair_pos, static_cast<const float*>(y_grouped), out, return_row_bytes(H, dtype));
  else
    combine_partial_kernel<<<grid, block, smem, cs(stream)>>>(
        in, rows, wr, P, H, pair_pos, static_cast<const __nv_bfloat16*>(y_grouped), out,
        return_row_bytes(H, dtype));
  WIDEEP_LAUNCH_CHECK();
}

void launch_combine_rows(const void* returned_rows, int T, int H, int R, DType dtype,
                         const int32_t* token_row, float* out, Stream stream) {
  if (T == 0) return;
  const auto* in = static_cast<const unsigned char*>(returned_rows);
  const int grid = grid_for(T, 1, 8192), block = block_for_columns(H);
  if (dtype == DType::kF32)
    combine_rows_kernel<float><<<grid, block, 0, cs(stream)>>>(in, return_row_bytes(H, dtype), T, H, R,
                                                                token_row, out);
  else
    combine_rows_kernel<__nv_bfloat16><<<grid, block, 0, cs(stream)>>>(in, return_row_bytes(H, dtype), T,
                                                                        H, R, token_row, out);
  WIDEEP_LAUNCH_CHECK();
}

void launch_expert_weights(float* w, uint64_t seed, int layer, int expert, int H, int F, float s1,
                           float s2, Stream stream) {
  const uint64_t n = static_cast<uint64_t>(H) * F;
  expert_weights_kernel<<<grid_for(static_cast<int64_t>(2 * n), 256), 256, 0, cs(stream)>>>(
      w, seed, layer, expert, n, s1, s2);
  WIDEEP_LAUNCH_CHECK();
}

void launch_to_bf16(const float* src, void* dst, int64_t n, Stream stream) {
  if (n == 0) return;
  to_bf16_kernel<<<grid_for(n, 256), 256, 0, cs(stream)>>>(src, static_cast<__nv_bfloat16*>(dst), n);
  WIDEEP_LAUNCH_CHECK();
}

void launch_to_f32(const void* src, DType dtype, float* dst, int64_t n, Stream stream) {
  if (n == 0) return;
  if (dtype == DType::kF32) {
    WIDEEP_CUDA_CHECK(cudaMemcpyAsync(dst, src, sizeof(float) * n, cudaMemcpyDeviceToDevice, cs(stream)));
    return;
  }
  to_f32_kernel<<<grid_for(n, 256), 256, 0, cs(stream)>>>(static_cast<const __nv_bfloat16*>(src), dst, n);
  WIDEEP_LAUNCH_CHECK();
}

}  // namespace dev
}  // namespace wideep
