// Inference-only CPU operators on channels-last (N, H, W, C) float32 tensors, with BatchNorm folded into the
// weights beforehand and the bias, activation and residual addition applied as each output leaves its
// registers (no extra pass over memory). They run the CPU inference form of MixNet (models/inference.py):
//
//   inf_stem_s{1,2}  dense k x k convolution reading NCHW images, writing NHWC: x, w (Cin*k*k, Cout), b, cfg
//                    cfg = [same_padding, k, act]
//   inf_pw / inf_pw_res   1 x 1 convolution (g groups) as a matrix product over the N*H*W rows:
//                    x, w (packed panels, see below), b (Cout), cfg [, residual (N, H, W, Cout)]
//                    cfg = [act, g, in_start_0, in_size_0, out_start_0, out_size_0, ...]
//   inf_dw_s{1,2}    mixed depthwise convolution, every group at once: x, w (E*E, C), b (C), cfg
//                    cfg = [dilation, same_padding, E, act, lo[0], ..., lo[C - 1]] (channel c's window is
//                    [lo[c], E - lo[c]) in each direction, its group's centred k x k; zeros outside)
//   inf_se           squeeze-excite: y = x * sigmoid(W2 act(W1 mean_hw(x) + b1) + b2):
//                    x, w1 (R, C), b1 (R), w2 (R, C) (transposed), b2 (C), cfg [act]
//   inf_pool         global average pooling (N, H, W, C) -> (N, C)
//
// act: 0 none, 1 ReLU, 2 Swish, 3 sigmoid, 4 ReLU6.
//
// Why channels-last: a depthwise window then reads whole vectors of channels, at every map size (NCHW
// vectorises along a row, which the 1 x 1 to 4 x 4 maps of the last stages at small inputs do not fill),
// and a 1 x 1 convolution is one matrix product over all pixels of the batch.
//
// Matrix product: the weight of each group is packed in panels of kNr output columns (K x kNr floats each,
// zero-padded to whole panels); a micro-kernel keeps kMr rows x kNr columns in registers over a block of
// kKc inputs; threads take (row chunk, panel range) items.
#include <cmath>

#include "native_common.h"

namespace mindcv_native {
namespace {

typedef float V __attribute__((vector_size(64)));
typedef int32_t IV __attribute__((vector_size(64)));
constexpr int64_t kW = 16;  // floats per vector

#ifdef __AVX512F__
constexpr int kMr = 8;  // rows per micro-kernel (AVX-512: 8 x 2 accumulators of 32 registers)
#else
constexpr int kMr = 4;  // AVX2 splits each vector in two: 4 x 2 x 2 accumulators of 16 registers
#endif
constexpr int kNv = 2;                 // vectors per panel
constexpr int64_t kNr = kNv * kW;      // columns per panel
constexpr int64_t kKc = 256;           // inputs per block of the matrix product
constexpr int64_t kRowChunk = 64;      // rows per work item
constexpr int64_t kPanelChunk = 4;     // panels per work item

enum Act { kNone = 0, kRelu = 1, kSwish = 2, kSigmoid = 3, kRelu6 = 4 };

inline V LoadV(const float *p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}

inline void StoreV(float *p, const V &v) { std::memcpy(p, &v, sizeof(V)); }

// The first n (< kW allowed) floats, the rest zero.
inline V LoadN(const float *p, int64_t n) {
  if (n >= kW) return LoadV(p);
  float t[kW] = {};
  std::memcpy(t, p, sizeof(float) * std::max<int64_t>(n, 0));
  return LoadV(t);
}

inline void StoreN(float *p, const V &v, int64_t n) {
  if (n >= kW) return StoreV(p, v);
  float t[kW];
  std::memcpy(t, &v, sizeof(V));
  std::memcpy(p, t, sizeof(float) * std::max<int64_t>(n, 0));
}

inline V Activate(V v, int act) {
  const V zero = {};
  switch (act) {
    case kRelu:
      return v > zero ? v : zero;
    case kSwish:
      return v / (1.0f + ExpVector<V, IV>(-v));
    case kSigmoid:
      return 1.0f / (1.0f + ExpVector<V, IV>(-v));
    case kRelu6: {
      const V six = zero + 6.0f;
      v = v > zero ? v : zero;
      return v < six ? v : six;
    }
    default:
      return v;
  }
}

inline float ActivateScalar(float v, int act) {
  V x = {};
  x[0] = v;
  return Activate(x, act)[0];
}

// ---------------------------------------------------------------------------------------------------------
// Matrix product C[:, out] = act(A[:, in] B + b) (+ R), A rows `lda` apart, C and R rows `ldc` apart.

struct Gemm {
  const float *a;
  int64_t lda;
  const float *b;      // packed panels of this group
  const float *bias;   // this group's bias (n values)
  const float *res;    // residual (or nullptr), at this group's first output column
  float *c;            // output, at this group's first output column
  int64_t ldc;
  int64_t m, k, n;     // rows, inputs, outputs of this group
  int act;
  int64_t Panels() const { return (n + kNr - 1) / kNr; }
};

// Rows [r0, r0 + MR) x panel p over inputs [k0, k1): accumulate in registers, then either store the raw
// sums (more input blocks follow) or finish (bias, activation, residual).
template <int MR>
inline void MicroKernel(const Gemm &g, int64_t r0, int64_t p, int64_t k0, int64_t k1) {
  V acc[MR][kNv];
  const int64_t col = p * kNr;
  const int64_t valid = std::min(kNr, g.n - col);
  if (k0 == 0) {
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < kNv; ++j) acc[i][j] = V{};
  } else {
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < kNv; ++j) acc[i][j] = LoadN(g.c + (r0 + i) * g.ldc + col + j * kW, valid - j * kW);
  }
  const float *panel = g.b + p * g.k * kNr;
  const float *a = g.a + r0 * g.lda;
  for (int64_t kk = k0; kk < k1; ++kk) {
    const float *bk = panel + kk * kNr;
    V bv[kNv];
    for (int j = 0; j < kNv; ++j) bv[j] = LoadV(bk + j * kW);
    for (int i = 0; i < MR; ++i) {
      const float av = a[i * g.lda + kk];
      for (int j = 0; j < kNv; ++j) acc[i][j] += av * bv[j];
    }
  }
  const bool last = k1 == g.k;
  V bias[kNv];
  if (last) {
    for (int j = 0; j < kNv; ++j) bias[j] = LoadN(g.bias + col + j * kW, valid - j * kW);
  }
  for (int i = 0; i < MR; ++i) {
    float *out = g.c + (r0 + i) * g.ldc + col;
    for (int j = 0; j < kNv; ++j) {
      const int64_t count = valid - j * kW;
      if (count <= 0) break;
      V v = acc[i][j];
      if (last) {
        v = Activate(v + bias[j], g.act);
        if (g.res != nullptr) v += LoadN(g.res + (r0 + i) * g.ldc + col + j * kW, count);
      }
      StoreN(out + j * kW, v, count);
    }
  }
}

// One work item: rows [r0, r1) x panels [p0, p1), input block by input block.
void GemmItem(const Gemm &g, int64_t r0, int64_t r1, int64_t p0, int64_t p1) {
  for (int64_t k0 = 0; k0 < g.k; k0 += kKc) {
    const int64_t k1 = std::min(g.k, k0 + kKc);
    for (int64_t p = p0; p < p1; ++p) {
      int64_t r = r0;
      for (; r + kMr <= r1; r += kMr) MicroKernel<kMr>(g, r, p, k0, k1);
      for (; r < r1; ++r) MicroKernel<1>(g, r, p, k0, k1);
    }
  }
}

void RunGemms(const std::vector<Gemm> &gemms) {
  // items: (group, row chunk, panel chunk), all groups in one parallel loop
  std::vector<int64_t> first(gemms.size() + 1, 0);
  for (size_t i = 0; i < gemms.size(); ++i) {
    const Gemm &g = gemms[i];
    const int64_t rows = (g.m + kRowChunk - 1) / kRowChunk;
    const int64_t cols = (g.Panels() + kPanelChunk - 1) / kPanelChunk;
    first[i + 1] = first[i] + rows * cols;
  }
  ParallelItems(first.back(), [&](int64_t item) {
    size_t i = 0;
    while (first[i + 1] <= item) ++i;
    const Gemm &g = gemms[i];
    const int64_t local = item - first[i];
    const int64_t cols = (g.Panels() + kPanelChunk - 1) / kPanelChunk;
    const int64_t rc = local / cols, pc = local % cols;
    GemmItem(g, rc * kRowChunk, std::min(g.m, (rc + 1) * kRowChunk), pc * kPanelChunk,
             std::min(g.Panels(), (pc + 1) * kPanelChunk));
  });
}

int64_t Elements(int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < ndim; ++i) n *= shape[i];
  return n;
}

bool AllFloatExcept(int nparam, const char **dtypes, int cfg_index) {
  for (int i = 0; i < nparam; ++i) {
    if (i != cfg_index && !IsType(dtypes[i], "float32")) return false;
  }
  return IsType(dtypes[cfg_index], "int32");
}

// params = x (N, H, W, K), w (packed), b (Cout), cfg [, res], y (N, H, W, Cout)
int PointwiseEntry(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, bool residual) {
  const int expected = residual ? 6 : 5;
  if (nparam != expected || ndims[0] != 4 || ndims[nparam - 1] != 4 || !AllFloatExcept(nparam, dtypes, 3)) return 1;
  const int32_t *cfg = static_cast<const int32_t *>(params[3]);
  const int64_t groups = cfg[1];
  if (shapes[3][0] != 2 + 4 * groups) return 1;
  const int64_t kin = shapes[0][3], cout = shapes[nparam - 1][3];
  const int64_t m = shapes[0][0] * shapes[0][1] * shapes[0][2];
  const float *x = static_cast<const float *>(params[0]);
  const float *w = static_cast<const float *>(params[1]);
  const float *b = static_cast<const float *>(params[2]);
  const float *res = residual ? static_cast<const float *>(params[4]) : nullptr;
  float *y = static_cast<float *>(params[nparam - 1]);
  std::vector<Gemm> gemms;
  int64_t offset = 0;
  for (int64_t i = 0; i < groups; ++i) {
    const int32_t *gc = cfg + 2 + 4 * i;
    Gemm g;
    g.a = x + gc[0];
    g.lda = kin;
    g.k = gc[1];
    g.n = gc[3];
    g.b = w + offset;
    g.bias = b + gc[2];
    g.res = res == nullptr ? nullptr : res + gc[2];
    g.c = y + gc[2];
    g.ldc = cout;
    g.m = m;
    g.act = cfg[0];
    if (gc[0] + g.k > kin || gc[2] + g.n > cout) return 1;
    offset += g.Panels() * g.k * kNr;
    gemms.push_back(g);
  }
  if (offset != Elements(ndims[1], shapes[1])) return 1;
  RunGemms(gemms);
  return 0;
}

// ---------------------------------------------------------------------------------------------------------
// Depthwise (mixed) convolution, channels-last.

struct DwGeometry {
  int64_t n, h, w, c, oh, ow, e, dil, pad_top, pad_left, act;
};

template <int S>
DwGeometry MakeDw(const int64_t *in, const int64_t *out, const int32_t *cfg) {
  DwGeometry g;
  g.n = in[0];
  g.h = in[1];
  g.w = in[2];
  g.c = in[3];
  g.oh = out[1];
  g.ow = out[2];
  g.dil = cfg[0];
  g.e = cfg[2];
  g.act = cfg[3];
  const int64_t span = g.dil * (g.e - 1) + 1;
  g.pad_top = PadBefore(g.h, g.oh, S, span, cfg[1] != 0);
  g.pad_left = PadBefore(g.w, g.ow, S, span, cfg[1] != 0);
  return g;
}

// Outputs [ox0, ox1) of row (n, oy), channels [c, c + count) (count <= kW), taps [lo, hi) in each direction.
// PB outputs at a time in registers where every tap is inside the input, one at a time at the borders.
template <int S, bool TAIL>
void DwRow(const DwGeometry &g, const float *x, const float *w, const float *bias, float *y, int64_t n, int64_t oy,
           int64_t c, int64_t count, int64_t lo, int64_t hi) {
  constexpr int PB = 4;
  const int64_t y0 = oy * S - g.pad_top;
  const int64_t ky0 = std::max(lo, FloorDiv(-y0 + g.dil - 1, g.dil));
  const int64_t ky1 = std::min(hi, FloorDiv(g.h - 1 - y0, g.dil) + 1);
  // outputs whose taps [lo, hi) all fall inside the row: [in0, in1)
  const int64_t in0 = std::max<int64_t>(0, FloorDiv(g.pad_left - lo * g.dil + S - 1, S));
  const int64_t in1 = std::max(in0, std::min(g.ow, FloorDiv(g.w - 1 + g.pad_left - (hi - 1) * g.dil, S) + 1));
  const V b = LoadN(bias + c, kW);
  const float *image = x + n * g.h * g.w * g.c + c;
  float *out = y + ((n * g.oh + oy) * g.ow) * g.c + c;
  auto load = [&](const float *p) { return TAIL ? LoadN(p, count) : LoadV(p); };
  auto single = [&](int64_t ox) {
    const int64_t x0 = ox * S - g.pad_left;
    const int64_t kx0 = std::max(lo, FloorDiv(-x0 + g.dil - 1, g.dil));
    const int64_t kx1 = std::min(hi, FloorDiv(g.w - 1 - x0, g.dil) + 1);
    V acc = b;
    for (int64_t ky = ky0; ky < ky1; ++ky) {
      const float *row = image + (y0 + ky * g.dil) * g.w * g.c;
      const float *wr = w + ky * g.e * g.c;
      for (int64_t kx = kx0; kx < kx1; ++kx) acc += LoadV(wr + kx * g.c + c) * load(row + (x0 + kx * g.dil) * g.c);
    }
    StoreN(out + ox * g.c, Activate(acc, static_cast<int>(g.act)), count);
  };
  int64_t ox = 0;
  for (; ox < std::min(in0, g.ow); ++ox) single(ox);
  for (; ox + PB <= in1; ox += PB) {
    V acc[PB];
    for (int p = 0; p < PB; ++p) acc[p] = b;
    const int64_t x0 = ox * S - g.pad_left;
    for (int64_t ky = ky0; ky < ky1; ++ky) {
      const float *row = image + (y0 + ky * g.dil) * g.w * g.c + x0 * g.c;
      const float *wr = w + ky * g.e * g.c + c;
      for (int64_t kx = lo; kx < hi; ++kx) {
        const V wv = LoadV(wr + kx * g.c);
        const float *px = row + kx * g.dil * g.c;
        for (int p = 0; p < PB; ++p) acc[p] += wv * load(px + p * S * g.c);
      }
    }
    for (int p = 0; p < PB; ++p) StoreN(out + (ox + p) * g.c, Activate(acc[p], static_cast<int>(g.act)), count);
  }
  for (; ox < g.ow; ++ox) single(ox);
}

// params = x (N, H, W, C), w (E*E*C + kW: tap-major, channels fastest, kW floats of zeros after), b (C + kW),
// cfg, y (N, OH, OW, C). A partial channel block reads whole vectors of weights and bias (the slack) and of
// the input only its own channels.
template <int S>
int DepthwiseEntry(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes) {
  if (nparam != 5 || ndims[0] != 4 || ndims[4] != 4 || !AllFloatExcept(nparam, dtypes, 3)) return 1;
  const int32_t *cfg = static_cast<const int32_t *>(params[3]);
  const DwGeometry g = MakeDw<S>(shapes[0], shapes[4], cfg);
  const int64_t cpad = (g.c + kW - 1) / kW * kW;
  if (shapes[3][0] != 4 + g.c || Elements(ndims[1], shapes[1]) != g.e * g.e * g.c + kW || shapes[2][0] != g.c + kW) {
    return 1;
  }
  if (g.oh != (g.h + S - 1) / S || g.ow != (g.w + S - 1) / S) return 1;
  // a channel block's window: the widest of its channels' (the others have zeros there)
  const int64_t blocks = cpad / kW;
  std::vector<int64_t> block_lo(blocks, g.e);
  for (int64_t ch = 0; ch < g.c; ++ch) block_lo[ch / kW] = std::min<int64_t>(block_lo[ch / kW], cfg[4 + ch]);
  const float *x = static_cast<const float *>(params[0]);
  const float *w = static_cast<const float *>(params[1]);
  const float *b = static_cast<const float *>(params[2]);
  float *y = static_cast<float *>(params[4]);
  ParallelItems(g.n * g.oh, [&](int64_t item) {
    const int64_t n = item / g.oh, oy = item % g.oh;
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t c = blk * kW, count = std::min(kW, g.c - c), lo = block_lo[blk];
      if (count == kW) {
        DwRow<S, false>(g, x, w, b, y, n, oy, c, count, lo, g.e - lo);
      } else {
        DwRow<S, true>(g, x, w, b, y, n, oy, c, count, lo, g.e - lo);
      }
    }
  });
  return 0;
}

// ---------------------------------------------------------------------------------------------------------
// Stem: dense k x k convolution from an NCHW image to NHWC (Cout <= 4 vectors).

template <int S, int NB>
void StemRow(const float *x, const float *w, const float *b, float *y, int64_t cin, int64_t h, int64_t wd,
             int64_t oh, int64_t ow, int64_t cout, int64_t k, int64_t pad_top, int64_t pad_left, int act, int64_t n,
             int64_t oy) {
  const int64_t cpad = NB * kW;
  const int64_t y0 = oy * S - pad_top;
  const int64_t ky0 = std::max<int64_t>(0, -y0), ky1 = std::min(k, h - y0);
  for (int64_t ox = 0; ox < ow; ++ox) {
    const int64_t x0 = ox * S - pad_left;
    const int64_t kx0 = std::max<int64_t>(0, -x0), kx1 = std::min(k, wd - x0);
    V acc[NB];
    for (int j = 0; j < NB; ++j) acc[j] = LoadN(b + j * kW, cout - j * kW);
    for (int64_t ci = 0; ci < cin; ++ci) {
      const float *plane = x + (n * cin + ci) * h * wd;
      for (int64_t ky = ky0; ky < ky1; ++ky) {
        const float *row = plane + (y0 + ky) * wd + x0;
        const float *wr = w + ((ci * k + ky) * k) * cpad;
        for (int64_t kx = kx0; kx < kx1; ++kx) {
          const float v = row[kx];
          for (int j = 0; j < NB; ++j) acc[j] += v * LoadV(wr + kx * cpad + j * kW);
        }
      }
    }
    float *out = y + ((n * oh + oy) * ow + ox) * cout;
    for (int j = 0; j < NB; ++j) StoreN(out + j * kW, Activate(acc[j], act), cout - j * kW);
  }
}

// params = x (N, Cin, H, W), w (Cin*k*k, Cpad), b (Cout), cfg [same, k, act], y (N, OH, OW, Cout); Cpad = Cout
// rounded up to kW
template <int S>
int StemEntry(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes) {
  if (nparam != 5 || ndims[0] != 4 || ndims[4] != 4 || !AllFloatExcept(nparam, dtypes, 3) || shapes[3][0] != 3) {
    return 1;
  }
  const int32_t *cfg = static_cast<const int32_t *>(params[3]);
  const int64_t n = shapes[0][0], cin = shapes[0][1], h = shapes[0][2], wd = shapes[0][3];
  const int64_t oh = shapes[4][1], ow = shapes[4][2], cout = shapes[4][3], k = cfg[1];
  const int64_t cpad = shapes[1][1];
  const int nb = static_cast<int>(cpad / kW);
  if (ndims[1] != 2 || cpad % kW != 0 || nb < 1 || nb > 4 || shapes[2][0] != cout || cout > cpad ||
      shapes[1][0] != cin * k * k) {
    return 1;
  }
  if (oh != (h + S - 1) / S || ow != (wd + S - 1) / S) return 1;
  const int64_t pad_top = PadBefore(h, oh, S, k, cfg[0] != 0), pad_left = PadBefore(wd, ow, S, k, cfg[0] != 0);
  const float *x = static_cast<const float *>(params[0]), *w = static_cast<const float *>(params[1]);
  const float *b = static_cast<const float *>(params[2]);
  float *y = static_cast<float *>(params[4]);
  ParallelItems(n * oh, [&](int64_t item) {
    const int64_t i = item / oh, oy = item % oh;
    switch (nb) {
      case 1: return StemRow<S, 1>(x, w, b, y, cin, h, wd, oh, ow, cout, k, pad_top, pad_left, cfg[2], i, oy);
      case 2: return StemRow<S, 2>(x, w, b, y, cin, h, wd, oh, ow, cout, k, pad_top, pad_left, cfg[2], i, oy);
      case 3: return StemRow<S, 3>(x, w, b, y, cin, h, wd, oh, ow, cout, k, pad_top, pad_left, cfg[2], i, oy);
      default: return StemRow<S, 4>(x, w, b, y, cin, h, wd, oh, ow, cout, k, pad_top, pad_left, cfg[2], i, oy);
    }
  });
  return 0;
}

// ---------------------------------------------------------------------------------------------------------
// Squeeze-excite and pooling.

// Mean over the H*W rows of one sample, C channels: into mean (C + kW slack).
void MeanRows(const float *x, int64_t rows, int64_t c, float *mean) {
  const int64_t full = c / kW * kW;
  for (int64_t j = 0; j < c + kW; ++j) mean[j] = 0.0f;
  for (int64_t r = 0; r < rows; ++r) {
    const float *row = x + r * c;
    for (int64_t j = 0; j < full; j += kW) StoreV(mean + j, LoadV(mean + j) + LoadV(row + j));
    for (int64_t j = full; j < c; ++j) mean[j] += row[j];
  }
  const float inv = 1.0f / static_cast<float>(std::max<int64_t>(rows, 1));
  for (int64_t j = 0; j < c; ++j) mean[j] *= inv;
}

// params = x (N, H, W, C), w1 (R, C), b1 (R), w2 (R, C), b2 (C), cfg [act], y
int SqueezeExciteEntry(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes) {
  if (nparam != 7 || ndims[0] != 4 || ndims[1] != 2 || ndims[3] != 2 || !AllFloatExcept(nparam, dtypes, 5)) return 1;
  const int64_t n = shapes[0][0], rows = shapes[0][1] * shapes[0][2], c = shapes[0][3], r = shapes[1][0];
  if (shapes[1][1] != c || shapes[2][0] != r || shapes[3][0] != r || shapes[3][1] != c || shapes[4][0] != c) return 1;
  const float *x = static_cast<const float *>(params[0]);
  const float *w1 = static_cast<const float *>(params[1]), *b1 = static_cast<const float *>(params[2]);
  const float *w2 = static_cast<const float *>(params[3]), *b2 = static_cast<const float *>(params[4]);
  const int act = static_cast<const int32_t *>(params[5])[0];
  float *y = static_cast<float *>(params[6]);
  const int64_t full = c / kW * kW;
  ParallelItems(n, [&](int64_t i) {
    float *mean = Scratch<float, 3>(c + kW);
    float *gate = Scratch<float, 4>(c + kW);
    float *hidden = Scratch<float, 5>(r);
    const float *xs = x + i * rows * c;
    MeanRows(xs, rows, c, mean);
    for (int64_t j = 0; j < r; ++j) {
      float sum = b1[j];
      const float *wr = w1 + j * c;
#pragma omp simd reduction(+ : sum)
      for (int64_t q = 0; q < c; ++q) sum += wr[q] * mean[q];
      hidden[j] = ActivateScalar(sum, act);
    }
    std::memcpy(gate, b2, sizeof(float) * c);
    for (int64_t j = 0; j < r; ++j) {
      const float h = hidden[j];
      const float *wr = w2 + j * c;
#pragma omp simd
      for (int64_t q = 0; q < c; ++q) gate[q] += h * wr[q];
    }
    for (int64_t j = 0; j < full; j += kW) StoreV(gate + j, Activate(LoadV(gate + j), kSigmoid));
    for (int64_t j = full; j < c; ++j) gate[j] = ActivateScalar(gate[j], kSigmoid);
    float *ys = y + i * rows * c;
    for (int64_t q = 0; q < rows; ++q) {
      const float *src = xs + q * c;
      float *dst = ys + q * c;
      for (int64_t j = 0; j < full; j += kW) StoreV(dst + j, LoadV(src + j) * LoadV(gate + j));
      for (int64_t j = full; j < c; ++j) dst[j] = src[j] * gate[j];
    }
  });
  return 0;
}

// params = x (N, H, W, C), y (N, C)
int PoolEntry(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes) {
  if (nparam != 2 || ndims[0] != 4 || ndims[1] != 2 || !IsType(dtypes[0], "float32")) return 1;
  const int64_t n = shapes[0][0], rows = shapes[0][1] * shapes[0][2], c = shapes[0][3];
  const float *x = static_cast<const float *>(params[0]);
  float *y = static_cast<float *>(params[1]);
  ParallelItems(n, [&](int64_t i) {
    float *mean = Scratch<float, 3>(c + kW);
    MeanRows(x + i * rows * c, rows, c, mean);
    std::memcpy(y + i * c, mean, sizeof(float) * c);
  });
  return 0;
}

}  // namespace
}  // namespace mindcv_native

#define INFERENCE_EXPORT(name, call)                                                                   \
  extern "C" int name(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, \
                      void *, void *) {                                                              \
    return call;                                                                                      \
  }

INFERENCE_EXPORT(inf_pw, mindcv_native::PointwiseEntry(nparam, params, ndims, shapes, dtypes, false))
INFERENCE_EXPORT(inf_pw_res, mindcv_native::PointwiseEntry(nparam, params, ndims, shapes, dtypes, true))
INFERENCE_EXPORT(inf_dw_s1, mindcv_native::DepthwiseEntry<1>(nparam, params, ndims, shapes, dtypes))
INFERENCE_EXPORT(inf_dw_s2, mindcv_native::DepthwiseEntry<2>(nparam, params, ndims, shapes, dtypes))
INFERENCE_EXPORT(inf_stem_s1, mindcv_native::StemEntry<1>(nparam, params, ndims, shapes, dtypes))
INFERENCE_EXPORT(inf_stem_s2, mindcv_native::StemEntry<2>(nparam, params, ndims, shapes, dtypes))
INFERENCE_EXPORT(inf_se, mindcv_native::SqueezeExciteEntry(nparam, params, ndims, shapes, dtypes))
INFERENCE_EXPORT(inf_pool, mindcv_native::PoolEntry(nparam, params, ndims, shapes, dtypes))
