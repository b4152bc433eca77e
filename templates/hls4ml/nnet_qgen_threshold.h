// nnet_qgen_threshold.h — qgen's multi-threshold activation as an hls4ml layer (extension API).
//
// BatchNorm + ReLU + requantisation of a QuantU-Net layer, folded exactly into per-channel integer
// thresholds by qgen: the output code is the number of thresholds the accumulator reaches. The
// thresholds are in the accumulator's own fixed-point type, so the comparisons are exact; the code
// is written into the raw bits of the result type (value = code * 2^exponent of the result).
// io_stream: one pixel (an array of n_chan values) per stream transaction.
#ifndef NNET_QGEN_THRESHOLD_H_
#define NNET_QGEN_THRESHOLD_H_

#include "nnet_common.h"
#include "hls_stream.h"

namespace nnet {

struct qgen_threshold_config {
    static const unsigned n_pixels = 1;
    static const unsigned n_chan = 1;
    static const unsigned n_levels = 1;     // 2^out_bits - 1
    static const unsigned out_bits = 1;
    static const unsigned reuse_factor = 1;
    typedef ap_fixed<16, 6> threshold_t;
};

template <class data_T, class res_T, typename CONFIG_T>
void qgen_threshold(hls::stream<data_T> &data, hls::stream<res_T> &res,
                    const typename CONFIG_T::threshold_t thresholds[CONFIG_T::n_chan * CONFIG_T::n_levels]) {
PixelLoop:
    for (unsigned p = 0; p < CONFIG_T::n_pixels; p++) {
        #pragma HLS PIPELINE II=CONFIG_T::reuse_factor
        const data_T in = data.read();
        res_T out;
        PRAGMA_DATA_PACK(out)
    ChannelLoop:
        for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
            #pragma HLS UNROLL
            ap_uint<CONFIG_T::out_bits> code = 0;
        LevelLoop:
            for (unsigned k = 0; k < CONFIG_T::n_levels; k++) {
                #pragma HLS UNROLL
                code += (in[c] >= thresholds[c * CONFIG_T::n_levels + k]) ? 1 : 0;
            }
            out[c].range(CONFIG_T::out_bits - 1, 0) = code;
        }
        res.write(out);
    }
}

}  // namespace nnet

#endif
