// Dense and grouped k x k convolutions on CPU as MindSpore AOT custom operators (forward, backward-data,
// backward-weight), NCHW float32, square odd kernels, stride 1 or 2, symmetric or TensorFlow SAME padding.
//
// Why: MindSpore 2.10 hands oneDNN plain NCHW tensors, and on AVX-512 CPUs oneDNN then runs every dense
// k x k convolution (the 3 x 3 stem of MixNet and the MobileNets) through its scalar reference kernel.
// These kernels are meant for the few-input-channel convolutions of a network's stem: each output plane
// is accumulated in registers over its group's input planes and the k x k taps (no im2col copy), which is
// fast while C_in / groups x k x k stays small; wide 1 x 1 convolutions belong to a GEMM instead.
//
// Every function takes a config tensor (int32): cfg = [stride, dilation, same_padding, groups]. Weights
// are (C_out, C_in / groups, k, k); output channel o reads input channels of group o / (C_out / groups).
// Output sizes are ceil(in / stride). One exported symbol per stride, as in mixconv_native.cc.
#include <memory>

#include "native_common.h"

namespace mindcv_native {
namespace {

struct Channels {
  int64_t out, groups, in_per_group, out_per_group, taps;
};

// All input planes in the phased padded layout (each is read by every output channel of its group).
template <int S>
std::unique_ptr<float[]> PadAll(const Geometry &g, const float *x) {
  const int64_t plane = S * S * g.phase_size;
  std::unique_ptr<float[]> padded(new float[g.n * g.c * plane]);
  ParallelItems(g.n * g.c, [&](int64_t p) { PadPlane<S>(g, x + p * g.h * g.w, padded.get() + p * plane); });
  return padded;
}

template <int S>
void Forward(const Geometry &g, const Channels &ch, const float *x, const float *wt, float *y) {
  const int64_t plane = S * S * g.phase_size;
  const std::unique_ptr<float[]> padded = PadAll<S>(g, x);
  ParallelItems(g.n * ch.out, [&](int64_t item) {
    const int64_t n = item / ch.out, o = item % ch.out, group = o / ch.out_per_group;
    const float *in = padded.get() + (n * g.c + group * ch.in_per_group) * plane;
    const float *kernel = wt + o * ch.in_per_group * ch.taps;
    float *out = y + item * g.oh * g.ow;
    if (g.ow <= kLanes) {
      ForwardPlane<S, 1>(g, in, plane, ch.in_per_group, kernel, ch.taps, 0, out);
    } else {
      ForwardPlane<S, 2>(g, in, plane, ch.in_per_group, kernel, ch.taps, 0, out);
    }
  });
}

template <int S>
void BackwardData(const Geometry &g, const Channels &ch, const float *dy, const float *wt, float *dx) {
  const GradLayout layout = MakeGradLayout<S>(g);
  std::unique_ptr<float[]> grads(new float[g.n * ch.out * layout.plane_size]);
  ParallelItems(g.n * ch.out, [&](int64_t p) {
    CopyGrad(g, layout, dy + p * g.oh * g.ow, grads.get() + p * layout.plane_size);
  });
  ParallelItems(g.n * g.c, [&](int64_t item) {
    const int64_t n = item / g.c, i = item % g.c, group = i / ch.in_per_group, local = i % ch.in_per_group;
    const float *grad = grads.get() + (n * ch.out + group * ch.out_per_group) * layout.plane_size;
    const float *kernel = wt + (group * ch.out_per_group * ch.in_per_group + local) * ch.taps;
    float *out = dx + item * g.h * g.w;
    std::fill(out, out + g.h * g.w, 0.0f);
    if (g.w <= kLanes * S) {
      BackwardDataPlane<S, 1>(g, layout, grad, layout.plane_size, ch.out_per_group, kernel,
                              ch.in_per_group * ch.taps, 0, out);
    } else {
      BackwardDataPlane<S, 2>(g, layout, grad, layout.plane_size, ch.out_per_group, kernel,
                              ch.in_per_group * ch.taps, 0, out);
    }
  });
}

template <int S>
void BackwardWeight(const Geometry &g, const Channels &ch, const float *x, const float *dy, float *dw) {
  const int64_t plane = S * S * g.phase_size, length = g.oh * g.wq;
  const std::unique_ptr<float[]> padded = PadAll<S>(g, x);
  std::unique_ptr<float[]> grads(new float[g.n * ch.out * length]);
  ParallelItems(g.n * ch.out, [&](int64_t p) { CopyGradRows(g, dy + p * g.oh * g.ow, grads.get() + p * length); });
  ParallelItems(ch.out * ch.in_per_group, [&](int64_t item) {
    const int64_t o = item / ch.in_per_group, local = item % ch.in_per_group;
    const int64_t i = (o / ch.out_per_group) * ch.in_per_group + local;
    double *acc = Scratch<double, 2>(ch.taps);
    std::fill(acc, acc + ch.taps, 0.0);
    for (int64_t n = 0; n < g.n; ++n) {
      const float *grad = grads.get() + (n * ch.out + o) * length;
      const float *in = padded.get() + (n * g.c + i) * plane;
      for (int64_t ky = 0; ky < g.e; ++ky) {
        for (int64_t kx = 0; kx < g.e; ++kx) acc[ky * g.e + kx] += Dot(grad, in + TapOffset<S>(g, ky, kx), length);
      }
    }
    for (int64_t t = 0; t < ch.taps; ++t) dw[item * ch.taps + t] = static_cast<float>(acc[t]);
  });
}

// Checks of a call: `nparam` tensors, float32 4-d data, an int32 config [S, dilation, same, groups] at
// index 2, and channel counts that the groups divide. x_index / w_index / y_index name the tensors whose
// shapes are the input, the weight and the output of the convolution.
bool Valid(int nparam, int expected, int *ndims, int64_t **shapes, const char **dtypes, int x_index, int w_index,
           int y_index, const int32_t *cfg, int stride) {
  if (nparam != expected || ndims[2] != 1 || !IsType(dtypes[2], "int32") || shapes[2][0] != 4) return false;
  for (int i = 0; i < nparam; ++i) {
    if (i != 2 && (ndims[i] != 4 || !IsType(dtypes[i], "float32"))) return false;
  }
  const int64_t groups = cfg[3], in = shapes[x_index][1], out = shapes[w_index][0];
  if (cfg[0] != stride || groups < 1 || in % groups != 0 || out % groups != 0) return false;
  if (shapes[w_index][1] * groups != in || shapes[y_index][1] != out) return false;
  return shapes[w_index][2] == shapes[w_index][3] && shapes[w_index][2] % 2 == 1;
}

Channels MakeChannels(const int64_t *x_shape, const int64_t *w_shape, const int32_t *cfg) {
  Channels ch;
  ch.out = w_shape[0];
  ch.groups = cfg[3];
  ch.in_per_group = x_shape[1] / ch.groups;
  ch.out_per_group = ch.out / ch.groups;
  ch.taps = w_shape[2] * w_shape[3];
  return ch;
}

// Forward: params = x (N, C_in, H, W), w, cfg, y (N, C_out, OH, OW).
template <int S>
int ForwardEntry(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes) {
  const int32_t *cfg = static_cast<const int32_t *>(params[2]);
  if (!Valid(nparam, 4, ndims, shapes, dtypes, 0, 1, 3, cfg, S)) return 1;
  const Geometry g = MakeGeometry<S>(shapes[0], shapes[3], shapes[1][2], cfg[1], cfg[2] != 0);
  Forward<S>(g, MakeChannels(shapes[0], shapes[1], cfg), static_cast<const float *>(params[0]),
             static_cast<const float *>(params[1]), static_cast<float *>(params[3]));
  return 0;
}

// Backward-data: params = dy (N, C_out, OH, OW), w, cfg, x (only its shape is used), dx.
template <int S>
int BackwardDataEntry(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes) {
  const int32_t *cfg = static_cast<const int32_t *>(params[2]);
  if (!Valid(nparam, 5, ndims, shapes, dtypes, 4, 1, 0, cfg, S)) return 1;
  const Geometry g = MakeGeometry<S>(shapes[4], shapes[0], shapes[1][2], cfg[1], cfg[2] != 0);
  BackwardData<S>(g, MakeChannels(shapes[4], shapes[1], cfg), static_cast<const float *>(params[0]),
                  static_cast<const float *>(params[1]), static_cast<float *>(params[4]));
  return 0;
}

// Backward-weight: params = x, dy, cfg, w (only its shape is used), dw.
template <int S>
int BackwardWeightEntry(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes) {
  const int32_t *cfg = static_cast<const int32_t *>(params[2]);
  if (!Valid(nparam, 5, ndims, shapes, dtypes, 0, 3, 1, cfg, S)) return 1;
  const Geometry g = MakeGeometry<S>(shapes[0], shapes[1], shapes[3][2], cfg[1], cfg[2] != 0);
  BackwardWeight<S>(g, MakeChannels(shapes[0], shapes[3], cfg), static_cast<const float *>(params[0]),
                    static_cast<const float *>(params[1]), static_cast<float *>(params[4]));
  return 0;
}

}  // namespace
}  // namespace mindcv_native

#define CONV_EXPORT(name, entry, S)                                                                     \
  extern "C" int name(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, \
                      void *, void *) {                                                              \
    return mindcv_native::entry<S>(nparam, params, ndims, shapes, dtypes);                           \
  }

CONV_EXPORT(conv_fwd_s1, ForwardEntry, 1)
CONV_EXPORT(conv_fwd_s2, ForwardEntry, 2)
CONV_EXPORT(conv_bwd_data_s1, BackwardDataEntry, 1)
CONV_EXPORT(conv_bwd_data_s2, BackwardDataEntry, 2)
CONV_EXPORT(conv_bwd_weight_s1, BackwardWeightEntry, 1)
CONV_EXPORT(conv_bwd_weight_s2, BackwardWeightEntry, 2)
