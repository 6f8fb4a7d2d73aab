"""bytepiece: a pure-Python, byte-based Unigram tokenizer.

This module is the public API; everything else is an implementation detail. Importing it
loads the tokenizer only: ``Trainer`` (and with it the training modules) is imported on
first use.

>>> from bytepiece import Tokenizer
>>> tok = Tokenizer("model.bpm")          # doctest: +SKIP
>>> tok.decode(tok.encode("hello"))       # doctest: +SKIP
'hello'
"""

from typing import TYPE_CHECKING, Any

from .encoding.added_vocabulary import DisallowedSpecialTokenError
from .encoding.analysis import Segmentation
from .encoding.encode_corpus import encode_corpus
from .encoding.healing import Healing, PrefixIndex
from .encoding.random_streams import seeded_worker_init_fn, worker_init_fn
from .encoding.streaming import StreamDecoder, decode_stream
from .encoding.tokenizer import Tokenizer
from .io.model_file import load_model, save_model
from .io.token_file import TokenFile
from .errors import CorpusError, ModelFormatError, TokenFileError
from .model import Model

if TYPE_CHECKING:  # pragma: no cover
    from .training.trainer import Trainer

__all__ = [
    "Tokenizer",
    "DisallowedSpecialTokenError",
    "Trainer",
    "Model",
    "ModelFormatError",
    "CorpusError",
    "TokenFileError",
    "load_model",
    "save_model",
    "Segmentation",
    "StreamDecoder",
    "decode_stream",
    "Healing",
    "PrefixIndex",
    "TokenFile",
    "encode_corpus",
    "worker_init_fn",
    "seeded_worker_init_fn",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Training needs modules that inference never does: load them when asked for.
    if name == "Trainer":
        from .training.trainer import Trainer

        return Trainer
    raise AttributeError(f"module 'bytepiece' has no attribute {name!r}")
