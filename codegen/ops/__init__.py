"""The op types of the integer graph; importing this package registers all of them."""
from .activation import Thresholds
from .base import EPILOGUE, FANOUT, OPS, PROLOGUE, Op, register_op
from .concat import Concat
from .conv import Conv
from .conv_transpose import ConvTranspose2x2
from .mask import Mask
from .pool import MaxPool2x2
from .upsample import Upsample2x

__all__ = ["EPILOGUE", "FANOUT", "OPS", "PROLOGUE", "Op", "register_op", "Thresholds", "Concat", "Conv", "ConvTranspose2x2", "Mask",
           "MaxPool2x2", "Upsample2x"]
