"""Loss-curve plots (PNG) for the training stages."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def plot_curves(
    history: pd.DataFrame,
    columns: list[str],
    path: str | Path,
    title: str,
    log: bool = False,
    smooth: bool = False,
) -> None:
    """Plot ``columns`` of a loss history against its ``step`` column into a PNG.

    ``smooth`` draws a running mean over len/50 steps; ``log`` uses a log y axis.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    win = max(1, len(history) // 50) if smooth else 1
    fig, ax = plt.subplots(figsize=(7, 4))
    for col in columns:
        ax.plot(history["step"], history[col].rolling(win, min_periods=1).mean(), label=col, lw=1)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss" if win == 1 else f"loss (running mean over {win} steps)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
