// MixConv on CPU as MindSpore AOT custom operators: one call runs every group of a mixed depthwise
// convolution (forward, backward-data, backward-weight), NCHW float32.
//
// The kernel is the fused (C, 1, E, E) kernel of mixconv_fused.py; channel c only uses taps
// [lo[c], E - lo[c]) in each direction (its group's own, centred window), so the work is k_g x k_g per
// channel as in the split form. Every function takes a config tensor (int32):
//   cfg = [stride, dilation, same_padding, E, lo[0], ..., lo[C - 1]]
// Output sizes are ceil(in / stride) for both paddings. One exported symbol per stride (its output shape
// depends on the stride only), so MindSpore never merges two ops of different geometry.
//
// Every (sample, channel) plane is copied once into the phased zero-padded layout of native_common.h.
// Forward and backward-data accumulate blocks of 8 or 16
// outputs in registers over all taps of a channel's window (backward-data gathers per phase of the
// input, so it never scatters); backward-weight takes one long dot product per tap over the whole
// plane (the gradient copied to the buffer's row pitch, zeros beyond the row). The thread pool splits the
// planes (forward, backward-data) or the channels (backward-weight) over the cores.
#include "native_common.h"

namespace mindcv_native {
namespace {

// First tap of channel c's window: the config's entries after [stride, dilation, same_padding, E].
inline const int32_t *Windows(const int32_t *cfg) { return cfg + 4; }

// Output planes of at most kSmallPlane outputs (kSmallWeightPlane for backward-weight), i.e. the last stages
// at small input sizes, skip the padded copy and the vector blocks: each output visits only the taps of its
// window that fall inside the input, and threads take many planes at a time. On such planes the blocked path
// spends its time on padding and on lanes and taps that only see zeros (a 1 x 1 map under a 9 x 9 window:
// one useful tap of 81); MixNet-S at 32 x 32, batch 64: forward + backward of every MixConv took 159 ms
// blocked, 42 ms so (benchmarks: docs/performance.md). The thresholds are where the two paths measured equal.
constexpr int64_t kSmallPlane = 16;
constexpr int64_t kSmallWeightPlane = 4;

// Taps k of [lo, hi) whose input coordinate origin + k * dil lies in [0, size): [*first, *last).
inline void TapRange(int64_t origin, int64_t size, int64_t dil, int64_t lo, int64_t hi, int64_t *first,
                     int64_t *last) {
  *first = std::max(lo, FloorDiv(-origin + dil - 1, dil));
  *last = std::min(hi, FloorDiv(size - 1 - origin, dil) + 1);
}

// body(oy, ox, input offset of tap (0, 0), [ky0, ky1), [kx0, kx1)) for every output of a small plane.
template <int S, typename F>
inline void ForSmallOutputs(const Geometry &g, int64_t lo, F body) {
  const int64_t hi = g.e - lo;
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    const int64_t y0 = oy * S - g.pad_top;
    int64_t ky0, ky1;
    TapRange(y0, g.h, g.dil, lo, hi, &ky0, &ky1);
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      const int64_t x0 = ox * S - g.pad_left;
      int64_t kx0, kx1;
      TapRange(x0, g.w, g.dil, lo, hi, &kx0, &kx1);
      body(oy * g.ow + ox, y0 * g.w + x0, ky0, ky1, kx0, kx1);
    }
  }
}

// Items per chunk handed to a thread: about `target` floats of work per chunk (few atomic hand-outs and
// function calls when the planes are tiny).
inline int64_t Grain(int64_t work_per_item, int64_t target = 4096) {
  return std::max<int64_t>(1, target / std::max<int64_t>(work_per_item, 1));
}

template <int S>
void ForwardSmall(const Geometry &g, const int32_t *lo, const float *x, const float *wt, float *y) {
  ThreadPool::Instance().ParallelFor(g.n * g.c, Grain(g.oh * g.ow * 8), [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t c = plane % g.c;
      const float *in = x + plane * g.h * g.w, *k = wt + c * g.e * g.e;
      float *out = y + plane * g.oh * g.ow;
      ForSmallOutputs<S>(g, lo[c], [&](int64_t o, int64_t origin, int64_t ky0, int64_t ky1, int64_t kx0,
                                       int64_t kx1) {
        float sum = 0.0f;
        for (int64_t ky = ky0; ky < ky1; ++ky) {
          const float *row = in + origin + ky * g.dil * g.w;
          for (int64_t kx = kx0; kx < kx1; ++kx) sum += k[ky * g.e + kx] * row[kx * g.dil];
        }
        out[o] = sum;
      });
    }
  });
}

template <int S>
void BackwardDataSmall(const Geometry &g, const int32_t *lo, const float *dy, const float *wt, float *dx) {
  ThreadPool::Instance().ParallelFor(g.n * g.c, Grain(g.h * g.w * 8), [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t c = plane % g.c;
      const float *grad = dy + plane * g.oh * g.ow, *k = wt + c * g.e * g.e;
      float *out = dx + plane * g.h * g.w;
      std::fill(out, out + g.h * g.w, 0.0f);
      ForSmallOutputs<S>(g, lo[c], [&](int64_t o, int64_t origin, int64_t ky0, int64_t ky1, int64_t kx0,
                                       int64_t kx1) {
        const float d = grad[o];
        for (int64_t ky = ky0; ky < ky1; ++ky) {
          float *row = out + origin + ky * g.dil * g.w;
          for (int64_t kx = kx0; kx < kx1; ++kx) row[kx * g.dil] += k[ky * g.e + kx] * d;
        }
      });
    }
  });
}

template <int S>
void BackwardWeightSmall(const Geometry &g, const int32_t *lo, const float *x, const float *dy, float *dw) {
  const int64_t taps = g.e * g.e;
  ThreadPool::Instance().ParallelFor(g.c, Grain(g.n * g.oh * g.ow * 8), [&](int64_t begin, int64_t end) {
    double *acc = Scratch<double, 2>(taps);
    for (int64_t c = begin; c < end; ++c) {
      std::fill(acc, acc + taps, 0.0);
      for (int64_t n = 0; n < g.n; ++n) {
        const int64_t plane = n * g.c + c;
        const float *in = x + plane * g.h * g.w, *grad = dy + plane * g.oh * g.ow;
        ForSmallOutputs<S>(g, lo[c], [&](int64_t o, int64_t origin, int64_t ky0, int64_t ky1, int64_t kx0,
                                         int64_t kx1) {
          const double d = grad[o];
          for (int64_t ky = ky0; ky < ky1; ++ky) {
            const float *row = in + origin + ky * g.dil * g.w;
            for (int64_t kx = kx0; kx < kx1; ++kx) acc[ky * g.e + kx] += d * row[kx * g.dil];
          }
        });
      }
      float *out = dw + c * taps;
      for (int64_t t = 0; t < taps; ++t) out[t] = static_cast<float>(acc[t]);
    }
  });
}

template <int S>
void Forward(const Geometry &g, const int32_t *cfg, const float *x, const float *wt, float *y) {
  const int32_t *lo = Windows(cfg);
  if (g.oh * g.ow <= kSmallPlane) return ForwardSmall<S>(g, lo, x, wt, y);
  ParallelItems(g.n * g.c, [&](int64_t plane) {
    const int64_t c = plane % g.c;
    float *buf = Scratch<float, 0>(S * S * g.phase_size);
    PadPlane<S>(g, x + plane * g.h * g.w, buf);
    if (g.ow <= kLanes) {
      ForwardPlane<S, 1>(g, buf, 0, 1, wt + c * g.e * g.e, 0, lo[c], y + plane * g.oh * g.ow);
    } else {
      ForwardPlane<S, 2>(g, buf, 0, 1, wt + c * g.e * g.e, 0, lo[c], y + plane * g.oh * g.ow);
    }
  });
}

template <int S>
void BackwardData(const Geometry &g, const int32_t *cfg, const float *dy, const float *wt, float *dx) {
  const int32_t *lo = Windows(cfg);
  if (g.oh * g.ow <= kSmallPlane) return BackwardDataSmall<S>(g, lo, dy, wt, dx);
  const GradLayout layout = MakeGradLayout<S>(g);
  ParallelItems(g.n * g.c, [&](int64_t plane) {
    const int64_t c = plane % g.c;
    float *grad = Scratch<float, 1>(layout.plane_size);
    CopyGrad(g, layout, dy + plane * g.oh * g.ow, grad);
    float *out = dx + plane * g.h * g.w;
    std::fill(out, out + g.h * g.w, 0.0f);
    if (g.w <= kLanes * S) {
      BackwardDataPlane<S, 1>(g, layout, grad, 0, 1, wt + c * g.e * g.e, 0, lo[c], out);
    } else {
      BackwardDataPlane<S, 2>(g, layout, grad, 0, 1, wt + c * g.e * g.e, 0, lo[c], out);
    }
  });
}

template <int S>
void BackwardWeight(const Geometry &g, const int32_t *cfg, const float *x, const float *dy, float *dw) {
  const int32_t *windows = Windows(cfg);
  if (g.oh * g.ow <= kSmallWeightPlane) return BackwardWeightSmall<S>(g, windows, x, dy, dw);
  const int64_t taps = g.e * g.e, length = g.oh * g.wq;
  ParallelItems(g.c, [&](int64_t c) {
    float *buf = Scratch<float, 0>(S * S * g.phase_size);
    float *grad = Scratch<float, 1>(length);
    double *acc = Scratch<double, 2>(taps);
    const int64_t lo = windows[c], hi = g.e - lo;
    std::fill(acc, acc + taps, 0.0);
    for (int64_t n = 0; n < g.n; ++n) {
      const int64_t plane = n * g.c + c;
      PadPlane<S>(g, x + plane * g.h * g.w, buf);
      CopyGradRows(g, dy + plane * g.oh * g.ow, grad);
      for (int64_t ky = lo; ky < hi; ++ky) {
        for (int64_t kx = lo; kx < hi; ++kx) acc[ky * g.e + kx] += Dot(grad, buf + TapOffset<S>(g, ky, kx), length);
      }
    }
    float *out = dw + c * taps;
    for (int64_t t = 0; t < taps; ++t) out[t] = static_cast<float>(acc[t]);
  });
}

// Checks shared by the entry points: `nparam` tensors (the last is the output), float32 data, and an
// int32 config of length 4 + C at `cfg_index`.
bool ValidCall(int nparam, int expected, int *ndims, int64_t **shapes, const char **dtypes, int cfg_index,
               int64_t channels) {
  if (nparam != expected || ndims[cfg_index] != 1 || !IsType(dtypes[cfg_index], "int32")) return false;
  if (shapes[cfg_index][0] != 4 + channels) return false;
  for (int i = 0; i < nparam; ++i) {
    if (i != cfg_index && (ndims[i] != 4 || !IsType(dtypes[i], "float32"))) return false;
  }
  return true;
}

template <int S>
Geometry ConfigGeometry(const int64_t *in_shape, const int64_t *out_shape, int64_t e, const int32_t *cfg) {
  return MakeGeometry<S>(in_shape, out_shape, e, cfg[1], cfg[2] != 0);
}

// Forward: params = x (N, C, H, W), w (C, 1, E, E), cfg, y (N, C, OH, OW).
template <int S>
int ForwardEntry(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes) {
  if (!ValidCall(nparam, 4, ndims, shapes, dtypes, 2, shapes[0][1])) return 1;
  const int32_t *cfg = static_cast<const int32_t *>(params[2]);
  if (cfg[0] != S) return 2;
  const Geometry g = ConfigGeometry<S>(shapes[0], shapes[3], shapes[1][2], cfg);
  Forward<S>(g, cfg, static_cast<const float *>(params[0]), static_cast<const float *>(params[1]),
             static_cast<float *>(params[3]));
  return 0;
}

// Backward-data: params = dy (N, C, OH, OW), w, cfg, x (only its shape is used), dx (N, C, H, W).
template <int S>
int BackwardDataEntry(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes) {
  if (!ValidCall(nparam, 5, ndims, shapes, dtypes, 2, shapes[0][1])) return 1;
  const int32_t *cfg = static_cast<const int32_t *>(params[2]);
  if (cfg[0] != S) return 2;
  const Geometry g = ConfigGeometry<S>(shapes[4], shapes[0], shapes[1][2], cfg);
  BackwardData<S>(g, cfg, static_cast<const float *>(params[0]), static_cast<const float *>(params[1]),
                  static_cast<float *>(params[4]));
  return 0;
}

// Backward-weight: params = x, dy, cfg, w (only its shape is used), dw (C, 1, E, E).
template <int S>
int BackwardWeightEntry(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes) {
  if (!ValidCall(nparam, 5, ndims, shapes, dtypes, 2, shapes[0][1])) return 1;
  const int32_t *cfg = static_cast<const int32_t *>(params[2]);
  if (cfg[0] != S) return 2;
  const Geometry g = ConfigGeometry<S>(shapes[0], shapes[1], shapes[4][2], cfg);
  BackwardWeight<S>(g, cfg, static_cast<const float *>(params[0]), static_cast<const float *>(params[1]),
                    static_cast<float *>(params[4]));
  return 0;
}

}  // namespace
}  // namespace mindcv_native

#define MIXCONV_EXPORT(name, entry, S)                                                                  \
  extern "C" int name(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, \
                      void *, void *) {                                                              \
    return mindcv_native::entry<S>(nparam, params, ndims, shapes, dtypes);                           \
  }

MIXCONV_EXPORT(mixconv_fwd_s1, ForwardEntry, 1)
MIXCONV_EXPORT(mixconv_fwd_s2, ForwardEntry, 2)
MIXCONV_EXPORT(mixconv_bwd_data_s1, BackwardDataEntry, 1)
MIXCONV_EXPORT(mixconv_bwd_data_s2, BackwardDataEntry, 2)
MIXCONV_EXPORT(mixconv_bwd_weight_s1, BackwardWeightEntry, 1)
MIXCONV_EXPORT(mixconv_bwd_weight_s2, BackwardWeightEntry, 2)
