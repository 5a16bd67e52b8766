# Stand-in for redis:7-alpine on a machine that reaches no container registry: Debian's
# redis-server on the local base (scripts/smoke_images.sh builds it).
ARG DEBIAN_BASE=localhost/debian-base:bookworm
FROM ${DEBIAN_BASE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/* \
    && mkdir -p /data && chown redis:redis /data
WORKDIR /data
USER redis
CMD ["redis-server", "--appendonly", "yes"]
