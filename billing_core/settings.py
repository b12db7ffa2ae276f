"""The one settings object: read once from the environment (prefix WATTDESK_) and an optional
.env file, validated, then passed in. Nothing else reads os.environ."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from billing_core.policies import DEFAULT_POLICY_DIR, DEFAULT_TARIFF_DIR

DEFAULT_DATA_DIR = Path("var")
# Development without Twilio credentials: the SMS webhook checks signatures against this
# published token (the simulator signs with it). Refused in production.
DEMO_TWILIO_AUTH_TOKEN = "demo-auth-token-not-secret"
MIN_TELEGRAM_SECRET_LENGTH = 32
# `wattdesk demo` runs the bot offline with these (published, so refused in production): the
# simulator's Telegram page posts updates to the webhook, and messages to Telegram chats go to
# the offline transport as SMS do without Twilio.
DEMO_TELEGRAM_BOT_TOKEN = "0:demo-telegram-bot-offline"
DEMO_TELEGRAM_WEBHOOK_SECRET = "demo-telegram-webhook-secret-not-secret"
DEMO_TELEGRAM_API_BASE = "http://127.0.0.1:9"  # nothing listens: no call leaves the machine
TWILIO_VARIABLES = ("twilio_account_sid", "twilio_auth_token")
# The secret key signs e-receipt links and staff sessions: whoever knows it can forge them.
# The development default is published here, so production refuses it, any other value the
# repository publishes as a demo value, and any key too short to resist guessing.
DEVELOPMENT_SECRET_KEY = "dev-only-insecure-secret-change-me"
KNOWN_DEVELOPMENT_SECRETS = frozenset({DEVELOPMENT_SECRET_KEY, DEMO_TWILIO_AUTH_TOKEN})
MIN_SECRET_KEY_LENGTH = 32


class Environment(StrEnum):
    development = "development"
    production = "production"


class LogFormat(StrEnum):
    text = "text"
    json = "json"


class SettingsError(Exception):
    """Start-up stops with this: each line names a WATTDESK_ variable and what is wrong."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="WATTDESK_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    env: Environment = Environment.development
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; empty means the embedded SQLite file under data_dir.",
    )
    public_base_url: str = "http://127.0.0.1:8000"
    timezone: str = "Asia/Shanghai"
    currency: str = "CNY"
    default_locale: str = "zh-CN"
    phone_region: str = Field(default="CN", description="Default region for phone numbers.")
    holiday_country: str = Field(default="CN", description="Holiday calendar (holidays package).")
    log_format: LogFormat = LogFormat.text
    log_level: str = "INFO"
    # On a SQLite file, where a web process runs its webhooks' writes (SQLite takes one
    # writer at a time): in a child process of its own, on another core, or in a thread,
    # which shares the web process's core.
    sqlite_writer: Literal["process", "thread"] = Field(
        default="process",
        description="SQLite file: webhook writes in a child process (another core) or a thread.",
    )
    policy_dir: Path = Field(default=DEFAULT_POLICY_DIR, description="Policy YAML files.")
    tariff_dir: Path = Field(default=DEFAULT_TARIFF_DIR, description="Tariff YAML files.")
    secret_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_SECRET_KEY),
        description=(
            f"Signs receipts and staff sessions, derives pay links' tokens; production needs "
            f"{MIN_SECRET_KEY_LENGTH}+ random characters."
        ),
    )
    # Payments: the provider behind the pay links. The sandbox is wattdesk's own test checkout
    # (the embedded default); it takes no money and is refused in production.
    payment_provider: Literal["sandbox", "stripe"] = "sandbox"
    stripe_api_key: SecretStr = SecretStr("")
    stripe_webhook_secret: SecretStr = SecretStr("")
    stripe_api_base: str = Field(
        default="https://api.stripe.com",
        description="Stripe's API base URL; tests point it at a fake server on loopback.",
    )
    # Outbound messages: the outbox dispatcher and the scheduler (docs/domain.md §3).
    sms_rate_per_second: float = Field(
        default=10.0, gt=0, description="SMS sent per second, per sender number or service."
    )
    dispatcher_batch: int = Field(default=100, ge=1, le=10_000)
    dispatcher_interval_seconds: float = Field(default=1.0, gt=0)
    scheduler_enabled: bool = True
    # SMS: Twilio. Without credentials (development only) replies and notices go to the
    # offline transport and the webhook checks signatures with DEMO_TWILIO_AUTH_TOKEN.
    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr = SecretStr("")
    twilio_from: str = Field(default="", description="The sending number (E.164).")
    twilio_messaging_service_sid: str = Field(
        default="", description="A Messaging Service to send from, instead of twilio_from."
    )
    twilio_api_base: str = Field(
        default="https://api.twilio.com",
        description="Twilio's API base URL; tests point it at a fake server on loopback.",
    )

    # Telegram (aiogram). Without a bot token the bot is off: no webhook route answers, no
    # transport is built, and messages for Telegram contacts go by the next verified channel.
    telegram_bot_token: SecretStr = SecretStr("")
    telegram_webhook_secret: SecretStr = Field(
        default=SecretStr(""),
        description="X-Telegram-Bot-Api-Secret-Token expected on every webhook update.",
    )
    telegram_api_base: str = Field(
        default="https://api.telegram.org",
        description="The Bot API server; a local Bot API server or a fake on loopback in tests.",
    )
    telegram_mode: Literal["webhook", "polling"] = Field(
        default="webhook", description="How updates arrive: Telegram's webhook or long polling."
    )
    telegram_rate_per_second: float = Field(
        default=30.0,
        gt=0,
        description="Telegram messages sent per second by the bot (Telegram allows about 30).",
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. Asia/Shanghai)") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _valid_database_url(cls, value: str) -> str:
        if not value:
            return value
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL: {exc}") from exc
        if url.get_backend_name() not in {"sqlite", "postgresql"}:
            raise ValueError(
                f"unsupported database {url.get_backend_name()!r}: use sqlite or postgresql"
            )
        return value

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        if len(value) != 3 or not value.isalpha():
            raise ValueError("must be an ISO 4217 code such as CNY or USD")
        return value.upper()

    @field_validator("default_locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        try:
            Locale.parse(value, sep="-")
        except (UnknownLocaleError, ValueError) as exc:
            raise ValueError(f"unknown locale {value!r} (e.g. zh-CN, en)") from exc
        return value

    @field_validator("public_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("twilio_api_base", "telegram_api_base")
    @classmethod
    def _http_base(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        problems = self.startup_problems() + self.twilio_problems()
        if problems:
            raise ValueError("\n  ".join(problems))
        return self

    def startup_problems(self) -> list[str]:
        """Why the service must not start with these settings (none: it may). The model
        validator and `create_app` both ask, so a copied Settings cannot skip it."""
        return (
            self.payment_provider_problems() + self.secret_key_problems() + self.telegram_problems()
        )

    def telegram_problems(self) -> list[str]:
        """Production's Telegram webhook needs a secret only Telegram and we know: without one
        anyone could post updates in a customer's name (the webhook refuses every update
        then, in any environment)."""
        if self.env != Environment.production or not self.telegram_enabled:
            return []
        if self.telegram_bot_token.get_secret_value() == DEMO_TELEGRAM_BOT_TOKEN:
            return ["WATTDESK_TELEGRAM_BOT_TOKEN: the demo's offline bot is refused in production"]
        if self.telegram_mode != "webhook":
            return ["WATTDESK_TELEGRAM_MODE: polling is for development; use webhook"]
        secret = self.telegram_webhook_secret.get_secret_value()
        if len(secret) < MIN_TELEGRAM_SECRET_LENGTH:
            return [
                f"WATTDESK_TELEGRAM_WEBHOOK_SECRET: at least {MIN_TELEGRAM_SECRET_LENGTH} "
                "characters (A-Z, a-z, 0-9, _ and -) when the bot token is set"
            ]
        return []

    def secret_key_problems(self) -> list[str]:
        """Production refuses a missing, short or published secret key."""
        if self.env != Environment.production:
            return []
        key = self.secret_key.get_secret_value()
        fix = (
            f"set WATTDESK_SECRET_KEY to at least {MIN_SECRET_KEY_LENGTH} random characters "
            '(e.g. python -c "import secrets; print(secrets.token_urlsafe(48))")'
        )
        if not key:
            return [f"WATTDESK_SECRET_KEY: required in production; {fix}"]
        if key in KNOWN_DEVELOPMENT_SECRETS:
            return [f"WATTDESK_SECRET_KEY: the published development value; {fix}"]
        if len(key) < MIN_SECRET_KEY_LENGTH:
            return [f"WATTDESK_SECRET_KEY: too short ({len(key)} characters); {fix}"]
        return []

    def production_problems(self) -> list[str]:
        """Every setting unsafe in production, whatever WATTDESK_ENV says now (for
        `wattdesk config check`): what start-up refuses there, and an http:// public address,
        through which pay links, receipts and webhooks would travel in clear."""
        production = self.model_copy(update={"env": Environment.production})
        problems = production.startup_problems() + production.twilio_problems()
        if self.public_base_url.startswith("http://"):
            problems.append(
                "WATTDESK_PUBLIC_BASE_URL: http:// sends pay links, receipts and webhooks in "
                "clear; use the https:// address customers and providers reach"
            )
        return problems

    def twilio_problems(self) -> list[str]:
        """Why SMS cannot run with these settings (none: it can). Production sends and
        receives real SMS, so it needs real credentials and a sender; the demo token is
        refused there."""
        if self.env != Environment.production:
            return []
        problems = [
            f"WATTDESK_{name.upper()}: required in production (SMS goes through Twilio)"
            for name in TWILIO_VARIABLES
            if not _value(getattr(self, name))
        ]
        if not self.twilio_from and not self.twilio_messaging_service_sid:
            problems.append(
                "WATTDESK_TWILIO_FROM or WATTDESK_TWILIO_MESSAGING_SERVICE_SID: one is "
                "required in production (who SMS are sent from)"
            )
        if self.twilio_auth_token.get_secret_value() == DEMO_TWILIO_AUTH_TOKEN:
            problems.append(
                "WATTDESK_TWILIO_AUTH_TOKEN: the published demo token is refused in production"
            )
        return problems

    @property
    def telegram_offline(self) -> bool:
        """The demo's bot: updates are handled, messages go to the offline transport."""
        return self.telegram_bot_token.get_secret_value() == DEMO_TELEGRAM_BOT_TOKEN

    def with_offline_telegram(self) -> Settings:
        """These settings with the demo's offline bot when no bot is configured (the demo)."""
        if self.telegram_enabled:
            return self
        return self.model_copy(update={
            "telegram_bot_token": SecretStr(DEMO_TELEGRAM_BOT_TOKEN),
            "telegram_webhook_secret": SecretStr(DEMO_TELEGRAM_WEBHOOK_SECRET),
            "telegram_api_base": DEMO_TELEGRAM_API_BASE, "telegram_mode": "webhook",
        })  # fmt: skip

    @property
    def telegram_enabled(self) -> bool:
        """A bot token is set: the Telegram webhook, transport and commands are on."""
        return bool(self.telegram_bot_token.get_secret_value())

    @property
    def twilio_configured(self) -> bool:
        """Real Twilio credentials and a sender: SMS go through Twilio, not offline."""
        return bool(
            self.twilio_account_sid
            and self.twilio_auth_token.get_secret_value()
            and (self.twilio_from or self.twilio_messaging_service_sid)
        )

    def payment_provider_problems(self) -> list[str]:
        """Why the payment provider cannot start with these settings (none: it can)."""
        problems = []
        if self.payment_provider == "sandbox" and self.env == Environment.production:
            problems.append(
                "WATTDESK_PAYMENT_PROVIDER: the sandbox takes no real money; "
                "set WATTDESK_PAYMENT_PROVIDER=stripe"
            )
        if self.payment_provider == "stripe":
            for name in ("stripe_api_key", "stripe_webhook_secret"):
                if not getattr(self, name).get_secret_value():
                    problems.append(
                        f"WATTDESK_{name.upper()}: required when WATTDESK_PAYMENT_PROVIDER=stripe"
                    )
        return problems

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'wattdesk.sqlite3').as_posix()}"

    def secret_values(self) -> list[str]:
        """Every configured secret, for log masking. Database passwords included."""
        values = [
            getattr(self, name).get_secret_value()
            for name in type(self).model_fields
            if isinstance(getattr(self, name), SecretStr)
        ]
        password = make_url(self.effective_database_url).password
        if password:
            values.append(str(password))
        return [v for v in values if v]

    def masked(self) -> dict[str, Any]:
        """The effective settings for display: secrets and URL passwords masked."""
        shown: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                shown[name] = "********" if value.get_secret_value() else ""
            elif name == "database_url":
                url = self.effective_database_url
                shown[name] = make_url(url).render_as_string(hide_password=True)
            else:
                shown[name] = str(value) if not isinstance(value, str | int | bool) else value
        return shown


def _value(value: str | SecretStr) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def load_settings(**overrides: Any) -> Settings:
    """Build the settings or raise SettingsError naming each bad WATTDESK_ variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            # A rule across fields (a model validator) has no field: its message names them.
            lines.append(f"WATTDESK_{field.upper()}: {message}" if field else message)
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None
