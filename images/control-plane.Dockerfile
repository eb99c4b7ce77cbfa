# syntax=docker/dockerfile:1
# forescale control plane: controller, admin API, prescaler, simulator and CLI. No torch.
# Build from the repository root with `make images`
# (docker build -f images/control-plane.Dockerfile -t ghcr.io/forescale/forescale:0.1.0 .).
#
# tests/deploy/test_images.py parses the RUN steps below and runs them in a fresh
# virtualenv, then starts the entry point: keep each RUN one plain command.
# The base is pinned by tag; pin it by digest too where your registry allows
# (BASE=python:3.11.13-slim-bookworm@sha256:...), the tag stays for readers.
ARG BASE=python:3.11.13-slim-bookworm
# The build stage compiles the decision core with mypyc (hatch_build.py): the full image of
# the same Python has gcc and the headers; the .so files need neither at run time.
ARG BUILD_BASE=python:3.11.13-bookworm

FROM ${BUILD_BASE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md constraints.txt hatch_build.py ./
COPY scripts/build_core.py ./scripts/
COPY forescale ./forescale
RUN python -m venv /opt/forescale
# every version from constraints.txt: the image runs what `make test` tested; the wheel
# built here carries the compiled core (forescale.core.COMPILED is True in the image)
RUN /opt/forescale/bin/pip install --no-cache-dir -c constraints.txt .

FROM ${BASE}
RUN useradd --system --uid 65532 --user-group --no-create-home --shell /usr/sbin/nologin forescale
COPY --from=build /opt/forescale /opt/forescale
ENV PATH=/opt/forescale/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER 65532:65532
# router 8080, admin API 8081, prescaler 8083, controller metrics 9464 (see deploy/kubernetes/base)
EXPOSE 8080 8081 8083 9464
ENTRYPOINT ["forescale"]
CMD ["controller"]
