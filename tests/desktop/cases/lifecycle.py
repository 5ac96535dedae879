"""Lifecycle editor e2e (issue #5, savings of a lifecycle plan) against moto.

  test_lifecycle_savings_moto  the editor's diff shows what the planned rule saves on the objects
                               under the prefix (`lifecycle_savings`), priced with the profile's
                               `prices` table; the figure equals the hand-computed one; without
                               a table the editor says which one is missing.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))  # the sibling case module `checkpoints`

import e2e  # noqa: E402
from checkpoints import PREFIX, keys_under, open_location, seed_run  # noqa: E402
from webdriver import Session  # noqa: E402

TABLE = os.path.join(e2e.ROOT, "crates", "trainctl-core", "data", "prices", "aws-us-east-1.toml")
GIB = 1 << 30
STANDARD_USD_PER_GIB_MONTH = 0.023


def set_profile_prices(ctx, profile, path):
    """Adds `prices = PATH` to the saved profile (the app reads it each time it prices)."""
    cfg = os.path.join(ctx["work"], "config", "trainctl", "config.toml")
    lines = open(cfg).read().splitlines()
    head = f"[profiles.{profile}]"
    i = lines.index(head)
    lines.insert(i + 1, f'prices = "{path}"')
    open(cfg, "w").write("\n".join(lines) + "\n")


def plan_expiry(s, days, after_days):
    s.click('[data-testid="tab-lifecycle"]', timeout=30)
    s.wait('[data-testid="lifecycle-expire-days"]', timeout=30)
    s.type('[data-testid="lifecycle-expire-days"]', str(days))
    s.click('[data-testid="lifecycle-plan"]')
    s.wait('[data-testid="lifecycle-savings"]', timeout=30, what="the savings under the diff")
    s.type('[data-testid="lifecycle-savings-days"]', str(after_days))
    s.wait('[data-testid="lifecycle-savings-headline"]', timeout=30, what="the savings figure")


def test_lifecycle_savings_moto(driver_url, ctx):
    s3 = ctx["s3"]
    seed_run(s3)
    stored = sum(keys_under(s3, PREFIX).values())
    s = Session(driver_url, e2e.APP)
    try:
        e2e.connect_profile(s, ctx["moto"])
        open_location(s, f"s3://{e2e.BUCKET}/{PREFIX}")
        # moto is no provider with a price table: the plan is shown, the savings say why not.
        plan_expiry(s, 30, 0)
        s.wait_until(lambda: "not estimated" in s.text('[data-testid="lifecycle-savings-headline"]'), "the missing-table sentence")
        assert "other/us-east-1" in s.text('[data-testid="lifecycle-savings-headline"]'), s.text('[data-testid="lifecycle-savings"]')
        assert s.attr('[data-testid="lifecycle-change"][data-change="added"]', "data-id") == "trainctl-ckpt-e2e"

        # With the profile's prices: expiring everything 31 days from now saves all of it (STANDARD).
        set_profile_prices(ctx, "lab", TABLE)
        s.click('[data-testid="lifecycle-plan"]')
        s.wait_until(lambda: s.attr('[data-testid="lifecycle-savings"]', "data-table") == "aws/us-east-1", "the priced savings", timeout=30)
        s.type('[data-testid="lifecycle-savings-days"]', "31")
        expected = stored / GIB * STANDARD_USD_PER_GIB_MONTH
        s.wait_until(lambda: abs(float(s.attr('[data-testid="lifecycle-savings"]', "data-monthly") or "0") - expected) < 1e-12,
                     f"monthly savings {expected}", timeout=30)
        text = s.text('[data-testid="lifecycle-savings"]')
        assert "in 31 days" in text and "Amazon S3" in text and "expire" in text, text
        s.js("document.querySelector('[data-testid=\"lifecycle-savings\"]').scrollIntoView({block: 'center'})")
        e2e.shot(s, "checkpoints-lifecycle-savings")
        ctx["asserts"].append(f"lifecycle editor savings: no table on moto → says other/us-east-1 is missing; with prices = aws-us-east-1 "
                              f"expiring {stored} B in 31 days saves {expected:.9f} $/month (= hand-computed)")
    finally:
        s.quit()
        e2e.wait_app_exit()
