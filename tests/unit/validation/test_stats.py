import numpy as np
import pytest

from mpsomics.validation.stats import best_match_jaccard, bh, empirical_p, jaccard, random_sets


def test_empirical_p_counts_the_observation_once():
    assert empirical_p(1.0, np.zeros(19)) == pytest.approx(0.05)
    assert empirical_p(0.0, np.ones(19)) == 1.0
    assert empirical_p(0.5, [0.5, 0.4, 0.6, np.nan]) == pytest.approx(3 / 4)
    assert empirical_p(0.1, [0.5, 0.0], greater=False) == pytest.approx(2 / 3)
    assert np.isnan(empirical_p(np.nan, [0.1]))


def test_bh_matches_the_step_up_rule_and_keeps_nan():
    p = np.array([0.01, 0.04, 0.03, np.nan, 0.2])
    q = bh(p)
    # sorted finite p: 0.01, 0.03, 0.04, 0.2 (m = 4): q = min over k>=i of p_k m / k
    assert q[0] == pytest.approx(0.04)
    assert q[2] == pytest.approx(0.04 * 4 / 3)
    assert q[1] == pytest.approx(0.04 * 4 / 3)
    assert q[4] == pytest.approx(0.2)
    assert np.isnan(q[3])


def test_random_sets_are_size_matched_and_seeded():
    pool = [f"g{i}" for i in range(50)]
    a = random_sets(pool, 7, 5, np.random.default_rng(1))
    b = random_sets(pool, 7, 5, np.random.default_rng(1))
    assert a == b and all(len(set(s)) == 7 and set(s) <= set(pool) for s in a)
    with pytest.raises(ValueError):
        random_sets(pool, 51, 1, np.random.default_rng(0))


def test_jaccard_and_best_match():
    assert jaccard("abc", "bcd") == pytest.approx(0.5)
    assert best_match_jaccard("abc", ["xyz", "abd", "abc"]) == 1.0
    assert best_match_jaccard("abc", []) == 0.0
