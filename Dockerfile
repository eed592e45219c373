# syntax=docker/dockerfile:1
# payload-operator: the operator (`payload-operator run`) and, from the same image, its retention and
# integrity Jobs (`payload-operator retention|integrity ...`, set as the Job container's command).
#
#   docker build -t payload-operator:dev .          (or `make image`: scripts/build-image.sh, which also
#                                                   builds without a registry, on a base made by mmdebstrap)
#
# Runtime dependencies come from requirements.lock (hash-pinned; regenerate with scripts/lock-requirements.sh).
# The image runs as UID/GID 65532 with a read-only root filesystem: mount a writable /tmp (the chart does).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/payload-operator
COPY requirements.lock /tmp/requirements.lock
RUN /opt/payload-operator/bin/pip install --no-deps --require-hashes --only-binary=:all: -r /tmp/requirements.lock
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
# the project itself, without dependencies (all of them are in the lock); then byte-compile everything,
# because the root filesystem is read-only at runtime
# The runtime needs no installer: pip and setuptools leave the venv before it is copied.
RUN /opt/payload-operator/bin/pip install --no-deps --no-compile . \
 && /opt/payload-operator/bin/python -m pip uninstall -q -y pip setuptools \
 && rm -f /opt/payload-operator/bin/Activate.ps1 \
 && /opt/payload-operator/bin/python -m compileall -q -j 0 /opt/payload-operator \
 && /opt/payload-operator/bin/payload-operator --version

FROM ${PYTHON_IMAGE}
ARG UID=65532
LABEL org.opencontainers.image.title="payload-operator" \
      org.opencontainers.image.description="Kubernetes operator for Durable Workflow external payload storage" \
      org.opencontainers.image.source="https://github.com/durable-workflow/payload-operator" \
      org.opencontainers.image.licenses="Apache-2.0"
# Lean runtime: the base's installers (pip, setuptools, wheel, ensurepip's bundled wheels) are removed.
# A named, fixed non-root user: numeric USER lets the kubelet verify runAsNonRoot.
RUN rm -rf /usr/local/bin/pip* /usr/local/bin/wheel /usr/local/lib/python3*/ensurepip /usr/lib/python3*/ensurepip \
      /usr/local/lib/python3*/site-packages/pip* /usr/local/lib/python3*/site-packages/setuptools* \
      /usr/local/lib/python3*/site-packages/wheel* /usr/local/lib/python3*/site-packages/_distutils_hack \
      /usr/local/lib/python3*/site-packages/distutils-precedence.pth /usr/share/python-wheels \
 && groupadd --system --gid "${UID}" payload-operator \
 && useradd --system --uid "${UID}" --gid "${UID}" --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin payload-operator
COPY --from=build /opt/payload-operator /opt/payload-operator
ENV PATH=/opt/payload-operator/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp \
    HOME=/tmp
WORKDIR /tmp
USER 65532:65532
# 8080: Prometheus metrics; 8081: Kopf liveness (/healthz)
EXPOSE 8080 8081
ENTRYPOINT ["payload-operator"]
CMD ["run"]
