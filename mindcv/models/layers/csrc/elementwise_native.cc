// Element-wise CPU operators (MindSpore AOT custom ops, float32), each one pass over memory:
//
//   swish_fwd(x) = x * sigmoid(x)
//   swish_bwd(x, dy) = dy * s * (1 + x * (1 - s)),  s = sigmoid(x)
//   channel_scale(x (N, C, H, W), g (N, C, 1, 1)) = x * g   (squeeze-excite's gate; also its dx = dy * g)
//   channel_dot(x, dy) (N, C, 1, 1) = sum over H, W of x * dy  (the gate's gradient)
//
// MindSpore 2.10's CPU Mul broadcasting g over H x W keeps two size_t indices per output element for the
// whole run (16 bytes for each 4-byte float: ~0.6 GiB in MixNet-S's training graph at 224 x 224, batch 16).
//
// Why: in MindSpore 2.10 on CPU, inference BatchNorm runs oneDNN's plain-layout `ncsp_bnorm`, and Swish is
// two kernels (Sigmoid, Mul) plus four in its backward; together they took about half of MixNet-S's
// inference time at 224 x 224 while each is a memory-bound pass. exp() is a vectorised Cephes-style
// polynomial (relative error ~2e-7), so the loops run 8 floats per instruction.
#include <cmath>

#include "native_common.h"

namespace mindcv_native {
namespace {

typedef int32_t IVec __attribute__((vector_size(32)));

inline Vec Splat(float v) { return Vec{v, v, v, v, v, v, v, v}; }

inline Vec Exp(Vec x) { return ExpVector<Vec, IVec>(x); }

inline Vec Sigmoid(Vec x) { return Splat(1.0f) / (Splat(1.0f) + Exp(-x)); }

inline void Store(const Vec &v, float *dst) { std::memcpy(dst, &v, sizeof(Vec)); }

// Applies f to [0, n) of the arrays in whole vectors, the tail through zero-padded copies.
template <int IN, typename F>
void MapVectors(int64_t n, const float *const (&inputs)[IN], float *out, F f) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    Vec v[IN];
    for (int k = 0; k < IN; ++k) v[k] = Load(inputs[k] + i);
    Store(f(v), out + i);
  }
  if (i < n) {
    float buf[IN][kLanes] = {}, res[kLanes];
    for (int k = 0; k < IN; ++k) std::memcpy(buf[k], inputs[k] + i, sizeof(float) * (n - i));
    Vec v[IN];
    for (int k = 0; k < IN; ++k) v[k] = Load(buf[k]);
    Store(f(v), res);
    std::memcpy(out + i, res, sizeof(float) * (n - i));
  }
}

constexpr int64_t kChunk = 16384;  // floats per parallel work item

int64_t Elements(int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < ndim; ++i) n *= shape[i];
  return n;
}

bool AllFloat(int nparam, const char **dtypes) {
  for (int i = 0; i < nparam; ++i) {
    if (!IsType(dtypes[i], "float32")) return false;
  }
  return true;
}

template <int IN, typename F>
int Map(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, F f) {
  if (nparam != IN + 1 || !AllFloat(nparam, dtypes)) return 1;
  const int64_t n = Elements(ndims[0], shapes[0]);
  for (int k = 1; k <= IN; ++k) {
    if (Elements(ndims[k], shapes[k]) != n) return 1;
  }
  ThreadPool::Instance().ParallelFor((n + kChunk - 1) / kChunk, 1, [&](int64_t begin, int64_t end) {
    const int64_t lo = begin * kChunk, hi = std::min(n, end * kChunk);
    const float *inputs[IN];
    for (int k = 0; k < IN; ++k) inputs[k] = static_cast<const float *>(params[k]) + lo;
    MapVectors<IN>(hi - lo, inputs, static_cast<float *>(params[IN]) + lo, f);
  });
  return 0;
}

// Planes (N x C of them) and floats per plane of an (N, C, ...) tensor and a gate of N x C values.
bool ChannelShapes(int nparam, int *ndims, int64_t **shapes, const char **dtypes, int64_t *planes, int64_t *size) {
  if (nparam != 3 || !AllFloat(nparam, dtypes) || ndims[0] < 2) return false;
  *planes = shapes[0][0] * shapes[0][1];
  *size = Elements(ndims[0], shapes[0]) / std::max<int64_t>(*planes, 1);
  return true;
}

// body(first plane, last plane) over [0, planes) in chunks of about kChunk floats.
template <typename F>
void ForPlanes(int64_t planes, int64_t size, F body) {
  ThreadPool::Instance().ParallelFor(planes, std::max<int64_t>(1, kChunk / std::max<int64_t>(size, 1)), body);
}

}  // namespace
}  // namespace mindcv_native

using mindcv_native::Vec;

// params = x, y.
extern "C" int swish_fwd(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *,
                         void *) {
  return mindcv_native::Map<1>(nparam, params, ndims, shapes, dtypes,
                               [](const Vec *v) { return v[0] * mindcv_native::Sigmoid(v[0]); });
}

// params = x, dy, dx.
extern "C" int swish_bwd(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *,
                         void *) {
  return mindcv_native::Map<2>(nparam, params, ndims, shapes, dtypes, [](const Vec *v) {
    const Vec s = mindcv_native::Sigmoid(v[0]);
    const Vec one = mindcv_native::Splat(1.0f);
    return v[1] * s * (one + v[0] * (one - s));
  });
}

// params = x (N, C, ...), g (N, C, 1, 1), y = x * g[n, c].
extern "C" int channel_scale(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *,
                             void *) {
  int64_t planes, size;
  if (!mindcv_native::ChannelShapes(nparam, ndims, shapes, dtypes, &planes, &size) ||
      mindcv_native::Elements(ndims[1], shapes[1]) != planes) {
    return 1;
  }
  const float *x = static_cast<const float *>(params[0]), *g = static_cast<const float *>(params[1]);
  float *y = static_cast<float *>(params[2]);
  mindcv_native::ForPlanes(planes, size, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const float scale = g[p];
      const float *src = x + p * size;
      float *dst = y + p * size;
#pragma omp simd
      for (int64_t i = 0; i < size; ++i) dst[i] = src[i] * scale;
    }
  });
  return 0;
}

// params = x (N, C, ...), dy (x's shape), out (N, C, 1, 1) = sum over the plane of x * dy.
extern "C" int channel_dot(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *,
                           void *) {
  int64_t planes, size;
  if (!mindcv_native::ChannelShapes(nparam, ndims, shapes, dtypes, &planes, &size) ||
      mindcv_native::Elements(ndims[1], shapes[1]) != planes * size ||
      mindcv_native::Elements(ndims[2], shapes[2]) != planes) {
    return 1;
  }
  const float *x = static_cast<const float *>(params[0]), *dy = static_cast<const float *>(params[1]);
  float *out = static_cast<float *>(params[2]);
  mindcv_native::ForPlanes(planes, size, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const float *a = x + p * size, *b = dy + p * size;
      double sum = 0.0;  // float partial sums over blocks (vectorised), accumulated in double
      for (int64_t i0 = 0; i0 < size; i0 += 4096) {
        const int64_t i1 = std::min(size, i0 + 4096);
        float block = 0.0f;
#pragma omp simd reduction(+ : block)
        for (int64_t i = i0; i < i1; ++i) block += a[i] * b[i];
        sum += block;
      }
      out[p] = static_cast<float>(sum);
    }
  });
  return 0;
}
