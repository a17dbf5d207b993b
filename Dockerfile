# keysync container image: a static binary on an empty base, run as a
# non-root user. Build: docker build -t keysync .
# Run as a sidecar or a one-shot job, with the config mounted read-only:
#   docker run --rm -v /etc/keysync:/etc/keysync:ro keysync --run-now

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/keysync ./cmd/keysync

FROM scratch
# TLS roots for Azure Resource Manager and Vault.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/keysync /keysync
USER 65532:65532
ENTRYPOINT ["/keysync"]
CMD ["--config", "/etc/keysync/config.toml", "--run-now"]
