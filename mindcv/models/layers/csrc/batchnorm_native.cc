// BatchNorm over NCHW float32 as MindSpore AOT custom operators:
//
//   bn_infer(x, gamma, beta, mean, var, eps) -> y = x * scale[c] + shift[c],
//       scale = gamma / sqrt(var + eps), shift = beta - mean * scale        (inference: one pass)
//   bn_train_fwd(x, gamma, beta, moving_mean, moving_var, cfg = [eps, decay]) -> y,
//       stats (2, C) = [batch mean, biased batch variance],
//       new moving mean (C) = decay * moving_mean + (1 - decay) * mean,
//       new moving variance (C) = decay * moving_var + (1 - decay) * unbiased variance   (MindSpore's update)
//   bn_train_bwd(x, dy, gamma, stats, cfg) -> dx, d gamma (C), d beta (C)
//
// Every per-channel result is an output of its own, so the graph takes them without slicing: each graph
// node costs MindSpore 2.10 a few hundred KB of compile-time memory for the whole run.
//
// Why: MindSpore 2.10 runs BatchNorm on CPU through oneDNN's plain-layout `ncsp_bnorm` kernels, which
// took about a quarter of MixNet-S's time, forward and backward. Training works on chunks of channels
// (one channel for large planes, many for tiny ones), sample by sample: the chunk's planes are read once
// for the statistics (double sums) and again, mostly from cache, to write the output; the backward reads x and dy for the two sums, then again for
// dx = gamma * inv / M * (M * dy - sum(dy) - xhat * sum(dy * xhat)),  inv = 1 / sqrt(var + eps),
// xhat = (x - mean) * inv, M = N * H * W.
#include <cmath>

#include "native_common.h"

namespace mindcv_native {
namespace {

bool FloatParams(int nparam, const char **dtypes) {
  for (int i = 0; i < nparam; ++i) {
    if (!IsType(dtypes[i], "float32")) return false;
  }
  return true;
}

struct Planes {
  int64_t n, c, size;  // samples, channels, floats per plane
};

Planes PlanesOf(int ndim, const int64_t *shape) {
  Planes p{shape[0], shape[1], 1};
  for (int i = 2; i < ndim; ++i) p.size *= shape[i];
  return p;
}

// Per channel of [begin, end): first[c - begin] = sum of a, second[c - begin] = sum of a * b (b = a when
// null) over the channel's planes, sample by sample (channels of one sample are adjacent in memory: tiny
// planes are read contiguously). Float partial sums over blocks (vectorised), accumulated in double.
void ChannelSums(const Planes &p, const float *a, const float *b, int64_t begin, int64_t end, double *first,
                 double *second) {
  std::fill(first, first + (end - begin), 0.0);
  std::fill(second, second + (end - begin), 0.0);
  for (int64_t n = 0; n < p.n; ++n) {
    for (int64_t c = begin; c < end; ++c) {
      const int64_t offset = (n * p.c + c) * p.size;
      const float *u = a + offset, *v = (b ? b : a) + offset;
      for (int64_t i0 = 0; i0 < p.size; i0 += 4096) {
        const int64_t i1 = std::min(p.size, i0 + 4096);
        float s = 0.0f, q = 0.0f;
#pragma omp simd reduction(+ : s, q)
        for (int64_t i = i0; i < i1; ++i) {
          s += u[i];
          q += u[i] * v[i];
        }
        first[c - begin] += s;
        second[c - begin] += q;
      }
    }
  }
}

// Channels per chunk handed to a thread: about 64K floats of a channel-chunk's planes (one channel when
// its planes are larger), so threads take many channels of tiny planes at a time.
inline int64_t ChannelGrain(const Planes &p) {
  return std::max<int64_t>(1, 65536 / std::max<int64_t>(p.n * p.size, 1));
}

void Affine(const float *src, float scale, float shift, int64_t size, float *dst) {
#pragma omp simd
  for (int64_t i = 0; i < size; ++i) dst[i] = src[i] * scale + shift;
}

// params = x, gamma, beta, mean, var, eps (1), y.
int Infer(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes) {
  if (nparam != 7 || !FloatParams(nparam, dtypes) || ndims[0] < 2) return 1;
  const Planes p = PlanesOf(ndims[0], shapes[0]);
  for (int i = 1; i <= 4; ++i) {
    if (ndims[i] != 1 || shapes[i][0] != p.c) return 1;
  }
  const float *x = static_cast<const float *>(params[0]);
  const float *gamma = static_cast<const float *>(params[1]), *beta = static_cast<const float *>(params[2]);
  const float *mean = static_cast<const float *>(params[3]), *var = static_cast<const float *>(params[4]);
  const float eps = *static_cast<const float *>(params[5]);
  float *y = static_cast<float *>(params[6]);
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(p.size, 1));
  ThreadPool::Instance().ParallelFor(p.n * p.c, grain, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t c = plane % p.c;
      const float scale = gamma[c] / std::sqrt(var[c] + eps);
      Affine(x + plane * p.size, scale, beta[c] - mean[c] * scale, p.size, y + plane * p.size);
    }
  });
  return 0;
}

// params = x, gamma, beta, moving_mean, moving_var, cfg (2), y, stats (2, C), new_mean (C), new_var (C).
int TrainForward(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes) {
  if (nparam != 10 || !FloatParams(nparam, dtypes) || ndims[0] < 2) return 1;
  const Planes p = PlanesOf(ndims[0], shapes[0]);
  for (int i = 1; i <= 4; ++i) {
    if (ndims[i] != 1 || shapes[i][0] != p.c) return 1;
  }
  if (shapes[5][0] != 2 || ndims[7] != 2 || shapes[7][1] != p.c) return 1;
  for (int i = 8; i <= 9; ++i) {
    if (ndims[i] != 1 || shapes[i][0] != p.c) return 1;
  }
  const float *x = static_cast<const float *>(params[0]);
  const float *gamma = static_cast<const float *>(params[1]), *beta = static_cast<const float *>(params[2]);
  const float *moving_mean = static_cast<const float *>(params[3]);
  const float *moving_var = static_cast<const float *>(params[4]);
  const float eps = static_cast<const float *>(params[5])[0], decay = static_cast<const float *>(params[5])[1];
  float *y = static_cast<float *>(params[6]), *stats = static_cast<float *>(params[7]);
  float *new_mean = static_cast<float *>(params[8]), *new_var = static_cast<float *>(params[9]);
  const double count = static_cast<double>(p.n * p.size);
  const double unbias = count > 1 ? count / (count - 1) : 1.0;
  ThreadPool::Instance().ParallelFor(p.c, ChannelGrain(p), [&](int64_t begin, int64_t end) {
    double *sums = Scratch<double, 0>(2 * (end - begin));
    float *coef = Scratch<float, 1>(2 * (end - begin));  // scale, shift per channel
    const int64_t m = end - begin;
    ChannelSums(p, x, nullptr, begin, end, sums, sums + m);
    for (int64_t c = begin; c < end; ++c) {
      const double mean = sums[c - begin] / count;
      const double var = std::max(sums[m + c - begin] / count - mean * mean, 0.0);
      stats[c] = static_cast<float>(mean);
      stats[p.c + c] = static_cast<float>(var);
      new_mean[c] = static_cast<float>(decay * moving_mean[c] + (1.0 - decay) * mean);
      new_var[c] = static_cast<float>(decay * moving_var[c] + (1.0 - decay) * var * unbias);
      const double scale = gamma[c] / std::sqrt(var + eps);
      coef[c - begin] = static_cast<float>(scale);
      coef[m + c - begin] = static_cast<float>(beta[c] - mean * scale);
    }
    for (int64_t n = 0; n < p.n; ++n) {
      for (int64_t c = begin; c < end; ++c) {
        const int64_t offset = (n * p.c + c) * p.size;
        Affine(x + offset, coef[c - begin], coef[m + c - begin], p.size, y + offset);
      }
    }
  });
  return 0;
}

// params = x, dy, gamma, stats (2, C), cfg ([eps, ...]), dx, d gamma (C), d beta (C).
int TrainBackward(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes) {
  if (nparam != 8 || !FloatParams(nparam, dtypes) || ndims[0] < 2) return 1;
  const Planes p = PlanesOf(ndims[0], shapes[0]);
  if (shapes[2][0] != p.c || ndims[3] != 2 || shapes[3][1] != p.c || ndims[4] != 1 || shapes[4][0] < 1) return 1;
  for (int i = 6; i <= 7; ++i) {
    if (ndims[i] != 1 || shapes[i][0] != p.c) return 1;
  }
  const float *x = static_cast<const float *>(params[0]), *dy = static_cast<const float *>(params[1]);
  const float *gamma = static_cast<const float *>(params[2]), *stats = static_cast<const float *>(params[3]);
  const float eps = *static_cast<const float *>(params[4]);
  float *dx = static_cast<float *>(params[5]);
  float *d_gamma = static_cast<float *>(params[6]), *d_beta = static_cast<float *>(params[7]);
  const double count = static_cast<double>(p.n * p.size);
  ThreadPool::Instance().ParallelFor(p.c, ChannelGrain(p), [&](int64_t begin, int64_t end) {
    const int64_t m = end - begin;
    double *sums = Scratch<double, 0>(2 * m);  // sum dy, sum dy * x per channel
    float *coef = Scratch<float, 1>(3 * m);     // a, b, d per channel
    ChannelSums(p, dy, x, begin, end, sums, sums + m);
    for (int64_t c = begin; c < end; ++c) {
      const double sum_dy = sums[c - begin], sum_dyx = sums[m + c - begin];
      const double mean = stats[c], inv = 1.0 / std::sqrt(static_cast<double>(stats[p.c + c]) + eps);
      const double sum_dy_xhat = inv * (sum_dyx - mean * sum_dy);
      d_gamma[c] = static_cast<float>(sum_dy_xhat);
      d_beta[c] = static_cast<float>(sum_dy);
      // dx = k * (M * dy - sum_dy - xhat * sum_dy_xhat) = a * dy + b * x + d
      const double k = gamma[c] * inv / count;
      coef[c - begin] = static_cast<float>(k * count);
      coef[m + c - begin] = static_cast<float>(-k * sum_dy_xhat * inv);
      coef[2 * m + c - begin] = static_cast<float>(-k * sum_dy + k * sum_dy_xhat * inv * mean);
    }
    for (int64_t n = 0; n < p.n; ++n) {
      for (int64_t c = begin; c < end; ++c) {
        const int64_t offset = (n * p.c + c) * p.size;
        const float *xs = x + offset, *g = dy + offset;
        const float a = coef[c - begin], b = coef[m + c - begin], d = coef[2 * m + c - begin];
        float *out = dx + offset;
#pragma omp simd
        for (int64_t i = 0; i < p.size; ++i) out[i] = a * g[i] + b * xs[i] + d;
      }
    }
  });
  return 0;
}

}  // namespace
}  // namespace mindcv_native

extern "C" int bn_infer(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *,
                        void *) {
  return mindcv_native::Infer(nparam, params, ndims, shapes, dtypes);
}

extern "C" int bn_train_fwd(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *,
                            void *) {
  return mindcv_native::TrainForward(nparam, params, ndims, shapes, dtypes);
}

extern "C" int bn_train_bwd(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *,
                            void *) {
  return mindcv_native::TrainBackward(nparam, params, ndims, shapes, dtypes);
}
