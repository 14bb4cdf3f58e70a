FROM python:3.11-slim
# uv pinned: the same resolver as the lock file was made with
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
# UV_CACHE_DIR: `uv run` needs a cache folder even with --no-sync; /tmp works for any user,
# including a uid without a home (`docker run --user 12345`).
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy PYTHONUNBUFFERED=1 UV_CACHE_DIR=/tmp/uv-cache
# Dependencies first: this layer is reused while only our code changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY bot bot
COPY dialogs dialogs
COPY storage storage
COPY locales locales
RUN uv sync --locked --no-dev && rm -rf /tmp/uv-cache
RUN useradd --system --uid 10001 --create-home --home-dir /home/healthbot healthbot
USER healthbot
EXPOSE 8080
# Polling and webhook mode alike: `healthbot health` asks the webhook server's /healthz when
# WEBHOOK_URL is set, else checks PostgreSQL and Redis itself.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["uv", "run", "--no-sync", "healthbot", "health"]
CMD ["uv", "run", "--no-sync", "healthbot", "run"]
