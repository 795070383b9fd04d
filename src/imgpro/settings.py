"""Every setting, in one place (IMGPRO_* environment variables or a .env file)."""

from __future__ import annotations

import ipaddress
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from imgpro import tokens
from imgpro.units import GB, KB, MB

# a shorter key signs sessions and links with too little secret to resist guessing offline
MIN_SECRET_KEY_LENGTH = 32


class Settings(BaseSettings):
    """imgpro's settings; `imgpro settings` prints this table."""

    model_config = SettingsConfigDict(env_prefix="IMGPRO_", env_file=".env", extra="ignore")

    env: Literal["development", "production", "test"] = Field(
        "development",
        description=(
            "`production` refuses console mail, local billing, a generated or short (< 32) "
            "secret and a web URL that is not https."
        ),
    )
    data_dir: Path = Field(
        Path("./data"),
        description="SQLite file, blobs and generated secret of the embedded default.",
    )
    database_url: str = Field(
        "",
        description="SQLAlchemy URL; default SQLite in the data dir, or postgresql+asyncpg://...",
    )
    storage_url: str = Field(
        "",
        description="Blob store; default file://<data dir>/blobs, or "
        "s3://BUCKET[/PREFIX]?endpoint_url=URL&region=REGION (credentials: AWS_* variables).",
    )
    cache_dir: Path | None = Field(
        None, description="This node's cache of blobs from S3; default <data dir>/cache."
    )
    cache_bytes: int = Field(
        2 * GB, description="Budget of the node's blob cache; least recently used go first."
    )
    metrics_token: str = Field(
        "", description="Bearer token for GET /metrics (Prometheus); unset = no /metrics."
    )
    redis_url: str = Field(
        "", description="Redis for rate limits and locks across processes; unset = in process."
    )
    mail_url: str = Field("console://", description="console:// or smtp://host:port.")
    mail_from: str = Field("imgpro <no-reply@localhost>", description="Sender of sign-in mails.")
    web_url: str = Field("http://127.0.0.1:8000", description="Public base of the web surface.")
    api_url: str = Field("http://127.0.0.1:8000", description="Public base of the api surface.")
    cdn_url: str = Field("http://127.0.0.1:8000/src", description="Public base of the cdn surface.")
    billing_provider: Literal["local", "stripe"] = Field("local", description="local or stripe.")
    stripe_secret_key: str = Field("", description="Stripe secret key.")
    stripe_webhook_secret: str = Field("", description="Stripe webhook signing secret.")
    stripe_api_base: str = Field("", description="Stripe API base; only for tests against a fake.")
    plans_file: Path | None = Field(
        None, description="JSON or TOML plan catalogue replacing the defaults (decisions.md §3)."
    )
    secret_key: str = Field("", description="Signs sessions and links; generated once if unset.")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description=(
            "Proxy addresses or networks (CIDR) whose X-Forwarded-For is believed, read from "
            "the right (e.g. a load balancer)."
        ),
    )
    import_allow_networks: list[str] = Field(
        default_factory=list,
        description="Networks URL import may reach although not public (operators, tests).",
    )
    max_header_bytes: int = Field(
        64 * KB, description="Largest request header section; beyond, 431 and the socket closes."
    )
    header_timeout: float = Field(
        10.0, description="Seconds a connection may take to finish its headers; then it is closed."
    )
    import_timeout_seconds: float = Field(
        30.0, description="Longest URL import fetch; a source slower than this answers 504."
    )
    anonymous_uploads_per_hour: int = Field(20, description="Anonymous uploads per IP per hour.")
    anonymous_uploads_per_day: int = Field(100, description="Anonymous uploads per IP per day.")
    credential_requests_per_minute: int = Field(
        600, description="Requests per minute per API key or app secret."
    )
    max_upload_bytes: int = Field(70 * MB, description="Largest upload with a key/app.")
    max_anonymous_upload_bytes: int = Field(20 * MB, description="Largest anonymous upload.")
    max_svg_bytes: int = Field(10 * MB, description="Largest SVG upload.")
    max_source_pixels: int = Field(100_000_000, description="Largest source image, in pixels.")
    max_output_pixels: int = Field(
        40_000_000, description="Largest CDN variant, in pixels (frames counted); 8192 a side."
    )
    render_workers: int = Field(
        0, description="Renders at once (render processes) per server process; 0 = CPU count."
    )
    render_queue: int = Field(
        64, description="Renders that may wait for a worker per process; beyond, 503 at once."
    )
    render_wait_seconds: float = Field(
        5.0, description="Longest wait for a render worker before answering 503 (Retry-After)."
    )
    render_time_budget: float = Field(
        20.0,
        description="Longest single render, in seconds (422 media_failed, nothing stored); a "
        "render process still running a second later is killed.",
    )
    render_process_max_bytes: int = Field(
        128 * MB,
        description="A render process still holding more than this after giving back what it "
        "freed is replaced by a fresh one, started beside it (no render waits); 0 = never.",
    )
    renders_per_minute: int = Field(
        120,
        description="CDN cache misses (renders) per client address per minute; beyond, 429.",
    )
    variant_max_per_image: int = Field(
        50,
        description="Stored variants per image; past it, the least recently used are deleted "
        "(down to 90 % on a file:// store, the cap itself below 10).",
    )
    variant_cache_bytes: int = Field(
        10 * GB,
        description="Stored variants per blob store, in bytes; the least recently used beyond "
        "are deleted (down to 90 %). Deleted variants are rendered again on demand.",
    )

    webhook_delivery: bool = Field(
        True, description="Whether this process sends webhooks to apps (any number of nodes may)."
    )
    webhook_timeout_seconds: float = Field(10.0, description="Longest wait for a webhook answer.")
    webhook_retry_seconds: list[float] = Field(
        default_factory=lambda: [5.0, 30.0, 120.0, 600.0, 3600.0, 21600.0],
        description="Waits before each webhook retry; after the last one it is marked failed.",
    )
    webhook_poll_seconds: float = Field(
        1.0, description="How often a node looks for due webhooks it was not woken for."
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _parse_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            ipaddress.ip_network(entry, strict=False)  # a typo fails the start, not every request
        return value

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        self.data_dir = self.data_dir.expanduser().resolve()
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / 'imgpro.db'}"
        if not self.storage_url:
            self.storage_url = f"file://{self.data_dir / 'blobs'}"
        for name in ("web_url", "api_url", "cdn_url"):
            setattr(self, name, getattr(self, name).rstrip("/"))
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @cached_property
    def signing_key(self) -> str:
        """The configured secret, or one generated once into the data dir."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(tokens.url_token(48))
            path.chmod(0o600)
        return path.read_text().strip()

    def production_problems(self) -> list[str]:
        """Why this configuration must not run in production (empty when it may)."""
        problems = []
        if self.mail_url.startswith("console"):
            problems.append("IMGPRO_MAIL_URL is console://; set smtp://host:port")
        if self.billing_provider == "local":
            problems.append("IMGPRO_BILLING_PROVIDER is local; set stripe")
        elif not (self.stripe_secret_key and self.stripe_webhook_secret):
            problems.append("set IMGPRO_STRIPE_SECRET_KEY and IMGPRO_STRIPE_WEBHOOK_SECRET")
        if not self.secret_key:
            problems.append("IMGPRO_SECRET_KEY is unset; set a long random value")
        elif len(self.secret_key) < MIN_SECRET_KEY_LENGTH:
            problems.append(
                f"IMGPRO_SECRET_KEY has {len(self.secret_key)} characters; set a random value "
                f"of at least {MIN_SECRET_KEY_LENGTH}"
            )
        if not self.web_url.startswith("https://"):
            # the session and CSRF cookies are marked Secure only on an https web URL
            problems.append("IMGPRO_WEB_URL is not https://; serve the web surface over https")
        return problems
