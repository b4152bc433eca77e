"""Timing of the generated dataflow design: kernel schedules, a cycle-level model with bounded
FIFOs (`simulate`), and FIFO sizing from that model (`sizing`)."""
