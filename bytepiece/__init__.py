"""bytepiece: a pure-Python, byte-based Unigram tokenizer.

This module is the public API; everything else is an implementation detail.

>>> from bytepiece import Tokenizer
>>> tok = Tokenizer("model.bpm")          # doctest: +SKIP
>>> tok.decode(tok.encode("hello"))       # doctest: +SKIP
'hello'
"""

from .healing import Healing, PrefixIndex
from .lattice import Segmentation
from .model_file import Model, ModelFormatError, load_model, save_model
from .streaming import StreamDecoder, decode_stream
from .tokenizer import Tokenizer
from .trainer import Trainer

__all__ = [
    "Tokenizer",
    "Trainer",
    "Model",
    "ModelFormatError",
    "load_model",
    "save_model",
    "Segmentation",
    "StreamDecoder",
    "decode_stream",
    "Healing",
    "PrefixIndex",
]
__version__ = "0.1.0"
