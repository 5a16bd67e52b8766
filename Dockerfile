# One recipe, two images (README, "Deploy"; docs/deploy.md):
#   --target light   -> digits:latest          web, predict worker, Flower; no TensorFlow
#   --target trainer -> digits-trainer:latest  the same plus TensorFlow, for the trainer
# Without a registry (this project's CI): --build-arg BASE=localhost/python:3.11-slim.
ARG BASE=python:3.12-slim

FROM ${BASE} AS runtime
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONPATH=/app
# tini is PID 1: it hands SIGTERM to the process (a PID 1 without handlers ignores it,
# as Flower did) and reaps children. The user "digits" runs everything.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/* \
    && useradd --create-home --uid 10001 digits
WORKDIR /app
# Dependencies before the code, from pyproject.toml at the versions constraints.txt pins.
# Trimmed in the same layer: the packages' own test suites, and Babel's locales other
# than the site's two languages (about 85 MB together).
COPY pyproject.toml constraints.txt scripts/pyproject_requirements.py ./
RUN python pyproject_requirements.py monitor > /tmp/light.txt \
    && pip install -c constraints.txt -r /tmp/light.txt \
    && rm /tmp/light.txt \
    && site=$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') \
    && find "$site" -depth -type d -name tests -exec rm -rf {} + \
    && find "$site/babel/locale-data" -type f ! -name 'en*' ! -name 'ru*' ! -name 'root.dat' -delete
ENTRYPOINT ["tini", "--"]
EXPOSE 8000

# TensorFlow's layer: built once, reused while pyproject.toml and constraints.txt hold.
FROM runtime AS trainer-packages
RUN python pyproject_requirements.py train > /tmp/train.txt \
    && pip install -c constraints.txt -r /tmp/train.txt \
    && rm /tmp/train.txt

FROM trainer-packages AS trainer
COPY Procfile ./
COPY models ./models
COPY shared ./shared
COPY worker ./worker
USER digits
CMD ["celery", "-A", "worker.trainer", "--quiet", "worker", "-Q", "train", "-n", "trainer@%h", "--concurrency", "1", "--without-gossip", "--without-mingle", "--without-heartbeat"]

# Last, so that a plain `docker build .` makes the light image.
FROM runtime AS light
COPY Procfile ./
COPY models ./models
COPY shared ./shared
COPY worker ./worker
COPY web ./web
USER digits
CMD ["gunicorn", "--config", "web/gunicorn_conf.py", "web:create_app()"]
