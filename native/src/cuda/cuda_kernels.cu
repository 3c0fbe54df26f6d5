// CUDA implementation of parm/cuda.h: device buffers with pinned staging, and the coding ops on
// device memory with the CPU reference's float32 operation order (explicit _rn intrinsics and
// --fmad=false, so results equal the CPU bit for bit). Every CUDA error becomes a status with
// file:line and the CUDA message; nothing aborts.
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "../common/concat_args.h"
#include "../common/concat_geometry.h"
#include "../common/no_throw.h"
#include "parm/codec.h"
#include "parm/cuda.h"

namespace parm::cuda {

struct buffer {
  float* dev = nullptr;
  float* pinned = nullptr;  // host staging, allocated on first upload/download
  std::size_t n = 0;
  std::mutex m;             // serialises staging use
};

namespace {

constexpr std::size_t kMaxInputs = 64;  // k and r limit for the by-value kernel parameters

status_code code_of(cudaError_t e) {
  switch (e) {
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver: return status_code::no_device;
    case cudaErrorMemoryAllocation: return status_code::out_of_memory;
    default: return status_code::cuda_error;
  }
}

status cuda_status(cudaError_t e, const char* what, const char* file, int line) {
  return status::error(code_of(e),
                       std::string(file) + ":" + std::to_string(line) + ": " + what + ": " +
                           cudaGetErrorName(e) + ": " + cudaGetErrorString(e));
}

#define PARM_CUDA_TRY(call)                                               \
  do {                                                                    \
    cudaError_t parm_e_ = (call);                                         \
    if (parm_e_ != cudaSuccess) return cuda_status(parm_e_, #call, __FILE__, __LINE__); \
  } while (0)

std::mutex g_stream_mutex;
cudaStream_t g_stream = nullptr;

status stream(cudaStream_t* out) {
  std::lock_guard<std::mutex> lk(g_stream_mutex);
  if (!g_stream) PARM_CUDA_TRY(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking));
  *out = g_stream;
  return status::success();
}

status bad(std::string msg) { return status::error(status_code::invalid_argument, std::move(msg)); }

struct sum_params {
  const float* in[kMaxInputs];
  float w[kMaxInputs];
  int k;
  int weighted;
};

__global__ void encode_sum_kernel(sum_params p, std::size_t n, float* out) {
  for (std::size_t e = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    float acc = p.weighted ? __fmul_rn(p.w[0], p.in[0][e]) : p.in[0][e];
    for (int i = 1; i < p.k; ++i) acc = __fadd_rn(acc, p.weighted ? __fmul_rn(p.w[i], p.in[i][e]) : p.in[i][e]);
    out[e] = acc;
  }
}

// out = (p - sum_j w_j f_j) / d
struct sub_params {
  const float* f[kMaxInputs];
  float w[kMaxInputs];
  int m;
  float d;
};

__global__ void decode_sub_kernel(const float* p, sub_params s, std::size_t n, float* out) {
  for (std::size_t e = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    float acc = p[e];
    for (int j = 0; j < s.m; ++j) acc = __fsub_rn(acc, __fmul_rn(s.w[j], s.f[j][e]));
    out[e] = __fdiv_rn(acc, s.d);
  }
}

struct concat_params {
  const float* img[kMaxInputs];
  int k;
  image_shape shape;
  grid g;
};

// One thread per output element: concat_pixel_f32 (concat_geometry.h), which the ctest also runs
// on the host against the CPU reference.
__global__ void encode_concat_kernel(concat_params p, float* out) {
  const std::size_t n = p.shape.channels * p.shape.height * p.shape.width;
  for (std::size_t idx = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; idx < n;
       idx += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    out[idx] = concat_pixel_f32(p.img, static_cast<std::size_t>(p.k), p.shape, p.g, idx);
}

void launch_dims(std::size_t n, unsigned* blocks, unsigned* threads) {
  *threads = 256;
  std::size_t b = (n + 255) / 256;
  if (b > 65535u * 16u) b = 65535u * 16u;
  *blocks = static_cast<unsigned>(b ? b : 1);
}

status finish(cudaStream_t s, const char* file, int line) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return cuda_status(e, "kernel launch", file, line);
  e = cudaStreamSynchronize(s);
  if (e != cudaSuccess) return cuda_status(e, "cudaStreamSynchronize", file, line);
  return status::success();
}

}  // namespace

namespace {
info query_uncached() {
  info i;
  i.compiled = true;
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    std::string why = std::string("cudaGetDeviceCount: ") + cudaGetErrorName(e) + ": " + cudaGetErrorString(e);
    if (e == cudaErrorInsufficientDriver) {
      void* lib = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_NOLOAD);
      if (!lib) lib = dlopen("libcuda.so.1", RTLD_LAZY);
      if (!lib) why = "no NVIDIA driver on this machine (libcuda.so.1 not found); " + why;
      else dlclose(lib);
    }
    i.reason = "no CUDA device found (" + why + ")";
    cudaGetLastError();  // clear the sticky-free error state
    return i;
  }
  i.devices = count;
  if (count == 0) {
    i.reason = "no CUDA device found (cudaGetDeviceCount returned 0)";
    return i;
  }
  cudaDeviceProp prop;
  e = cudaGetDeviceProperties(&prop, 0);
  if (e != cudaSuccess) {
    i.reason = std::string("cudaGetDeviceProperties failed: ") + cudaGetErrorString(e);
    return i;
  }
  i.device_name = prop.name;
  i.available = true;
  return i;
}
}  // namespace

// Devices do not come and go while the process runs: ask the runtime once.
info query() {
  static const info cached = query_uncached();
  return cached;
}

status buffer_alloc(std::size_t n, buffer** out) {
  if (!out) return bad("out is null");
  *out = nullptr;
  if (n > SIZE_MAX / sizeof(float)) return status::error(status_code::out_of_memory, "buffer of " + std::to_string(n) + " floats");
  return no_throw("buffer_alloc", [&] {
    const info inf = query();
    if (!inf.available) return status::error(status_code::no_device, inf.reason);
    auto b = std::make_unique<buffer>();
    b->n = n;
    PARM_CUDA_TRY(cudaMalloc(&b->dev, n * sizeof(float)));
    *out = b.release();
    return status::success();
  });
}

void buffer_free(buffer* b) {
  if (!b) return;
  cudaStream_t s;
  if (stream(&s).ok()) cudaStreamSynchronize(s);
  if (b->dev) cudaFree(b->dev);
  if (b->pinned) cudaFreeHost(b->pinned);
  delete b;
}

std::size_t buffer_size(const buffer* b) { return b ? b->n : 0; }

namespace {

enum class direction { upload, download };

// One transfer through the buffer's pinned staging memory (allocated on first use), on the
// library's stream; returns when the data has arrived.
status staged_copy(buffer* b, float* host, std::size_t n, std::size_t at, direction d) {
  const char* what = d == direction::upload ? "upload" : "download";
  if (!b) return bad(std::string(what) + ": buffer is null");
  if (at > b->n || n > b->n - at) return bad(std::string(what) + " past the end of the device buffer");
  if (n == 0) return status::success();
  if (!host) return bad(std::string(what) + ": host pointer is null");
  std::lock_guard<std::mutex> lk(b->m);
  if (!b->pinned) PARM_CUDA_TRY(cudaMallocHost(&b->pinned, b->n * sizeof(float)));
  cudaStream_t s;
  status st = stream(&s);
  if (!st.ok()) return st;
  const std::size_t bytes = n * sizeof(float);
  if (d == direction::upload) {
    std::memcpy(b->pinned + at, host, bytes);
    PARM_CUDA_TRY(cudaMemcpyAsync(b->dev + at, b->pinned + at, bytes, cudaMemcpyHostToDevice, s));
    PARM_CUDA_TRY(cudaStreamSynchronize(s));
  } else {
    PARM_CUDA_TRY(cudaMemcpyAsync(b->pinned + at, b->dev + at, bytes, cudaMemcpyDeviceToHost, s));
    PARM_CUDA_TRY(cudaStreamSynchronize(s));
    std::memcpy(host, b->pinned + at, bytes);
  }
  return status::success();
}

}  // namespace

status buffer_upload(buffer* b, const float* host, std::size_t n, std::size_t at) {
  // The host data is only read on upload.
  return staged_copy(b, const_cast<float*>(host), n, at, direction::upload);
}

// The staging memory and its lock are not part of the buffer's logical (device) contents.
status buffer_download(const buffer* b, float* host, std::size_t n, std::size_t at) {
  return staged_copy(const_cast<buffer*>(b), host, n, at, direction::download);
}

status encode_sum_f32_cuda(const buffer* const* inputs, const float* weights, std::size_t k, buffer* out) {
  if (k == 0) return bad("k must be at least 1 (no inputs)");
  if (k > kMaxInputs) return bad("k = " + std::to_string(k) + " exceeds the CUDA limit of " + std::to_string(kMaxInputs));
  if (!out) return bad("out is null");
  const std::size_t n = out->n;
  sum_params p{};
  p.k = static_cast<int>(k);
  p.weighted = 0;
  for (std::size_t i = 0; i < k; ++i) {
    if (!inputs[i] || inputs[i]->n != n) return bad("inputs[" + std::to_string(i) + "] has the wrong length");
    p.in[i] = inputs[i]->dev;
    p.w[i] = weights ? weights[i] : 1.0f;
    if (p.w[i] != 1.0f) p.weighted = 1;
  }
  cudaStream_t s;
  status st = stream(&s);
  if (!st.ok()) return st;
  unsigned blocks, threads;
  launch_dims(n, &blocks, &threads);
  encode_sum_kernel<<<blocks, threads, 0, s>>>(p, n, out->dev);
  return finish(s, __FILE__, __LINE__);
}

status encode_concat_f32_cuda(const buffer* const* images, std::size_t k, const image_shape& shape, grid g,
                              buffer* out) {
  status st = check_concat_args(k, shape, &g);
  if (!st.ok()) return st;
  if (k > kMaxInputs) return bad("k = " + std::to_string(k) + " exceeds the CUDA limit of " + std::to_string(kMaxInputs));
  const std::size_t n = shape.channels * shape.height * shape.width;
  if (!out || out->n != n) return bad("out has the wrong length");
  concat_params p{};
  p.k = static_cast<int>(k);
  p.shape = shape;
  p.g = g;
  for (std::size_t i = 0; i < k; ++i) {
    if (!images[i] || images[i]->n != n) return bad("images[" + std::to_string(i) + "] has the wrong length");
    p.img[i] = images[i]->dev;
  }
  cudaStream_t s;
  st = stream(&s);
  if (!st.ok()) return st;
  unsigned blocks, threads;
  launch_dims(n, &blocks, &threads);
  encode_concat_kernel<<<blocks, threads, 0, s>>>(p, out->dev);
  return finish(s, __FILE__, __LINE__);
}

status copy_f32_cuda(const buffer* src, buffer* dst) {
  if (!src || !dst || src->n != dst->n) return bad("copy: src and dst must have the same length");
  cudaStream_t s;
  status st = stream(&s);
  if (!st.ok()) return st;
  PARM_CUDA_TRY(cudaMemcpyAsync(dst->dev, src->dev, src->n * sizeof(float), cudaMemcpyDeviceToDevice, s));
  PARM_CUDA_TRY(cudaStreamSynchronize(s));
  return status::success();
}

status decode_f32_cuda(const buffer* const* parity, std::size_t r, const buffer* const* data, std::size_t k,
                       const float* coeff, buffer* const* outs, std::size_t n_outs) {
  if (r == 0 || !parity[0]) return bad("at least one parity output is required");
  if (k > kMaxInputs) return bad("k exceeds the CUDA limit of " + std::to_string(kMaxInputs));
  const std::size_t n = parity[0]->n;
  bool present[kMaxInputs];
  for (std::size_t j = 0; j < k; ++j) present[j] = data[j] != nullptr;
  decode_plan plan;
  status st = plan_decode(r, present, k, coeff, n_outs, &plan);
  if (!st.ok()) return st;
  const std::size_t m = plan.missing.size();
  if (m == 0) return status::success();
  for (std::size_t i = 0; i < r; ++i)
    if (!parity[i] || parity[i]->n != n) return bad("parityOutputs[" + std::to_string(i) + "] has the wrong length");
  for (std::size_t j = 0; j < k; ++j)
    if (data[j] && data[j]->n != n) return bad("dataOutputs[" + std::to_string(j) + "] has the wrong length");
  for (std::size_t i = 0; i < m; ++i)
    if (!outs[i] || outs[i]->n != n) return bad("outs[" + std::to_string(i) + "] has the wrong length");
  cudaStream_t s;
  st = stream(&s);
  if (!st.ok()) return st;
  unsigned blocks, threads;
  launch_dims(n, &blocks, &threads);
  sub_params sp{};
  sp.m = static_cast<int>(plan.present.size());
  for (std::size_t t = 0; t < plan.present.size(); ++t) sp.f[t] = data[plan.present[t]]->dev;
  if (m == 1) {
    for (std::size_t t = 0; t < plan.present.size(); ++t) sp.w[t] = plan.row_weights[0][t];
    sp.d = plan.divisor;
    decode_sub_kernel<<<blocks, threads, 0, s>>>(parity[plan.rows[0]]->dev, sp, n, outs[0]->dev);
    return finish(s, __FILE__, __LINE__);
  }
  // Residuals into scratch device memory, then outs[i] = sum_a inverse[i][a] * residual_a.
  float* scratch = nullptr;
  PARM_CUDA_TRY(cudaMallocAsync(&scratch, m * n * sizeof(float), s));
  sp.d = 1.0f;
  for (std::size_t a = 0; a < m; ++a) {
    for (std::size_t t = 0; t < plan.present.size(); ++t) sp.w[t] = plan.row_weights[a][t];
    decode_sub_kernel<<<blocks, threads, 0, s>>>(parity[plan.rows[a]]->dev, sp, n, scratch + a * n);
  }
  for (std::size_t i = 0; i < m; ++i) {
    sum_params p{};
    p.k = static_cast<int>(m);
    p.weighted = 1;
    for (std::size_t a = 0; a < m; ++a) {
      p.in[a] = scratch + a * n;
      p.w[a] = plan.inverse[i * m + a];
    }
    encode_sum_kernel<<<blocks, threads, 0, s>>>(p, n, outs[i]->dev);
  }
  cudaFreeAsync(scratch, s);
  return finish(s, __FILE__, __LINE__);
}

}  // namespace parm::cuda
