"""`wattdesk demo` (prepare the embedded default and serve it) and `wattdesk serve`."""

from __future__ import annotations

from datetime import timedelta

import typer
import uvicorn
from rich.table import Table

from api.app import create_app
from api.cli.common import clock, console, engine, fail, settings, unit_of_work
from billing_core.bills.backfill import post_missing_charges
from billing_core.bills.model import ReviewThresholds
from billing_core.bills.policy import load_review_policy
from billing_core.bills.run import run_bills
from billing_core.db import migrate
from billing_core.payments.pages import create_pay_link_for_number
from billing_core.payments.policy import load_payments_policy, payment_context
from billing_core.seed.demo import LI_NA, ensure_demo_customers
from billing_core.seed.service import seed_is_needed, seed_population
from billing_core.settings import Environment, Settings
from billing_core.staff.demo import DEMO_STAFF, ensure_demo_staff
from billing_core.tariffs.catalog import TariffCatalog

DEMO_CUSTOMERS = 300
DEMO_MONTHS = 14
DEMO_SEED = 2026


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
    app.command("serve")(serve)


def demo(
    prepare_only: bool = typer.Option(
        False, "--prepare-only", help="Migrate and seed, but do not serve."
    ),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
) -> None:
    """Migrate the database, seed demo data if it is empty, then serve. Idempotent."""
    if settings().env == Environment.production:
        fail("`wattdesk demo` seeds demo data and published passwords; it is refused in production")
    pay_url = prepare_demo()
    print_welcome(host, port, pay_url=pay_url)
    if not prepare_only:
        # The bot runs offline unless one is configured: the simulator plays a Telegram user.
        _serve(host, port, settings().with_offline_telegram())


def serve(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
) -> None:
    """Serve an already prepared database (run `wattdesk db upgrade` first)."""
    if not migrate.is_current(engine()):
        fail(
            f"the database is at revision {migrate.current_revision(engine()) or 'none'}, "
            f"not {migrate.head_revision(engine())}: run `wattdesk db upgrade` first"
        )
    _serve(host, port)


def prepare_demo() -> str:
    """Migrate, seed an empty database, create the demo staff, bill the last month's reading
    days so the demo customers have issued bills, and post those bills' charges. Every step
    is idempotent. Returns a fresh pay link for 李娜 (an earlier one stops working)."""
    config = settings()
    migrate.upgrade(engine())
    with unit_of_work() as session:
        if seed_is_needed(session):
            console.print(f"seeding {DEMO_CUSTOMERS} demo customers, {DEMO_MONTHS} months …")
            report = seed_population(
                session=session,
                customers=DEMO_CUSTOMERS,
                months=DEMO_MONTHS,
                seed=DEMO_SEED,
                until=None,
                clock=clock(),
                timezone=config.timezone,
            )
            console.print(f"seeded in {report.elapsed_seconds:.1f} s")
        ensure_demo_customers(session=session, clock=clock(), timezone=config.timezone)
        ensure_demo_staff(session=session, clock=clock(), settings=config)
    bill_last_cycle()
    context = payment_context(config, load_payments_policy(config.policy_dir))
    with unit_of_work() as session:
        # Until the bill run posts its own charges, bills it issued have none in the ledger.
        posted = post_missing_charges(session=session, clock=clock(), tz=config.tz)
        if posted:
            console.print(f"posted {posted} bill charges to the ledger")
        _, pay_url = create_pay_link_for_number(
            session=session, clock=clock(), context=context, account_number=LI_NA.account_number
        )
    return pay_url


def bill_last_cycle() -> None:
    """A bill run for each of the last 31 days' readings (a no-op for days already billed)."""
    config = settings()
    tariffs = TariffCatalog.load(config.tariff_dir)
    thresholds = ReviewThresholds.from_policy(load_review_policy(config.policy_dir))
    today = clock().now().astimezone(config.tz).date()
    issued = in_review = 0
    for back in range(31, -1, -1):
        summary = run_bills(
            engine=engine(),
            clock=clock(),
            run_date=today - timedelta(days=back),
            tz=config.tz,
            tariffs=tariffs,
            thresholds=thresholds,
        )
        issued += summary.issued
        in_review += summary.in_review
    if issued or in_review:
        console.print(f"billed the last cycle: {issued} bills issued, {in_review} held in review")


def print_welcome(host: str, port: int, *, pay_url: str | None = None) -> None:
    base = f"http://{host}:{port}"
    console.print(f"\n[bold green]wattdesk is ready[/] — open [link={base}/]{base}/[/link]")
    console.print(f"  API docs: {base}/docs    health: {base}/healthz    ready: {base}/readyz")
    if pay_url:
        console.print(f"  Pay {LI_NA.name}'s bill (sandbox, test mode): ", end="")
        console.print(pay_url, soft_wrap=True, markup=False, highlight=False)
        if not pay_url.startswith(f"{base}/"):
            console.print(
                f"  (links use WATTDESK_PUBLIC_BASE_URL; set it to {base} to open them here)",
                style="dim", markup=False,
            )  # fmt: skip
    table = Table("username", "role", "demo password", title="demo staff (development only)")
    for staff in DEMO_STAFF:
        table.add_row(staff.username, staff.role.value, staff.password)
    console.print(table)


def _serve(host: str, port: int, config: Settings | None = None) -> None:
    from api.cli.dispatch_cmd import build_scheduler

    config = config or settings()
    # The timed jobs and the outbox dispatcher run beside the server, started and stopped
    # with the app (WATTDESK_SCHEDULER_ENABLED=false for a web worker at scale, with
    # `wattdesk dispatch` elsewhere).
    jobs = [build_scheduler(config, engine(), clock())] if config.scheduler_enabled else []
    app = create_app(config, engine=engine(), clock=clock(), background=jobs)
    uvicorn.run(app, host=host, port=port, log_config=None)
