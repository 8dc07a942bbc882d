"""World handling against world size: held-out pair selection and corpus generation, time per animal count.

usage: python -m bench.bench_world [--animals 2000,4000,8000,30000] [--sentences 20000]

The worlds are made up (animal names from letters, five foods each) and stay under the 2 MB file limit. Linear code
shows a constant time per animal down the last column; the quadratic selection this replaced doubled it each row.
"""

from __future__ import annotations

import argparse
import string
import time

from llmcore.world.load import generate_corpus, world_from_dict


def letters(i: int) -> str:
    """The i-th lower-case name: a, b, ..., z, aa, ab, ..."""
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = string.ascii_lowercase[r] + out
    return out


def big_world(n_animals: int, n_foods: int = 200, sentences: int = 1000) -> dict:
    """A valid world with n_animals animals, each eating five foods, and a 20% held-out share."""
    animals = [f"x{letters(i)}" for i in range(n_animals)]
    foods = [f"f{letters(i)}" for i in range(n_foods)]
    return {"taxonomy": {"animals": {"all": animals}, "food": {"all": foods}, "locations": {"all": ["home", "park"]}},
            "animals": {a: {"kind": "an animal", "habitats": ["home"], "diet": [foods[(i * 7 + k) % n_foods]
                                                                                 for k in range(5)]}
                        for i, a in enumerate(animals)},
            "corpus": {"sentences": sentences, "eat_verbs": ["eats"], "held_out_fraction": 0.2,
                       "mix": {"eat_event": 1, "habitat_fact": 1}}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--animals", default="2000,4000,8000,30000")
    p.add_argument("--sentences", type=int, default=20_000)
    args = p.parse_args()
    print(f"{'animals':>8} {'held-out pairs':>15} {'selection s':>12} {'corpus s':>9} {'µs per animal':>14}")
    for n in (int(x) for x in args.animals.split(",")):
        world = world_from_dict(big_world(n, sentences=args.sentences))
        t0 = time.perf_counter()
        held = world.held_out_pairs()
        t1 = time.perf_counter()
        generate_corpus(world, 0)
        t2 = time.perf_counter()
        print(f"{n:>8} {len(held):>15,} {t1 - t0:>12.3f} {t2 - t1:>9.2f} {1e6 * (t1 - t0) / n:>14.1f}")


if __name__ == "__main__":
    main()
