# Multi-stage build: a static odsync binary in a minimal image, run as non-root.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/odsync ./cmd/odsync

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/odsync /usr/local/bin/odsync
USER nonroot:nonroot
WORKDIR /var/lib/odsync
VOLUME ["/var/lib/odsync"]
EXPOSE 9300
# The image has no shell or curl: odsync checks its own /healthz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/odsync", "healthcheck", "--addr", "127.0.0.1:9300"]
ENTRYPOINT ["/usr/local/bin/odsync"]
CMD ["run", "-c", "/etc/odsync/odsync.yaml"]
