"""Export a bytepiece model to other tokenizer libraries (optional dependencies).

* ``huggingface.py``: a ``tokenizer.json`` for HF ``tokenizers`` / ``transformers``
  (extra ``hf``), exact for every model.
* ``sentencepiece.py``: a SentencePiece ``.model`` (extra ``sp``; the protobuf is written
  by hand, so only ``sentencepiece`` itself is needed to load it).
"""
