"""How often the exported Hugging Face and SentencePiece tokenizers give our ids.

Every line of the corpus sample (``--split lines`` documents of ``../shared/corpus/sample``)
is encoded by us and by the exported tokenizer; lines that differ are classified as exact
ties (the same probability: the same pieces in another order), near-ties (SentencePiece's
float32 sums on very long lines), or characters without a piece of their own
(SentencePiece's unknown-character score).

    python benchmarks/export_agreement.py
"""

from __future__ import annotations

import argparse
import unicodedata
from pathlib import Path
from tempfile import TemporaryDirectory

from bytepiece import Tokenizer
from bytepiece.io.corpus import iter_documents
from _common import SHARED

MODELS = [
    SHARED / "models" / "bytepiece.zh.id.eu.80k.zip",
    SHARED / "models" / "bytepiece_80k.zip",
    SHARED / "golden" / "trained" / "ref-sample-mc4.model.32000",
    SHARED / "golden" / "trained" / "ref-sample-mc4.model.8000",
]


def classify(tok: Tokenizer, text: str, ours: list, theirs: list) -> str:
    if max(theirs) < tok.vocab_size:
        gap = abs(tok.score(text, theirs) - tok.score(text, ours))
        if gap < 1e-9:
            return "tie"
        if gap < 1e-2 and len(text) > 5000:
            return "near-tie"
    pieces = tok.model.piece_to_id
    if any(len(c.encode()) > 1 and c.encode() not in pieces for c in text):
        return "unknown-char"
    return "other"


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # no options: --help
    import sentencepiece as spm
    import tokenizers

    texts = [unicodedata.normalize("NFC", d) for d in iter_documents(SHARED / "corpus" / "sample", split="lines")]
    print("Command: `python benchmarks/export_agreement.py`; texts: every line of the corpus sample, NFC\n")
    print("| model | exporter | same ids | of the others |")
    print("|---|---|---:|---|")
    with TemporaryDirectory() as tmp:
        for path in MODELS:
            tok = Tokenizer(path)
            ours = [tok.encode(t) for t in texts]
            hf = tokenizers.Tokenizer.from_file(str(tok.to_huggingface(Path(tmp) / "t.json")))
            results = {"HF": [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]}
            try:
                sp = spm.SentencePieceProcessor(model_file=str(tok.to_sentencepiece(Path(tmp) / "t.model")))
                results["SP"] = sp.encode(texts)
            except ValueError:
                print(f"| {path.name} | SP | refused (pieces not valid UTF-8) | |")
            for exporter, ids in results.items():
                kinds: dict = {}
                for i, got in enumerate(ids):
                    if got != ours[i]:
                        kind = classify(tok, texts[i], ours[i], got)
                        kinds[kind] = kinds.get(kind, 0) + 1
                same = len(texts) - sum(kinds.values())
                detail = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
                print(f"| {path.name} | {exporter} | {same}/{len(texts)} ({100 * same / len(texts):.2f}%) | {detail} |", flush=True)


if __name__ == "__main__":
    main()
