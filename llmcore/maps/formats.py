"""Formats other tools speak: the TensorFlow Embedding Projector's files (vectors.tsv, metadata.tsv and a
projector config), and pandas DataFrames of traces for notebook users."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import numpy as np
import pandas as pd

from llmcore.analysis.trace import GenerationTrace
from llmcore.maps.store import ReferenceSet

MAX_PROJECTOR_BYTES = 50 * 2**20
MAX_ROWS, MAX_DIMS = 60_000, 2048


class FormatError(ValueError):
    """A file in a foreign format that cannot be used; the message names the file and the rule."""


def projector_files(ref: ReferenceSet, name: str = "llm-landscape") -> dict[str, bytes]:
    """vectors.tsv, metadata.tsv (header row, one column per label) and projector_config.json for a reference set."""
    vectors = "\n".join("\t".join(f"{v:.6g}" for v in row) for row in ref.X).encode()
    cols = list(ref.labels)
    buf = io.StringIO()
    w = csv.writer(buf, delimiter="\t", lineterminator="\n")
    w.writerow(cols)
    w.writerows(zip(*(ref.labels[c] for c in cols)))
    config = {"embeddings": [{"tensorName": name, "tensorShape": list(ref.X.shape), "tensorPath": "vectors.tsv",
                              "metadataPath": "metadata.tsv"}]}
    return {"vectors.tsv": vectors, "metadata.tsv": buf.getvalue().encode(),
            "projector_config.json": json.dumps(config, indent=1).encode()}


def zip_files(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return out.getvalue()


def read_projector_files(vectors: bytes, metadata: bytes | None = None) -> ReferenceSet:
    """A reference set from Embedding Projector files; metadata.tsv has a header row when it has 2+ columns."""
    if not vectors or len(vectors) > MAX_PROJECTOR_BYTES:
        raise FormatError(f"vectors.tsv: must hold 1 to {MAX_PROJECTOR_BYTES:,} bytes")
    try:
        rows = [line.split("\t") for line in vectors.decode("utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError:
        raise FormatError("vectors.tsv: not UTF-8 text") from None
    dims = {len(r) for r in rows}
    if len(rows) < 5 or len(rows) > MAX_ROWS or len(dims) != 1 or max(dims) > MAX_DIMS:
        raise FormatError(f"vectors.tsv: need 5 to {MAX_ROWS:,} rows of the same length (at most {MAX_DIMS} "
                          f"numbers); got {len(rows):,} rows of lengths {sorted(dims)[:5]}")
    try:
        X = np.array(rows, dtype=np.float32)
    except ValueError:
        raise FormatError("vectors.tsv: every field must be a number") from None
    if not np.isfinite(X).all():
        raise FormatError("vectors.tsv: contains NaN or infinite values")
    return ReferenceSet("uploaded", X, _metadata(metadata, len(X)))


def _metadata(metadata: bytes | None, n: int) -> dict[str, np.ndarray]:
    if metadata is None:
        return {"word": np.array([str(i) for i in range(n)], object), "context": np.array(["points"] * n, object)}
    if len(metadata) > MAX_PROJECTOR_BYTES:
        raise FormatError(f"metadata.tsv: larger than {MAX_PROJECTOR_BYTES:,} bytes")
    try:
        rows = [r for r in csv.reader(io.StringIO(metadata.decode("utf-8")), delimiter="\t") if r]
    except (UnicodeDecodeError, csv.Error) as e:
        raise FormatError(f"metadata.tsv: cannot be read ({e})") from None
    header = rows[0] if len(rows) == n + 1 else None
    body = rows[1:] if header else rows
    if len(body) != n:
        raise FormatError(f"metadata.tsv: {len(body)} rows for {n} vectors")
    names = header or ["label"]
    cols = {h: np.array([r[i] if i < len(r) else "" for r in body], object) for i, h in enumerate(names)}
    first = cols[names[0]]
    return {**cols, "word": first, "context": cols[names[1]] if len(names) > 1 else first}


def trace_steps_frame(trace: GenerationTrace) -> pd.DataFrame:
    """One row per generated word: the word, its probability, the dominant sub-context of the step that chose it
    and the probability of each sub-context."""
    g = slice(trace.boundary, None)  # the word steps whose next word was generated
    df = pd.DataFrame({"step": np.arange(1, trace.n_steps + 1), "word": trace.generated_words,
                       "p": trace.next_probs[g], "dominant_context": [trace.next_context(i)
                                                                      for i in range(trace.boundary, len(trace))]})
    for j, c in enumerate(trace.context_names):
        df[f"p_{c}"] = trace.context_probs[g, j]
    return df


def trace_lens_frame(trace: GenerationTrace) -> pd.DataFrame:
    """Long frame of the logit lens at each generated word's step: step, layer, rank, word, probability."""
    ids, probs = trace.lens_top_ids[trace.boundary:], trace.lens_top_probs[trace.boundary:]
    S, L, K = ids.shape
    s, d, k = np.meshgrid(np.arange(S), np.arange(L), np.arange(K), indexing="ij")
    return pd.DataFrame({"step": s.ravel() + 1, "layer": np.array(trace.layer_names)[d.ravel()],
                         "rank": k.ravel() + 1, "word": np.array(trace.vocab)[ids.ravel()], "p": probs.ravel()})
