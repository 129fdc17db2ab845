import pytest

from bda_hpc.convergence import grid_convergence


@pytest.mark.parametrize("order,refinement", [(2.0, 2.0), (1.0, 2.0), (2.5, 3.0)])
def test_exact_power_law_gives_its_order_and_limit(order, refinement):
    h = [1.0 / refinement ** i for i in range(4)]
    g = grid_convergence([7.0 + 0.3 * x ** order for x in h], refinement)
    assert g["observed_order"] == pytest.approx([order] * 2, rel=1e-9)
    assert g["extrapolated"] == pytest.approx(7.0, rel=1e-12)
    assert g["change_to_next_grid"][0] == pytest.approx((0.3 * h[1] ** order - 0.3) / (7.0 + 0.3 * h[1] ** order))


def test_turning_or_growing_changes_give_no_order_and_no_extrapolation():
    turning = grid_convergence([1.0, 1.1, 1.05, 1.06])
    assert turning["observed_order"] == [None, None]
    assert "extrapolated" not in turning
    growing = grid_convergence([1.0, 1.01, 1.05])
    assert growing["observed_order"] == [None] and "extrapolated" not in growing
