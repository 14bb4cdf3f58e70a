FROM python:3.11-slim
RUN pip install --no-cache-dir uv
WORKDIR /app
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy PYTHONUNBUFFERED=1
# Dependencies first: this layer is reused while only our code changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY bot bot
COPY dialogs dialogs
COPY storage storage
COPY locales locales
RUN uv sync --locked --no-dev
RUN useradd --system --uid 10001 healthbot
USER healthbot
EXPOSE 8080
CMD ["uv", "run", "--no-sync", "healthbot", "run"]
