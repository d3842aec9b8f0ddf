"""The BG/NBD model against Fader, Hardie and Lee (2005): their CDNOW parameters and the worked
example of Hardie's spreadsheet, and a fit that recovers the parameters its data was drawn from."""

from __future__ import annotations

import numpy as np
import pytest

from connector.analytics.bgnbd import BetaGeo, fit, log_likelihood, simulate

# The paper's estimates on the CDNOW sample (2,357 customers, 39 weeks): r, alpha, a, b.
CDNOW = BetaGeo(r=0.243, alpha=4.414, a=0.793, b=2.426)


def test_the_papers_worked_example_expects_1_226_orders_in_the_next_39_weeks():
    # a customer with 2 repeat purchases, the last at week 30.43, observed for 38.86 weeks
    assert CDNOW.expected(39, x=2, t_x=30.43, T=38.86) == pytest.approx(1.226, abs=0.0005)


def test_a_customer_without_repeat_orders_is_alive_and_a_long_silence_makes_death_likely():
    assert CDNOW.p_alive(0, 0, 38.86) == 1.0
    recent = CDNOW.p_alive(2, 38.0, 38.86)
    silent = CDNOW.p_alive(2, 2.0, 38.86)
    assert recent == pytest.approx(
        0.805, abs=0.001
    )  # 1 / (1 + a/(b+1) ((alpha+T)/(alpha+t_x))^(r+2))
    assert silent < 0.1


def test_a_fit_recovers_the_parameters_its_customers_were_drawn_from():
    x, t_x, big_t = simulate(CDNOW, customers=4000, weeks=39, seed=7)

    found = fit(x, t_x, big_t)

    assert found.r == pytest.approx(CDNOW.r, rel=0.15)
    assert found.alpha == pytest.approx(CDNOW.alpha, rel=0.2)
    # the maximum of the likelihood is at least as high as at the true parameters
    truth = log_likelihood((CDNOW.r, CDNOW.alpha, CDNOW.a, CDNOW.b), x, t_x, big_t)
    assert found.log_likelihood >= truth - 1e-6
    # and it predicts the worked example's customer within a tenth of an order
    assert found.expected(39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=0.1)


def test_weighted_rows_fit_as_the_rows_they_stand_for():
    x, t_x, big_t = simulate(CDNOW, customers=800, weeks=39, seed=3)
    x, t_x = x, np.round(t_x)
    rows, counts = np.unique(np.stack([x, t_x, big_t], axis=1), axis=0, return_counts=True)

    each = fit(x, t_x, big_t)
    grouped = fit(rows[:, 0], rows[:, 1], rows[:, 2], counts)

    assert grouped.r == pytest.approx(each.r, rel=1e-3)
    assert grouped.b == pytest.approx(each.b, rel=1e-2)
