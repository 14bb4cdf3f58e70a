"""Settings from the environment or `.env`; a bad value stops the program with one clear line."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.terminal import terminal_locale
from locales import available

TIME_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
PROJECT = Path(__file__).resolve().parent.parent  # the checkout (or the installed packages)


def data_home() -> Path:
    """Where DATA_DIR is, and what a relative DATA_DIR is relative to: the project folder in
    a checkout (`uv run` from anywhere finds the same embedded database), else the user's
    data folder. Never the current folder."""
    if (PROJECT / "pyproject.toml").is_file():
        return PROJECT
    base = os.environ.get("XDG_DATA_HOME") or str(Path(os.environ.get("HOME") or "/tmp") / ".local" / "share")
    return Path(base) / "healthbot"

LOCALES = available()  # the languages locales/ has, as for terminal_locale

# Settings whose expected form is described in locales/*/cli.toml (cli.expects.<NAME>).
DESCRIBED = (
    "BOT_TOKEN", "DATABASE_URL", "REDIS_URL", "TELEGRAM_API_URL", "WEBHOOK_URL", "WEBHOOK_SECRET",
    "WEBHOOK_PORT", "DEFAULT_LOCALE", "STATE_TTL_DAYS", "MAX_CONCURRENT_UPDATES", "BROADCAST_RATE",
    "ZALO_WEBHOOK_PATH", "ZALO_RATE",  # described in locales/*/zalo.toml
    "CODE_SECRET", "METRICS_NETWORKS", "IMPORT_MAX_REJECTED_PERCENT",
)


def expects(name: str) -> str:
    from locales import t  # noqa: PLC0415

    msg = f"cli.expects.{name}" if name in DESCRIBED else "cli.expects.other"
    return t(terminal_locale(), msg, locales=", ".join(LOCALES))


class Settings(BaseSettings):
    # the project's .env, then one in the current folder (which wins)
    model_config = SettingsConfigDict(env_file=(PROJECT / ".env", ".env"), env_file_encoding="utf-8",
                                      extra="ignore")

    bot_token: str = ""
    bot_username: str = ""
    database_url: str = ""
    redis_url: str = ""
    redis_prefix: str = "hb"
    telegram_api_url: str = "https://api.telegram.org"
    webhook_url: str = ""
    public_url: str = ""  # https://host where GET /c/<code> is served: cards then work for every messenger
    webhook_secret: str = ""
    webhook_host: str = "127.0.0.1"  # behind a reverse proxy on the same host; 0.0.0.0 to open it
    webhook_port: int = 8080
    data_dir: Path = Path("var")  # relative to data_home(): made absolute when loaded
    default_locale: str = "vi"
    state_ttl_days: int = 14
    max_concurrent_updates: int = 256
    broadcast_rate: float = 25.0
    health_station_phone: str = "028 3899 0000"
    health_station_name: str = "Trạm Y tế Phường 27"
    log_level: str = "INFO"
    # Keys the card codes at rest (storage/code_vault.py); required with DATABASE_URL.
    code_secret: str = ""
    # GET /metrics: a bearer token, and/or the networks allowed without one.
    metrics_token: str = ""
    metrics_networks: str = "127.0.0.0/8,::1/128"

    # Zalo Official Account (bot/channels/zalo/); Zalo is on when ZALO_APP_ID is set.
    zalo_app_id: str = ""
    zalo_app_secret: str = ""  # the app's secret key: OAuth requests (header secret_key)
    zalo_oa_secret: str = ""  # the OA's secret key: webhook signatures
    zalo_refresh_token: str = ""  # first refresh token; later ones rotate in Redis
    zalo_oa_id: str = ""  # for the chat link https://zalo.me/<oa_id> on cards
    zalo_api_url: str = "https://openapi.zalo.me"
    zalo_oauth_url: str = "https://oauth.zaloapp.com"
    zalo_zns_url: str = "https://business.openapi.zalo.me"
    zalo_webhook_path: str = "/zalo"
    zalo_zns_template_id: str = ""  # an approved ZNS template for reminders outside the window
    zalo_rate: float = 10.0  # messages per second for broadcasts on Zalo
    # `residents import` imports nothing when more than this share of the rows is rejected
    import_max_rejected_percent: float = 20.0
    web_host: str = "127.0.0.1"  # the staff console (healthbot web)
    web_port: int = 8081
    web_public_url: str = ""  # the console's address as staff open it; empty: see web_url
    web_console: bool = False  # the console also served by `healthbot run`'s web server

    @field_validator("bot_token")
    @classmethod
    def _token(cls, v: str) -> str:
        if v and (":" not in v or not v.split(":", 1)[0].isdigit()):
            raise ValueError("BOT_TOKEN")
        return v

    @field_validator("database_url")
    @classmethod
    def _db(cls, v: str) -> str:
        if v and not v.startswith(("postgresql://", "postgresql+asyncpg://", "postgres://")):
            raise ValueError("DATABASE_URL")
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, v: str) -> str:
        if v and not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("REDIS_URL")
        return v

    @field_validator("telegram_api_url", "webhook_url", "public_url", "zalo_api_url", "zalo_oauth_url", "zalo_zns_url",
                     "web_public_url")
    @classmethod
    def _http(cls, v: str) -> str:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("URL")
        return v.rstrip("/")

    @field_validator("webhook_secret")
    @classmethod
    def _secret(cls, v: str) -> str:
        if v and (len(v) > 256 or not all(c.isalnum() or c in "_-" for c in v)):
            raise ValueError("WEBHOOK_SECRET")
        return v

    @field_validator("zalo_webhook_path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/") or len(v) < 2:
            raise ValueError("ZALO_WEBHOOK_PATH")
        return v

    @field_validator("zalo_rate")
    @classmethod
    def _zalo_rate(cls, v: float) -> float:
        if not 0 < v <= 100:
            raise ValueError("ZALO_RATE")
        return v

    @field_validator("code_secret")
    @classmethod
    def _code_secret(cls, v: str) -> str:
        if v and len(v) < 32:
            raise ValueError("CODE_SECRET")
        return v

    @field_validator("metrics_networks")
    @classmethod
    def _networks(cls, v: str) -> str:
        import ipaddress  # noqa: PLC0415

        for part in filter(None, (p.strip() for p in v.split(","))):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError("METRICS_NETWORKS") from None
        return v

    @field_validator("webhook_port", "web_port")
    @classmethod
    def _port(cls, v: int) -> int:
        if not 1 <= v <= 65535:
            raise ValueError("WEBHOOK_PORT")
        return v

    @field_validator("default_locale")
    @classmethod
    def _locale(cls, v: str) -> str:
        if v not in LOCALES:
            raise ValueError("DEFAULT_LOCALE")
        return v

    @field_validator("state_ttl_days", "max_concurrent_updates")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError("positive")
        return v

    @field_validator("broadcast_rate")
    @classmethod
    def _rate(cls, v: float) -> float:
        if not 0 < v <= 30:
            raise ValueError("BROADCAST_RATE")
        return v

    @field_validator("data_dir")
    @classmethod
    def _data_dir(cls, v: Path) -> Path:
        return (data_home() / v.expanduser()).resolve()

    @field_validator("import_max_rejected_percent")
    @classmethod
    def _percent(cls, v: float) -> float:
        if not 0 <= v <= 100:
            raise ValueError("IMPORT_MAX_REJECTED_PERCENT")
        return v

    @property
    def zalo_enabled(self) -> bool:
        return bool(self.zalo_app_id)

    @property
    def secret_values(self) -> tuple[str, ...]:
        """Values that must never be printed or logged (bot.logs redacts them)."""
        return (self.bot_token, self.webhook_secret, self.code_secret, self.metrics_token,
                self.zalo_app_secret, self.zalo_oa_secret, self.zalo_refresh_token)

    @property
    def state_ttl_seconds(self) -> int:
        return self.state_ttl_days * 86400

    @property
    def web_url(self) -> str:
        """The console's address in sign-in links: WEB_PUBLIC_URL; with WEB_CONSOLE, the
        messenger server's (PUBLIC_URL, or WEBHOOK_HOST:WEBHOOK_PORT); else WEB_HOST:WEB_PORT."""
        if self.web_public_url:
            return self.web_public_url
        if self.web_console:
            return self.public_url or f"http://{self.webhook_host}:{self.webhook_port}"
        return f"http://{self.web_host}:{self.web_port}"

    @property
    def bot_api_base(self) -> str:
        """PTB's base_url: the token is appended to it."""
        return f"{self.telegram_api_url}/bot"

    @property
    def bot_file_base(self) -> str:
        return f"{self.telegram_api_url}/file/bot"


class ConfigError(SystemExit):
    """Exit code 2 with one line; raised instead of a traceback."""

    def __init__(self, msg: str, name: str):
        from locales import t  # noqa: PLC0415

        print(t(terminal_locale(), msg, name=name, expects=expects(name)), file=sys.stderr)
        super().__init__(2)


def load_settings(**overrides) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as e:
        err = e.errors()[0]
        name = str(err["loc"][0]).upper() if err["loc"] else "?"
        raise ConfigError("cli.config_invalid", name) from None


def require(settings: Settings, *names: str) -> None:
    """Stop with one clear line when a setting needed by this command is missing."""
    for name in names:
        if not getattr(settings, name.lower()):
            raise ConfigError("cli.config_missing", name)
