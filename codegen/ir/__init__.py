"""The integer intermediate representation: types (types.py), tensors (tensor.py), the graph
(graph.py), lowering from Brevitas (frontend.py), exact BatchNorm folding (fold.py) and the
reference-vs-model agreement check (agreement.py). Op types live in codegen.ops."""
