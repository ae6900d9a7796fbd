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
// took about a quarter of MixNet-S's time, forward and backward. Training works channel by channel: the
// channel's N planes are read once for the statistics (double sums) and again, mostly from cache, to
// write the output; the backward reads x and dy for the two sums, then again for
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

// Channel c's sum and sum of squares over its planes.
void ChannelSums(const Planes &p, const float *x, int64_t c, double *sum, double *squares) {
  double s = 0.0, q = 0.0;
  for (int64_t n = 0; n < p.n; ++n) {
    const float *src = x + (n * p.c + c) * p.size;
    for (int64_t i0 = 0; i0 < p.size; i0 += 4096) {
      const int64_t i1 = std::min(p.size, i0 + 4096);
      float bs = 0.0f, bq = 0.0f;
#pragma omp simd reduction(+ : bs, bq)
      for (int64_t i = i0; i < i1; ++i) {
        bs += src[i];
        bq += src[i] * src[i];
      }
      s += bs;  // float partial sums over blocks (vectorised), accumulated in double
      q += bq;
    }
  }
  *sum = s;
  *squares = q;
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
  ParallelItems(p.c, [&](int64_t c) {
    double sum, squares;
    ChannelSums(p, x, c, &sum, &squares);
    const double mean = sum / count, var = std::max(squares / count - mean * mean, 0.0);
    stats[c] = static_cast<float>(mean);
    stats[p.c + c] = static_cast<float>(var);
    new_mean[c] = static_cast<float>(decay * moving_mean[c] + (1.0 - decay) * mean);
    new_var[c] = static_cast<float>(decay * moving_var[c] + (1.0 - decay) * var * unbias);
    const double scale = gamma[c] / std::sqrt(var + eps);
    const float shift = static_cast<float>(beta[c] - mean * scale);
    for (int64_t n = 0; n < p.n; ++n) {
      const int64_t offset = (n * p.c + c) * p.size;
      Affine(x + offset, static_cast<float>(scale), shift, p.size, y + offset);
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
  ParallelItems(p.c, [&](int64_t c) {
    double sum_dy = 0.0, sum_dyx = 0.0;
    for (int64_t n = 0; n < p.n; ++n) {
      const int64_t offset = (n * p.c + c) * p.size;
      const float *xs = x + offset, *g = dy + offset;
      for (int64_t i0 = 0; i0 < p.size; i0 += 4096) {
        const int64_t i1 = std::min(p.size, i0 + 4096);
        float a = 0.0f, b = 0.0f;
#pragma omp simd reduction(+ : a, b)
        for (int64_t i = i0; i < i1; ++i) {
          a += g[i];
          b += g[i] * xs[i];
        }
        sum_dy += a;
        sum_dyx += b;
      }
    }
    const double mean = stats[c], inv = 1.0 / std::sqrt(static_cast<double>(stats[p.c + c]) + eps);
    const double sum_dy_xhat = inv * (sum_dyx - mean * sum_dy);
    d_gamma[c] = static_cast<float>(sum_dy_xhat);
    d_beta[c] = static_cast<float>(sum_dy);
    // dx = k * (M * dy - sum_dy - xhat * sum_dy_xhat) = a * dy + b * x + d
    const double k = gamma[c] * inv / count;
    const float a = static_cast<float>(k * count), b = static_cast<float>(-k * sum_dy_xhat * inv);
    const float d = static_cast<float>(-k * sum_dy + k * sum_dy_xhat * inv * mean);
    for (int64_t n = 0; n < p.n; ++n) {
      const int64_t offset = (n * p.c + c) * p.size;
      const float *xs = x + offset, *g = dy + offset;
      float *out = dx + offset;
#pragma omp simd
      for (int64_t i = 0; i < p.size; ++i) out[i] = a * g[i] + b * xs[i] + d;
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
