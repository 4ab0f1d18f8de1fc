"""Free-text clustering at K=100: one embedding pass (src/alice_w2s/stages/cluster.py)
against the reference script's algorithm, which re-embeds the remaining responses
and the reference response at every greedy step
(W2SG_pipeline/ours/new_weak_to_strong_cluster.py, `clustering`). Same embedder
(the bundled all-MiniLM-L6-v2), same threshold, same responses, in one run:

    .venv/bin/python benchmarks/cluster_embed_once.py [--questions 8] [--k 100]

Prints the time of each (the floor and ours: best of 3 alternating passes), the reference over ours (speedup), ours over the
embed-once floor (encoding every response once and nothing else), and whether
both give the same clusters (members, sizes, representatives, final answer).
The responses are made here: per question, a few phrasings of a few candidate
answers plus one-off noise, in the shape of a trivia teacher's samples.
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np
import pandas as pd

ANSWERS = [
    ("Paris", "Lyon", "Marseille"), ("Danube", "Rhine", "Elbe"), ("Jupiter", "Saturn", "Neptune"),
    ("Mozart", "Haydn", "Beethoven"), ("Everest", "K2", "Kangchenjunga"), ("Tokyo", "Osaka", "Kyoto"),
    ("oxygen", "nitrogen", "argon"), ("1969", "1972", "1968"), ("Shakespeare", "Marlowe", "Jonson"),
    ("Amazon", "Nile", "Yangtze"), ("Canberra", "Sydney", "Melbourne"), ("Picasso", "Braque", "Matisse"),
]
PHRASINGS = [
    "Answer: {a}",
    "The answer is {a}.",
    "I think it is {a}.\nAnswer: {a}",
    "{a}",
    "It must be {a}, as far as I remember.\nAnswer: {a}",
]
NOISE = ["I am not sure about this one.", "Answer: none of the above", "Let me think... no idea.", "Answer: unknown"]


def make_samples(n_questions: int, k: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = random.Random(seed)
    questions, rows = [], []
    for q in range(n_questions):
        answers = ANSWERS[q % len(ANSWERS)]
        qid = f"q{q}"
        questions.append({"id": qid, "question": f"Trivia question {q} about {answers[0]}?"})
        weights = [0.6, 0.25, 0.1, 0.05]
        for i in range(k):
            pick = rng.choices(range(4), weights)[0]
            if pick == 3:
                text = rng.choice(NOISE) + f" ({rng.randint(0, 10**6)})"
            else:
                text = rng.choice(PHRASINGS).format(a=answers[pick])
            rows.append({"id": qid, "sample_idx": i, "response": text, "extracted": None})
    return pd.DataFrame(rows), pd.DataFrame(questions)


def reference_clusters(embedder, responses: list[str], threshold: float, instruction: str) -> list[tuple[int, int]]:
    """The reference's greedy loop: embed the remaining responses and the reference
    response at each step; keep (representative index, size) of non-singletons."""
    remaining = list(range(len(responses)))
    kept = []
    while remaining:
        target = remaining[0]
        vectors = embedder.encode([responses[i] for i in remaining], instruction)
        target_vector = embedder.encode([responses[target]], instruction)
        similar = (vectors @ target_vector.T)[:, 0] > threshold  # unit vectors: cosine
        similar[0] = True  # the reference response is always in its own cluster
        if similar.sum() > 1:
            kept.append((target, int(similar.sum())))
        remaining = [i for i, s in zip(remaining, similar, strict=True) if not s]
    return kept


def main() -> None:
    from alice_w2s.backends.embedding import Embedder
    from alice_w2s.stages.cluster import cluster_samples

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--repeats", type=int, default=3, help="passes of the floor and of ours (best is kept)")
    args = parser.parse_args()

    samples, questions = make_samples(args.questions, args.k)
    embedder = Embedder()
    embedder.encode(["warm-up"] * 8)  # first-call costs out of every timing
    texts = samples["response"].tolist()

    # The two cheap ones alternate, best of --repeats each: on a shared machine a
    # single pass of either can be slowed by whatever else runs.
    floors, ours_times = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        embedder.encode(texts)
        floors.append(time.perf_counter() - start)
        start = time.perf_counter()
        ours = cluster_samples(samples, questions, "text", threshold=args.threshold, embedder=embedder)
        ours_times.append(time.perf_counter() - start)
    floor, ours_s = min(floors), min(ours_times)

    start = time.perf_counter()
    reference = {
        qid: reference_clusters(embedder, group.sort_values("sample_idx")["response"].tolist(), args.threshold, "")
        for qid, group in samples.groupby("id", sort=False)
    }
    reference_s = time.perf_counter() - start

    # Same clusters: per question, each kept cluster's (representative, size), ranked
    # by size as ours are (stable: the earliest wins ties), so the final answer too.
    ours_by_q = {
        qid: list(zip(g["representative_idx"], g["size"], strict=True))
        for qid, g in ours.sort_values(["id", "cluster_idx"]).groupby("id", sort=False)
    }
    ranked = {qid: sorted(c, key=lambda rc: -rc[1]) for qid, c in reference.items() if c}
    identical = {q: [tuple(map(int, rc)) for rc in v] for q, v in ours_by_q.items()} == ranked
    steps = sum(len(c) for c in reference.values())
    n = len(texts)
    print(f"{args.questions} questions x K={args.k} = {n} responses, threshold {args.threshold}, all-MiniLM-L6-v2")
    print(f"{'method':50s} {'seconds':>8s}")
    print(f"{'embed once, nothing else (floor), best of ' + str(args.repeats):50s} {floor:8.2f}")
    print(f"{'ours: embed once + similarity matrix, best of ' + str(args.repeats):50s} {ours_s:8.2f}")
    print(f"{'reference: re-embed remaining at every step':50s} {reference_s:8.2f}")
    print(f"speedup, reference / ours: {reference_s / ours_s:.1f}x")
    print(f"ours / embed-once floor: {ours_s / floor:.2f}x (goal <= 1.2x)")
    print(f"clusters kept: {steps} over {len(ranked)} questions; identical clusters: {identical}")
    mean = np.mean([len(c) for c in reference.values()])
    print(f"mean kept clusters per question: {mean:.1f}")


if __name__ == "__main__":
    main()
