"""The hls4ml backend: the same integer graph built as an hls4ml model, bit-exact by construction."""
