"""Statistics on judged responses: rates with intervals, paired tuned-vs-base tests."""

from safedrift.stats.estimates import (PairedEffect, Rate, agresti_min_interval, paired_effect,
                                       sign_flip_test, wilson_rate)

__all__ = ["PairedEffect", "Rate", "agresti_min_interval", "paired_effect", "sign_flip_test",
           "wilson_rate"]
