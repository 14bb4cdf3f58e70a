"""Settings from the environment or `.env`; a bad value stops the program with one clear line."""

from __future__ import annotations

import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.terminal import terminal_locale
from locales import available

TIME_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
LOCALES = available()  # the languages locales/ has, as for terminal_locale

# Settings whose expected form is described in locales/*/cli.toml (cli.expects.<NAME>).
DESCRIBED = (
    "BOT_TOKEN", "DATABASE_URL", "REDIS_URL", "TELEGRAM_API_URL", "WEBHOOK_URL", "WEBHOOK_SECRET",
    "WEBHOOK_PORT", "DEFAULT_LOCALE", "STATE_TTL_DAYS", "MAX_CONCURRENT_UPDATES", "BROADCAST_RATE",
)


def expects(name: str) -> str:
    from locales import t  # noqa: PLC0415

    msg = f"cli.expects.{name}" if name in DESCRIBED else "cli.expects.other"
    return t(terminal_locale(), msg, locales=", ".join(LOCALES))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: str = ""
    bot_username: str = ""
    database_url: str = ""
    redis_url: str = ""
    redis_prefix: str = "hb"
    telegram_api_url: str = "https://api.telegram.org"
    webhook_url: str = ""
    webhook_secret: str = ""
    webhook_host: str = "0.0.0.0"
    webhook_port: int = 8080
    data_dir: Path = Path("var")
    default_locale: str = "vi"
    state_ttl_days: int = 14
    max_concurrent_updates: int = 256
    broadcast_rate: float = 25.0
    health_station_phone: str = "028 3899 0000"
    health_station_name: str = "Trạm Y tế Phường 27"
    log_level: str = "INFO"
    web_host: str = "127.0.0.1"  # the staff console (healthbot web)
    web_port: int = 8081
    web_public_url: str = ""  # the console's address as staff open it; empty: http://WEB_HOST:WEB_PORT

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

    @field_validator("telegram_api_url", "webhook_url", "web_public_url")
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

    @property
    def state_ttl_seconds(self) -> int:
        return self.state_ttl_days * 86400

    @property
    def web_url(self) -> str:
        return self.web_public_url or f"http://{self.web_host}:{self.web_port}"

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
