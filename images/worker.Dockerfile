# syntax=docker/dockerfile:1
# forescale worker (data plane): the control plane plus torch and the engines
# (`forescale[worker]`). Build from the repository root with `make images`
# (docker build -f images/worker.Dockerfile -t ghcr.io/forescale/forescale-worker:0.1.0 .).
#
# tests/deploy/test_images.py parses the RUN steps below and runs them in a fresh
# virtualenv, then starts the entry point: keep each RUN one plain command.
# torch==2.13.0 comes from constraints.txt; from PyPI it is the CUDA build (the GPU
# driver comes from the node, the CUDA runtime from the nvidia-* wheels torch pulls in).
ARG BASE=python:3.11.13-slim-bookworm

FROM ${BASE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md constraints.txt hatch_build.py ./
COPY scripts/build_core.py ./scripts/
COPY forescale ./forescale
RUN python -m venv /opt/forescale
RUN /opt/forescale/bin/pip install --no-cache-dir -c constraints.txt ".[worker]"

FROM ${BASE}
RUN useradd --system --uid 65532 --user-group --no-create-home --shell /usr/sbin/nologin forescale
COPY --from=build /opt/forescale /opt/forescale
ENV PATH=/opt/forescale/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER 65532:65532
# worker metrics 9100 (see deploy/kubernetes/workers)
EXPOSE 9100
ENTRYPOINT ["forescale"]
CMD ["worker"]
