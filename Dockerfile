# keysync container image: a static binary on an empty base with CA
# certificates, run as a non-root user. Build flags match `make build`.
#   docker build --build-arg VERSION=$(git describe --tags --always) -t keysync .
# As a daemon or sidecar (the default command), with the config mounted:
#   docker run -v /etc/keysync:/etc/keysync:ro keysync
# Once, from a pipeline:
#   docker run --rm -v /etc/keysync:/etc/keysync:ro keysync --config /etc/keysync/config.toml --run-now

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/keysync ./cmd/keysync

FROM scratch
# TLS roots for Azure Resource Manager, Entra ID and Vault.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/keysync /usr/local/bin/keysync
ENV PATH=/usr/local/bin
USER 65532:65532
# In a pod, listen on all addresses so the kubelet's probes reach
# /healthz and /readyz: set listen = "0.0.0.0:9464" in the config.
EXPOSE 9464
ENTRYPOINT ["keysync"]
CMD ["--config", "/etc/keysync/config.toml"]
