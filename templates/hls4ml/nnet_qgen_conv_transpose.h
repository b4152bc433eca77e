// nnet_qgen_conv_transpose.h — 2x2 stride-2 transposed convolution as an hls4ml layer (extension API).
//
// hls4ml has no ConvTranspose (hls4ml#896). Output pixel (2i+dy, 2j+dx) is input pixel (i, j) times
// tap (dy, dx), so output row 2i is produced while input row i arrives and row 2i+1 from a one-row
// buffer. The result is the exact accumulator (the thresholds follow as a separate layer).
// Weights are laid out [tap = 2*dy + dx][n_filt][n_chan]. io_stream, channels last.
#ifndef NNET_QGEN_CONV_TRANSPOSE_H_
#define NNET_QGEN_CONV_TRANSPOSE_H_

#include "nnet_common.h"
#include "hls_stream.h"

namespace nnet {

struct qgen_conv_transpose_config {
    static const unsigned in_height = 1;
    static const unsigned in_width = 1;
    static const unsigned n_chan = 1;
    static const unsigned n_filt = 1;
    static const unsigned reuse_factor = 1;
    typedef ap_fixed<16, 6> weight_t;
};

template <class data_T, class res_T, typename CONFIG_T>
void qgen_conv_transpose(hls::stream<data_T> &data, hls::stream<res_T> &res,
                         const typename CONFIG_T::weight_t weights[4 * CONFIG_T::n_filt * CONFIG_T::n_chan]) {
    typename data_T::value_type row[CONFIG_T::in_width][CONFIG_T::n_chan];
    #pragma HLS ARRAY_PARTITION variable=row complete dim=2
RowLoop:
    for (unsigned i = 0; i < CONFIG_T::in_height; i++) {
    HalfLoop:
        for (unsigned dy = 0; dy < 2; dy++) {
        ColLoop:
            for (unsigned j = 0; j < CONFIG_T::in_width; j++) {
            TapLoop:
                for (unsigned dx = 0; dx < 2; dx++) {
                    #pragma HLS PIPELINE II=CONFIG_T::reuse_factor
                    if (dy == 0 && dx == 0) {
                        const data_T in = data.read();
                        for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
                            #pragma HLS UNROLL
                            row[j][c] = in[c];
                        }
                    }
                    const unsigned tap = 2 * dy + dx;
                    res_T out;
                    PRAGMA_DATA_PACK(out)
                FiltLoop:
                    for (unsigned f = 0; f < CONFIG_T::n_filt; f++) {
                        typename res_T::value_type acc = 0;  // the exact accumulator type
                    ChanLoop:
                        for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
                            acc += row[j][c] * weights[(tap * CONFIG_T::n_filt + f) * CONFIG_T::n_chan + c];
                        }
                        out[f] = acc;
                    }
                    res.write(out);
                }
            }
        }
    }
}

}  // namespace nnet

#endif
