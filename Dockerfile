# syntax=docker/dockerfile:1
#
# Helpdeck's image: one image for every role of the scale-out shape (docker-compose.yml):
#   helpdeck migrate | helpdeck api --host 0.0.0.0 --port 8000 | python worker.py | streamlit run …
# The entrypoint is the `helpdeck` CLI; services that run something else override it.
#
#   docker build -t helpdeck:local .
#   docker run --rm helpdeck:local --help

# ---- build: install the project and its dependencies into a virtualenv ----------------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# A compiler only for dependencies that have no wheel for the target platform (e.g. on arm64);
# it stays in this stage and never reaches the runtime image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# README.md* : the wheel's long description (pyproject `readme`); the glob keeps a checkout
# without it buildable.
COPY pyproject.toml README.md* ./
COPY worker.py ./
COPY helpdeck ./helpdeck
COPY api ./api
COPY workflows ./workflows
COPY activities ./activities
COPY ingestion ./ingestion
COPY dashboard ./dashboard

# Not editable: the runtime image gets the installed package, and /src only for the
# entry scripts run by path (`python worker.py`, `streamlit run dashboard/app.py`).
RUN pip install .

# ---- runtime --------------------------------------------------------------------------------
FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DO_NOT_TRACK=1 \
    HELPDECK_DATA_DIR=/home/helpdeck/data

RUN groupadd --system --gid 10001 helpdeck \
    && useradd --system --uid 10001 --gid helpdeck --create-home --home-dir /home/helpdeck helpdeck \
    && mkdir -p /home/helpdeck/data \
    && chown -R helpdeck:helpdeck /home/helpdeck

COPY --from=build /opt/venv /opt/venv
COPY --from=build /src /app
WORKDIR /app

USER helpdeck
EXPOSE 8000 8501

ENTRYPOINT ["helpdeck"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]
