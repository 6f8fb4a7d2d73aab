"""bytepiece: a pure-Python, byte-based Unigram tokenizer.

This module is the public API; everything else is an implementation detail.

>>> from bytepiece import Tokenizer
>>> tok = Tokenizer("model.bpm")          # doctest: +SKIP
>>> tok.decode(tok.encode("hello"))       # doctest: +SKIP
'hello'
"""

from .model_file import Model, ModelFormatError, load_model, save_model
from .tokenizer import Tokenizer

__all__ = ["Tokenizer", "Model", "ModelFormatError", "load_model", "save_model"]
__version__ = "0.1.0"
