"""Progress lines in the Dagster log for long steps, at most one every few seconds."""

import time
from collections.abc import Callable

import dagster as dg

PROGRESS_EVERY_SECONDS = 15.0


def throttled_progress(
    context: dg.AssetExecutionContext, unit: str, with_loss: bool = False
) -> Callable[..., None]:
    """Return a callback `(done, total[, loss])` that logs progress, rate and time left.

    It logs at most every PROGRESS_EVERY_SECONDS, and always at the end.
    """
    started = time.perf_counter()
    last_logged = started

    def log_progress(done: int, total: int, loss: float | None = None) -> None:
        nonlocal last_logged
        now = time.perf_counter()
        if done < total and now - last_logged < PROGRESS_EVERY_SECONDS:
            return
        last_logged = now
        rate = done / max(now - started, 1e-9)
        remaining = (total - done) / rate if rate > 0 else float("nan")
        loss_text = f", loss {loss:.4f}" if with_loss and loss is not None else ""
        context.log.info(
            f"{unit} {done}/{total} ({100 * done / total:.0f}%){loss_text}, "
            f"{rate:.2f}/s, about {remaining:.0f} s left"
        )

    return log_progress
