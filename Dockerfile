# queuectl worker image (Docker and podman).
#
# The wheels are a build input, so the build itself needs no package index:
#   pip wheel --wheel-dir wheels '.[postgres,metrics]'     # on a host with the same Python as BASE
#   docker build -t queuectl .
# With no registry to pull from, build BASE from Debian packages (README, "Containers").
#
# One container runs one `queuectl worker run` (pid 1 under --init / compose `init: true`). `docker
# stop` sends SIGTERM: the worker claims nothing more and exits 0 once its running job has finished,
# so give it a stop timeout longer than your longest job (compose: stop_grace_period).
ARG BASE=python:3.12-slim

FROM ${BASE} AS build
COPY wheels/ /wheels/
# (versions are pinned by the wheels in the build input)
# hadolint ignore=DL3013
RUN python3 -m venv /opt/queuectl \
    && /opt/queuectl/bin/pip install --no-cache-dir --no-index --find-links /wheels 'queuectl[postgres,metrics]'

FROM ${BASE}
COPY --from=build /opt/queuectl /opt/queuectl
RUN groupadd --gid 10001 queuectl \
    && useradd --uid 10001 --gid queuectl --home-dir /data --no-create-home --shell /usr/sbin/nologin queuectl \
    && mkdir -p /data \
    && chown queuectl:queuectl /data \
    && chmod 0700 /data
ENV PATH=/opt/queuectl/bin:$PATH \
    QUEUECTL_HOME=/data \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
WORKDIR /data
USER 10001:10001
STOPSIGNAL SIGTERM
# The store answers (store-wide: several worker containers share it). For "this many workers
# serve the queue" use `queuectl health --workers N` from your orchestrator.
HEALTHCHECK --interval=30s --timeout=10s --start-period=10s --retries=3 CMD ["queuectl", "health"]
ENTRYPOINT ["queuectl"]
CMD ["worker", "run"]
