# syntax=docker/dockerfile:1
#
# Images of the two Socketfleet binaries: static (CGO_ENABLED=0), on a
# distroless base, running as the non-root UID/GID 65532 with nothing to
# write (the runtime works on a read-only root filesystem).
#
#   docker build --target runtime  -t socketfleet-runtime  .   # default target
#   docker build --target operator -t socketfleet-operator .
#
# Build arguments:
#   GO_VERSION   Go toolchain image tag of the build stage (default 1.26; go.mod needs >= 1.26)
#   BASE_IMAGE   final base image; it must provide UID 65532 (default gcr.io/distroless/static-debian12:nonroot)
#   LDFLAGS      extra -ldflags for both binaries (default "-s -w": no symbol tables)
#   TARGETOS, TARGETARCH   set by `docker buildx build --platform ...`; default: the builder's platform
#
# The runtime listens on 3000 (Socket.IO, publish API) and 8081 (admin:
# /healthz /readyz /metrics /stats POST /drain POST /shed); configure it with
# SOCKETFLEET_* variables or SOCKETFLEET_CONFIG (see socketfleet-runtime --help).
# The operator serves metrics on :8080 and probes on :8081.

ARG GO_VERSION=1.26
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
ARG TARGETOS
ARG TARGETARCH
ARG LDFLAGS="-s -w"
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false -ldflags="${LDFLAGS}" -o /out/socketfleet-runtime ./cmd/runtime && \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false -ldflags="${LDFLAGS}" -o /out/socketfleet-operator ./cmd/operator

FROM ${BASE_IMAGE} AS operator
COPY --from=build /out/socketfleet-operator /usr/local/bin/socketfleet-operator
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/socketfleet-operator"]

FROM ${BASE_IMAGE} AS runtime
COPY --from=build /out/socketfleet-runtime /usr/local/bin/socketfleet-runtime
USER 65532:65532
EXPOSE 3000 8081
ENTRYPOINT ["/usr/local/bin/socketfleet-runtime"]
