# keysync container image: a static binary on an empty base with CA
# certificates, run as a non-root user. Build flags match `make build`.
#   docker build --build-arg VERSION=$(git describe --tags --always) -t keysync .
# As a daemon or sidecar (the default command), with the config mounted:
#   docker run -v /etc/keysync:/etc/keysync:ro keysync
# Once, from a pipeline:
#   docker run --rm -v /etc/keysync:/etc/keysync:ro keysync --config /etc/keysync/config.toml --run-now
#
# CI builds the final stage (everything after the last FROM scratch) from
# this file with podman and runs it with runc (deploy/image): it runs the
# build stage's go build command on the host and turns each
# COPY --from=build into a COPY from its own context. So keep one go build
# RUN writing to /out/, and each COPY --from=build on one line with one
# absolute source.

# golang:1.26, pinned by digest so a rebuild uses the same toolchain image.
FROM golang:1.26@sha256:3c3e25a4da13fd0478eed2df1eb35a0e667094a7124d3993a6a1d30f71c17e79 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/keysync ./cmd/keysync

FROM scratch
ARG VERSION=dev
LABEL org.opencontainers.image.title="keysync" \
      org.opencontainers.image.description="Keeps Azure account keys (ARM listKeys) in HashiCorp Vault KV" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# TLS roots for Azure Resource Manager, Entra ID and Vault.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# Time zones come inside the binary (time/tzdata): CRON_TZ= schedules work
# although this image has no /usr/share/zoneinfo.
COPY --from=build /out/keysync /usr/local/bin/keysync
ENV PATH=/usr/local/bin
USER 65532:65532
# In a pod, listen on all addresses so the kubelet's probes reach
# /healthz and /readyz: set listen = "0.0.0.0:10719" in the config.
EXPOSE 10719
ENTRYPOINT ["keysync"]
CMD ["--config", "/etc/keysync/config.toml"]
