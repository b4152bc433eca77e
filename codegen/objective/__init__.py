"""Training against hardware cost: the estimator's figures as differentiable functions of bitwidths.

retype (graph at other integer widths) <- design_cost (resources of one design, interpolated between
integer widths) <- hardware (the cost term and the fit hinge `qgen train` adds to the loss).
"""
