# The ClevAgent server image: `clevagent serve`, `clevagent detect` and
# `clevagent grafana export` (see docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --system --uid 10001 --home-dir /app clevagent
WORKDIR /app

# .dockerignore leaves out what the server does not need (the SDKs, the runner, tests).
COPY . /app
RUN pip install /app && rm -rf /app/build \
    && mkdir /provisioning && chown clevagent /provisioning
# A new named volume mounted at /provisioning takes this owner, so the unprivileged
# `clevagent grafana export` can write Grafana's tree there.

USER clevagent
EXPOSE 8080
CMD ["clevagent", "serve", "--host", "0.0.0.0", "--port", "8080"]
