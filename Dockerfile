# One image recipe, two flavours: the web/worker image has no TensorFlow
# (docker build .), the trainer image adds it (--build-arg EXTRAS=train).
FROM python:3.11-slim

ARG EXTRAS=""
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY pyproject.toml ./
COPY shared ./shared
COPY web ./web
COPY worker ./worker
RUN pip install ".${EXTRAS:+[$EXTRAS]}" flower
COPY models ./models
COPY Procfile ./

RUN useradd --create-home digits
USER digits
EXPOSE 8000
CMD ["gunicorn", "--config", "python:web.gunicorn_conf", "web:create_app()"]
