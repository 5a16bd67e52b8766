# One image recipe, two flavours: the web/worker image has no TensorFlow
# (docker build .), the trainer image adds it (--build-arg EXTRAS=train).
FROM python:3.11-slim

ARG EXTRAS=""
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# Dependencies first, read from pyproject.toml alone, so a code change reuses this layer
# (TensorFlow is the slow part of the trainer's build).
COPY pyproject.toml ./
RUN python -c 'import sys, tomllib; project = tomllib.load(open("pyproject.toml", "rb"))["project"]; extras = [e for e in sys.argv[1].split(",") if e]; print("\n".join(project["dependencies"] + [d for e in extras for d in project["optional-dependencies"][e]]))' "$EXTRAS" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt flower \
    && rm /tmp/requirements.txt

COPY shared ./shared
COPY web ./web
COPY worker ./worker
COPY models ./models
COPY Procfile pyproject.toml ./
RUN pip install --no-deps .

# Not root: Celery warns about it, and nothing here needs it.
RUN useradd --create-home digits
USER digits
EXPOSE 8000
CMD ["gunicorn", "--config", "web/gunicorn_conf.py", "web:create_app()"]
