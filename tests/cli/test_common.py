"""Pieces every CLI command shares (fwbench.cli.common)."""
def test_the_progress_bar_grows_by_the_cells_of_a_repeated_round():
    from fwbench.cli.common import BarProgress

    bar = BarProgress()
    bar.begin(3)
    bar.add(2)
    try:
        (task,) = bar.bar.tasks
        assert task.total == 5
    finally:
        bar.stop()
